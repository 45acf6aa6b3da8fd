/** What the relayer hands its submitters and what they hand back. */
import { batchGasClass, batchItemGas, type BatchGasBudgets } from "../../core/chain/batch-gas.js";
import { batchItemBytes, calldataGas } from "../../core/operations/calldata.js";
import { isTokenOperation, type Operation } from "../../core/operations/index.js";
import type { StoredOperation } from "../../core/records.js";

/** An operation the relayer holds for sending. */
export interface RelayEntry {
  op: StoredOperation;
  parsed: Operation;
  /** Escrow operations: the ABI encoding of its executeBatch item, built once. */
  item: Buffer | undefined;
  /** Calldata gas of `item` and its offset word. */
  itemCalldataGas: bigint;
  /** Gas it adds to a batch: its kind's budget times `gasFactor`, plus its calldata. */
  gas: bigint;
  /** Bytes it adds to a batch's calldata. */
  bytes: number;
  /** When it became eligible for a batch (batchIntervalMs counts from here). */
  since: number;
  /** When this node took it on (its relay lag counts from here). */
  acceptedAt: number;
  /** Send in the next batch without waiting for it to fill (failover, retries). */
  urgent: boolean;
  /** Times it reverted without data (ran out of gas) inside a batch. */
  emptyReverts: number;
  /** Its kind's gas budget is multiplied by this (doubled each time it ran out of gas). */
  gasFactor: number;
  /** Sent in a batch of its own (after running out of gas inside one). */
  alone: boolean;
  /** Relayed for another institution: taken over after its lease lapsed, or nobody claimed it. */
  takeover: boolean;
  /** The institution whose lapsed lease this node took it over from. */
  takenFrom?: string;
  /** The gas budgets its gas comes from. */
  budgets?: BatchGasBudgets;
}

/** A relay entry for a parsed operation; escrow operations are encoded here, once. */
export function relayEntry(
  op: StoredOperation,
  parsed: Operation,
  encode: (parsed: Operation) => Buffer | undefined,
  fields: Pick<RelayEntry, "since" | "acceptedAt" | "urgent" | "takeover"> & Partial<Pick<RelayEntry, "takenFrom" | "budgets">>,
): RelayEntry {
  const item = isTokenOperation(parsed) ? undefined : encode(parsed);
  // The offset word of an item in the array head: 32 bytes, a few of them non-zero.
  const itemCalldataGas = item ? calldataGas(item) + 16n * 4n + 4n * 28n : 0n;
  const entry: RelayEntry = {
    op,
    parsed,
    item,
    itemCalldataGas,
    gas: 0n,
    bytes: item ? batchItemBytes(item) : 0,
    emptyReverts: 0,
    gasFactor: 1,
    alone: false,
    ...fields,
  };
  return withGasFactor(entry, 1);
}

/** `entry` with its gas budget multiplied by `factor`. */
export function withGasFactor(entry: RelayEntry, factor: number): RelayEntry {
  const gas = isTokenOperation(entry.parsed) ? 0n : batchItemGas(batchGasClass(entry.parsed), entry.itemCalldataGas, factor, entry.budgets);
  return { ...entry, gasFactor: factor, gas };
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
