/**
 * EIP-712 domains of the contracts, and the settlement cycle types institutions attest. The structs of
 * operations are in their descriptors (core/operations/<kind>.ts). These mirror the contracts
 * (PaymentEscrow, SettlementToken, SettlementLedger); the contract tests check that they agree.
 */
import { MaxUint256, type TypedDataDomain, type TypedDataField } from "ethers";

export type TypedDataTypes = Record<string, TypedDataField[]>;

const f = (name: string, type: string): TypedDataField => ({ name, type });

export const ESCROW_DOMAIN_NAME = "Settlenet PaymentEscrow";
export const LEDGER_DOMAIN_NAME = "Settlenet SettlementLedger";
export const DOMAIN_VERSION = "1";

/** The settlement cycle summary institutions attest. */
export const CYCLE_TYPES: TypedDataTypes = {
  Cycle: [
    f("cycleId", "uint64"),
    f("merkleRoot", "bytes32"),
    f("recordCount", "uint64"),
    f("grossAmount", "uint256"),
    f("feeAmount", "uint256"),
    f("totalsHash", "bytes32"),
  ],
};

/** StandardMerkleTree leaf encoding of a settlement record (SettlementLedger.SettlementRecord). */
export const SETTLEMENT_RECORD_LEAF_ENCODING = [
  "uint64",
  "bytes32",
  "uint8",
  "address",
  "address",
  "address",
  "uint256",
  "uint256",
] as const;

export function escrowDomain(chainId: bigint, escrow: string): TypedDataDomain {
  return { name: ESCROW_DOMAIN_NAME, version: DOMAIN_VERSION, chainId, verifyingContract: escrow };
}

export function ledgerDomain(chainId: bigint, ledger: string): TypedDataDomain {
  return { name: LEDGER_DOMAIN_NAME, version: DOMAIN_VERSION, chainId, verifyingContract: ledger };
}

/** A settlement token's domain: its ERC-20 name, version "1" (ERC20Permit). */
export function tokenDomain(chainId: bigint, token: string, tokenName: string): TypedDataDomain {
  return { name: tokenName, version: DOMAIN_VERSION, chainId, verifyingContract: token };
}

/** Payment statuses, in the order of IPaymentEscrow.PaymentStatus. */
/** ERC-2612 Permit type (OpenZeppelin ERC20Permit), signed under the token's domain. */
export const PERMIT_TYPES: TypedDataTypes = {
  Permit: [
    { name: "owner", type: "address" },
    { name: "spender", type: "address" },
    { name: "value", type: "uint256" },
    { name: "nonce", type: "uint256" },
    { name: "deadline", type: "uint256" },
  ],
};

/** An allowance at or above this is treated as unlimited (OpenZeppelin never decrements MaxUint256). */
export const UNLIMITED_ALLOWANCE = MaxUint256 / 2n;

export const PAYMENT_STATUSES = [
  "none",
  "held",
  "fulfilled",
  "disputed",
  "released",
  "refunded",
  "resolved",
  "reclaimed",
] as const;
export type PaymentStatusName = (typeof PAYMENT_STATUSES)[number];
