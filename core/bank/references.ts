/**
 * References the gateway gives the bank, read again by the custodian service (node/custodian/): a
 * top-up's deposit names the top-up and the merchant to mint to, so the custodian, which learns of the
 * deposit from the bank alone, knows whom the deposit is for and checks that the account the bank
 * collected from is the one registered for that merchant on-chain.
 */
import { keccak256, toUtf8Bytes } from "ethers";

const DEPOSIT_REFERENCE = /^([A-Za-z0-9_.-]{1,80}):(0x[0-9a-f]{40})$/;

/** The bank reference of top-up `topupId`'s deposit, for `merchant`. */
export function depositReference(topupId: string, merchant: string): string {
  return `${topupId}:${merchant.toLowerCase()}`;
}

/** The top-up id and merchant a deposit reference names; undefined for any other reference. */
export function parseDepositReference(reference: string): { topupId: string; merchant: string } | undefined {
  const match = DEPOSIT_REFERENCE.exec(reference);
  return match?.[1] && match[2] ? { topupId: match[1], merchant: match[2] } : undefined;
}

/** The on-chain bankRef (bytes32) of a bank or gateway reference such as `bt_…` or `po_…`. */
export function chainBankRef(reference: string): string {
  return keccak256(toUtf8Bytes(reference));
}

/** The on-chain bankRef of the mint that reverses payout `payoutId` (the bank rejected it after the merchant redeemed). */
export function reversalBankRef(payoutId: string): string {
  return chainBankRef(`${payoutId}:reversal`);
}
