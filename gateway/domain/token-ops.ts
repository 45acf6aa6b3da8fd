/**
 * Token operations the gateway submits to the node: the custodian's `mint` (a confirmed bank deposit,
 * or the reversal of a rejected payout), and a merchant's `redeem` of its own balance (a payout, before
 * the bank pays) signed with the merchant's key, in the node's wire form (core/operations/mint.ts,
 * redeem.ts; `burn` only in payouts stored before redemptions). The operation id is the EIP-712
 * digest under the token's domain, so a stored operation resubmitted after a restart is the same
 * operation, and the token's unordered nonces let it execute at most once.
 */
import { randomBytes } from "node:crypto";

import { keccak256, toUtf8Bytes, type HDNodeWallet, type Wallet } from "ethers";

import type { TokenDeployment } from "../../core/protocol/deployment.js";
import { signTokenOperation, tokenOperationDigest, tokenOperationSchema, type TokenOperationInput } from "../../core/operations/index.js";

/** A mint or burn in its JSON wire form. */
export type TokenOperationWire = Extract<TokenOperationInput, { kind: "mint" | "burn" | "redeem" }>;

/** The on-chain bankRef (bytes32) of a gateway or bank reference such as `po_…` or `bt_…`. */
export function chainBankRef(reference: string): string {
  return keccak256(toUtf8Bytes(reference));
}

/** Signs a mint or burn with the custodian's key (fresh random nonce); returns the wire operation and its id. */
export async function signCustodianOperation(
  custodian: Wallet | HDNodeWallet,
  context: { chainId: bigint; token: TokenDeployment },
  input: { kind: "mint" | "burn"; account: string; amount: bigint; bankRef: string; deadline: bigint },
): Promise<{ id: string; op: TokenOperationWire }> {
  const common = {
    token: context.token.address,
    amount: input.amount.toString(),
    bankRef: input.bankRef,
    nonce: BigInt(`0x${randomBytes(32).toString("hex")}`).toString(),
    deadline: input.deadline.toString(),
  };
  const ctx = { chainId: context.chainId, tokenName: context.token.name };
  const op: TokenOperationWire =
    input.kind === "mint"
      ? await signTokenOperation(custodian, { kind: "mint", to: input.account, ...common }, ctx)
      : await signTokenOperation(custodian, { kind: "burn", from: input.account, ...common }, ctx);
  return { id: tokenOperationDigest(tokenOperationSchema.parse(op), ctx), op };
}

/** Signs a redemption of the merchant's own tokens with the merchant's key (fresh random nonce); returns the wire operation and its id. */
export async function signRedemption(
  merchant: Wallet | HDNodeWallet,
  context: { chainId: bigint; token: TokenDeployment },
  input: { custodian: string; amount: bigint; bankRef: string; deadline: bigint },
): Promise<{ id: string; op: TokenOperationWire }> {
  const ctx = { chainId: context.chainId, tokenName: context.token.name };
  const op = await signTokenOperation(
    merchant,
    {
      kind: "redeem",
      token: context.token.address,
      holder: merchant.address,
      custodian: input.custodian,
      amount: input.amount.toString(),
      bankRef: input.bankRef,
      nonce: BigInt(`0x${randomBytes(32).toString("hex")}`).toString(),
      deadline: input.deadline.toString(),
    },
    ctx,
  );
  return { id: tokenOperationDigest(tokenOperationSchema.parse(op), ctx), op };
}
