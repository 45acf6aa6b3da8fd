/** What the relayer hands its submitters and what they hand back. */
import type { Operation } from "../../core/protocol/operations.js";
import type { StoredOperation } from "../../core/records.js";

/** An operation the relayer holds for sending. */
export interface RelayEntry {
  op: StoredOperation;
  parsed: Operation;
  /** When it became eligible for a batch (batchIntervalMs counts from here). */
  since: number;
  /** Send in the next batch without waiting for it to fill (failover, retries). */
  urgent: boolean;
  /** Times it reverted without data inside a batch. */
  emptyReverts: number;
}

/**
 * How a submission ended: the entries to send again. Every other entry's outcome is stored, or (when
 * storage or the chain could not be reached before a stop) left "submitted" for the next start.
 */
export interface Settlement {
  requeue: RelayEntry[];
  /** The chain refused the whole transaction: back off before the next one. */
  backoff: boolean;
}

/** A submission: whether a transaction went out, what failed if not, and the settlement to wait for. */
export interface Submission {
  sent: boolean;
  /** Why nothing was sent (back off before retrying); absent when there was nothing to send. */
  error?: unknown;
  settled: Promise<Settlement>;
}

/** Nothing to send again. */
export const DONE: Settlement = { requeue: [], backoff: false };
