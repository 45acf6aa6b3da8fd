/**
 * Records the node's modules exchange and persist, and its API serves: their types come from the node
 * API contract (core/api/), so storage, API and clients share one definition. Money is a decimal
 * string in stored/JSON records (bigint in code that computes with it); times are unix seconds unless
 * the name says `Ms`.
 */
import type { z } from "zod";

import type { operationFailureSchema, operationStatusSchema, storedOperationSchema } from "./api/operations.js";
import type { paymentEventSchema, paymentRecordSchema } from "./api/payments.js";

export type { Page } from "./api/common.js";

/** Life of an operation inside one node (accepted → submitted → executed | failed). */
export type OperationStatus = z.infer<typeof operationStatusSchema>;

export const FINAL_OPERATION_STATUSES: readonly OperationStatus[] = ["executed", "failed"];

/** Where this node first received the operation. */
export type OperationOrigin = StoredOperation["origin"];

/** Why an operation failed on-chain: the contract's custom error (e.g. `PaymentExpired`) or a node code. */
export type OperationFailure = z.infer<typeof operationFailureSchema>;

/** An operation as one node stores it; `op` is exactly as received, in its JSON wire form. */
export type StoredOperation = z.infer<typeof storedOperationSchema>;

/** One escrow event affecting a payment, as indexed from the chain. */
export type PaymentEventRecord = z.infer<typeof paymentEventSchema>;

/** The indexer's view of a payment (built only from chain events). */
export type PaymentRecord = z.infer<typeof paymentRecordSchema>;

export interface ListOptions {
  limit: number;
  cursor?: string;
  /** Inclusive time range (unix seconds) on `paidAt`. */
  from?: number;
  to?: number;
}
