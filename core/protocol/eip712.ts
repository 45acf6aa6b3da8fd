/**
 * EIP-712 types of every signed Settlenet operation. These mirror the type strings in the contracts
 * (PaymentEscrow, SettlementToken, SettlementLedger); the contract tests check that they agree.
 */
import type { TypedDataDomain, TypedDataField } from "ethers";

export type TypedDataTypes = Record<string, TypedDataField[]>;

const f = (name: string, type: string): TypedDataField => ({ name, type });

export const ESCROW_DOMAIN_NAME = "Settlenet PaymentEscrow";
export const LEDGER_DOMAIN_NAME = "Settlenet SettlementLedger";
export const DOMAIN_VERSION = "1";

/** The payment terms a payer signs; their digest is the payment id. */
export const PAYMENT_TYPES: TypedDataTypes = {
  Payment: [
    f("payer", "address"),
    f("merchant", "address"),
    f("token", "address"),
    f("amount", "uint256"),
    f("orderId", "bytes32"),
    f("feeBps", "uint16"),
    f("direct", "bool"),
    f("payDeadline", "uint64"),
    f("fulfilmentPeriod", "uint32"),
    f("autoReleasePeriod", "uint32"),
    f("refundPeriod", "uint32"),
    f("nonce", "uint256"),
  ],
};

const action = (name: string, ...fields: TypedDataField[]): TypedDataTypes => ({
  [name]: [f("paymentId", "bytes32"), ...fields, f("nonce", "uint256"), f("deadline", "uint256")],
});

/** Escrow operations other than pay and release, keyed by operation name. */
export const ESCROW_ACTION_TYPES = {
  markFulfilled: action("MarkFulfilled"),
  confirm: action("Confirm"),
  refund: action("Refund", f("amount", "uint256"), f("reason", "bytes32")),
  dispute: action("Dispute", f("reason", "bytes32")),
  resolve: action("Resolve", f("payerAmount", "uint256"), f("reason", "bytes32")),
  reclaim: action("Reclaim"),
} as const satisfies Record<string, TypedDataTypes>;

/** Token operations relayed with a custodian's or regulator's signature. */
export const TOKEN_TYPES = {
  mint: { Mint: [f("to", "address"), f("amount", "uint256"), f("bankRef", "bytes32"), f("nonce", "uint256"), f("deadline", "uint256")] },
  burn: { Burn: [f("from", "address"), f("amount", "uint256"), f("bankRef", "bytes32"), f("nonce", "uint256"), f("deadline", "uint256")] },
  attestReserves: {
    AttestReserves: [f("amount", "uint256"), f("statementHash", "bytes32"), f("nonce", "uint256"), f("deadline", "uint256")],
  },
  freeze: {
    Freeze: [f("account", "address"), f("frozen", "bool"), f("reason", "bytes32"), f("nonce", "uint256"), f("deadline", "uint256")],
  },
} as const satisfies Record<string, TypedDataTypes>;

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

/** Payment terms as TypeScript values (money in bigint minor units). */
export interface PaymentTerms {
  payer: string;
  merchant: string;
  token: string;
  amount: bigint;
  orderId: string;
  feeBps: number;
  direct: boolean;
  payDeadline: bigint;
  fulfilmentPeriod: number;
  autoReleasePeriod: number;
  refundPeriod: number;
  nonce: bigint;
}

/** Escrow operation kinds, in the order of IPaymentEscrow.OperationKind. */
export const OPERATION_KINDS = [
  "pay",
  "markFulfilled",
  "confirm",
  "release",
  "refund",
  "dispute",
  "resolve",
  "reclaim",
] as const;
export type OperationKindName = (typeof OPERATION_KINDS)[number];

/** Payment statuses, in the order of IPaymentEscrow.PaymentStatus. */
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
