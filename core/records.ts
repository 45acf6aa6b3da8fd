/**
 * Records the node's modules exchange and persist. Money is a decimal string in stored/JSON records
 * (bigint in code that computes with it); times are unix seconds unless the name says `Ms`.
 */
import type { OperationInput, OperationKind } from "./operations/index.js";
import type { PaymentStatusName } from "./protocol/eip712.js";

/** Life of an operation inside one node. */
export type OperationStatus =
  /** Validated and durably stored; waiting to be relayed or to be seen executed. */
  | "accepted"
  /** Sent on-chain by this node in transaction `txHash`, not yet seen executed. */
  | "submitted"
  /** Seen executed on-chain (by any relayer). Final. */
  | "executed"
  /** Reverted on-chain with `error` (the decoded custom error). Final. */
  | "failed";

export const FINAL_OPERATION_STATUSES: readonly OperationStatus[] = ["executed", "failed"];

/** Where this node first received the operation. */
export type OperationOrigin = "api" | "gossip";

export interface OperationFailure {
  /** Stable code: the contract's custom error name (e.g. `PaymentExpired`) or a node code. */
  code: string;
  message: string;
  /** Decoded custom error arguments as strings. */
  args?: string[];
}

export interface StoredOperation {
  /** Operation id = EIP-712 signing digest (0x + 64 hex). */
  id: string;
  kind: OperationKind;
  /** The payment it acts on; the zero hash for token operations, which belong to no payment. */
  paymentId: string;
  /** The operation exactly as received, in its JSON wire form. */
  op: OperationInput;
  /** Recovered signer (checksummed), or null for `release`. */
  signer: string | null;
  origin: OperationOrigin;
  status: OperationStatus;
  receivedAtMs: number;
  updatedAtMs: number;
  /** This node's relay attempt, if any. */
  txHash?: string;
  /** Where the chain executed it (from the indexer). */
  execution?: { txHash: string; blockNumber: number; relayer: string; timestamp: number };
  error?: OperationFailure;
}

/** One escrow event affecting a payment, as indexed from the chain. */
export interface PaymentEventRecord {
  event: string;
  blockNumber: number;
  txHash: string;
  logIndex: number;
  timestamp: number;
  /** Event arguments, bigints as decimal strings. */
  args: Record<string, string | boolean>;
}

/** The indexer's view of a payment (built only from chain events). */
export interface PaymentRecord {
  paymentId: string;
  payer: string;
  merchant: string;
  token: string;
  amount: string;
  orderId: string;
  feeBps: number;
  direct: boolean;
  status: PaymentStatusName;
  refunded: string;
  /** Meaning depends on status (see IPaymentEscrow.PaymentState.deadline). */
  deadline: number;
  /** Institution of the payer (its customer account) and of the merchant (acquirer). */
  payerInstitution: string;
  merchantInstitution: string;
  paidAt: number;
  paidBlock: number;
  updatedAt: number;
  events: PaymentEventRecord[];
}

/** A page of a cursor-paginated list. */
export interface Page<T> {
  items: T[];
  /** Opaque cursor for the next page, absent on the last page. */
  next?: string;
}

export interface ListOptions {
  limit: number;
  cursor?: string;
  /** Inclusive time range (unix seconds) on `paidAt`. */
  from?: number;
  to?: number;
}
