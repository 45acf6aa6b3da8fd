/**
 * Escrow operations on-chain: one `PaymentEscrow.executeBatch` transaction per batch, whose items fail
 * independently. The calldata is the items' encodings (built once per operation) put together, and
 * the gas limit is fixed per item by kind (core/chain/batch-gas.ts): no estimate. Each batch is
 * recorded "submitted" with its transaction's hash before the broadcast (a crash leaves a record
 * `recover` resolves from the chain), and each item's outcome is read from the mined receipt's
 * OperationFailed events, by index. A second execution reverts inside the batch and is recorded as
 * executed (and counted as a duplicate). An item that runs out of gas inside the batch is sent again
 * alone with twice its budget, and is failed (REVERT_WITHOUT_REASON) after MAX_EMPTY_REVERTS.
 */
import { Interface, getAddress } from "ethers";
import type { Counter } from "prom-client";

import { TX_GAS_CAP, batchGasClass, batchGasLimit, type BatchGasBudgets } from "../../core/chain/batch-gas.js";
import { outcomeOf, revertedWithoutData } from "../../core/chain/outcome.js";
import { SettlenetError } from "../../core/errors.js";
import { failpoint } from "../../core/failpoints.js";
import { executeBatchCalldata, splitBatchCalldata } from "../../core/operations/calldata.js";
import { isTokenOperation, type EscrowOperation } from "../../core/operations/index.js";
import { loadArtifact } from "../../core/protocol/artifacts.js";
import type { Deployment } from "../../core/protocol/deployment.js";
import type { Logger, Storage } from "../services.js";
import type { OperationUpdate } from "../storage/operations.js";
import { describe, minedReceiptOf, unconfirmedTxHash, type MinedLog, type MinedReceipt, type TransactionSender } from "./sender.js";
import { DONE, withGasFactor, type RelayEntry, type Settlement, type Submission } from "./submission.js";

export interface EscrowBatchSubmitterModules {
  sender: TransactionSender;
  storage: Storage;
  logger: Logger;
  /** Items the chain refused as already executed, by the entry's origin. */
  duplicates?: Counter<"origin">;
  /** Gas budgets per item class (default BATCH_ITEM_GAS). */
  budgets?: BatchGasBudgets;
  /** A transaction of this node's was mined `latencyMs` after it was sent (lease progress). */
  onMined?: (blockNumber: number, latencyMs: number) => void;
}

/** An item that reverts without data (out of gas inside the batch) is sent this many times in all. */
export const MAX_EMPTY_REVERTS = 3;
/** Largest multiple of an item's budget after its batches ran out of gas. */
const MAX_GAS_FACTOR = 8;

/** Block timestamps kept for the execution records of batches mined in the same block. */
const TIMESTAMPS_KEPT = 64;

/** Sends batches of escrow operations and records their outcomes. */
export class EscrowBatchSubmitter {
  private readonly escrowAddress: string;
  private readonly escrowKey: string;
  private readonly iface: Interface;
  private readonly operationFailedTopic: string;
  private readonly sender: TransactionSender;
  private readonly storage: Storage;
  private readonly log: Logger;
  private readonly timestamps = new Map<number, number>();

  constructor(
    options: { deployment: Deployment },
    private readonly modules: EscrowBatchSubmitterModules,
  ) {
    this.escrowAddress = getAddress(options.deployment.contracts.escrow);
    this.escrowKey = this.escrowAddress.toLowerCase();
    this.iface = new Interface(loadArtifact("PaymentEscrow").abi);
    const failed = this.iface.getEvent("OperationFailed");
    if (!failed) throw new SettlenetError("INTERNAL", "PaymentEscrow has no OperationFailed event");
    this.operationFailedTopic = failed.topicHash.toLowerCase();
    this.sender = modules.sender;
    this.storage = modules.storage;
    this.log = modules.logger;
  }

  /**
   * Sends `batch` as one executeBatch transaction; its settlement resolves once the outcome is stored.
   * `stillOurs`, asked at the last moment before the record and the broadcast (its turn in the key's
   * nonce order can come long after the batch was built), may take the batch back: nothing is sent,
   * and its entries come back in the settlement's requeue.
   */
  async submit(batch: RelayEntry[], signal: AbortSignal, stillOurs?: (batch: RelayEntry[]) => boolean): Promise<Submission> {
    const data = executeBatchCalldata(batch.map(itemOf));
    const limit = batchGasLimit(
      batch.map((entry) => ({ gasClass: batchGasClass(escrowOf(entry)), factor: entry.gasFactor })),
      data,
      this.modules.budgets,
    );
    const gasLimit = limit < TX_GAS_CAP ? limit : TX_GAS_CAP;
    const sentAt = Date.now();
    try {
      const sent = await this.sender.send(
        { to: this.escrowAddress, data, gasLimit, purpose: "escrow_batch" },
        {
          beforeBroadcast: async (txHash) => {
            if (stillOurs && !stillOurs(batch)) throw new SettlenetError("RELAY_BATCH_CLAIMED", "operations of the batch were claimed by another institution before its broadcast");
            await this.markSubmitted(batch, txHash);
          },
        },
      );
      this.log.info({ txHash: sent.hash, nonce: sent.nonce, ops: batch.length, gasLimit: gasLimit.toString() }, "batch sent");
      failpoint("after-broadcast-before-receipt");
      return { sent: true, settled: this.settle(sent.hash, batch, signal, sentAt) };
    } catch (error) {
      if (error instanceof SettlenetError && error.code === "RELAY_BATCH_CLAIMED") return { sent: false, settled: Promise.resolve({ requeue: batch, backoff: false }) };
      // The broadcast may have reached the chain even though its answer did not reach us: resolve it
      // from the chain like a batch left "submitted" by a crash, rather than sending it blindly again.
      const txHash = unconfirmedTxHash(error);
      return { sent: false, error, settled: txHash ? this.recover(txHash, batch, signal) : Promise.resolve({ requeue: batch, backoff: false }) };
    }
  }

  /** Resolves entries recorded "submitted" in transaction `txHash`: the outcome if it was mined, else re-sent. */
  async recover(txHash: string, entries: RelayEntry[], signal: AbortSignal): Promise<Settlement> {
    const found = await this.sender.lookup(txHash, signal);
    if (!found) return DONE;
    const { receipt, transaction } = found;
    if (!receipt && !transaction) {
      this.log.info({ txHash, ops: entries.length }, "submitted batch never reached the chain; re-sending");
      return { requeue: entries, backoff: false };
    }
    const items = transaction ? this.matchBatchItems(transaction.data, entries) : [];
    const unmatched = entries.filter((entry) => !items.includes(entry));
    const settlement = receipt ? await this.apply(minedReceiptOf(receipt, this.isOperationFailed), items, signal) : await this.settle(txHash, items, signal);
    return { ...settlement, requeue: [...unmatched, ...settlement.requeue] };
  }

  private async markSubmitted(batch: RelayEntry[], txHash: string): Promise<void> {
    await this.storage.operations.updateMany(batch.map((entry) => ({ id: entry.op.id, patch: { status: "submitted", txHash } })));
  }

  /** Waits for a sent batch's receipt and stores its outcome; re-sends the batch if it was dropped. */
  private async settle(txHash: string, items: (RelayEntry | undefined)[], signal: AbortSignal, sentAt?: number): Promise<Settlement> {
    const receipt = await this.sender.waitForMined(txHash, signal, this.isOperationFailed);
    if (receipt === undefined) return DONE;
    if (receipt === "dropped") {
      this.log.warn({ txHash }, "sent batch was dropped; re-sending its operations");
      return { requeue: defined(items), backoff: false };
    }
    if (sentAt !== undefined) this.modules.onMined?.(receipt.blockNumber, Date.now() - sentAt);
    return this.apply(receipt, items, signal);
  }

  /** Aligns entries with the items of a sent executeBatch call (by their ABI encoding). */
  private matchBatchItems(data: string, entries: RelayEntry[]): (RelayEntry | undefined)[] {
    const items = splitBatchCalldata(Buffer.from(data.slice(2), "hex"));
    if (!items) return [];
    const byItem = new Map(entries.map((entry) => [itemOf(entry).toString("hex"), entry]));
    return items.map((item) => {
      const key = item.toString("hex");
      const entry = byItem.get(key);
      byItem.delete(key);
      return entry;
    });
  }

  /** Maps a mined batch back to its items and stores each one's outcome in one synced batch. */
  private async apply(receipt: MinedReceipt, items: (RelayEntry | undefined)[], signal: AbortSignal): Promise<Settlement> {
    const mine = defined(items);
    if (receipt.status !== 1) {
      // executeBatch catches every item's revert: the whole transaction fails only when it runs out of
      // gas. Its items go again with twice their budgets, up to MAX_GAS_FACTOR; then, or if it was
      // alone, each item goes alone and has had one of its tries.
      this.log.warn({ txHash: receipt.hash, ops: mine.length, gasUsed: receipt.gasUsed.toString() }, "batch transaction reverted (out of gas); retrying with larger budgets");
      if (mine.length > 1 && mine.some((entry) => entry.gasFactor < MAX_GAS_FACTOR)) {
        return { requeue: mine.map((entry) => ({ ...withGasFactor(entry, Math.min(entry.gasFactor * 2, MAX_GAS_FACTOR)), urgent: true })), backoff: true };
      }
      const again: RelayEntry[] = [];
      const exhausted: OperationUpdate[] = [];
      for (const entry of mine) {
        const retried = this.outOfGas(entry);
        if (retried) again.push(retried);
        else exhausted.push({ id: entry.op.id, patch: { status: "failed", error: revertedWithoutData() } });
      }
      try {
        await this.storage.operations.updateMany(exhausted);
      } catch (error) {
        this.log.error({ error: describe(error), txHash: receipt.hash }, "cannot record a reverted operation as failed");
      }
      return { requeue: again, backoff: true };
    }
    const reasons = new Map<number, string>();
    for (const log of receipt.logs) {
      const failed = this.operationFailed(log);
      if (failed) reasons.set(failed.index, failed.reason);
    }
    const timestamp = await this.blockTimestamp(receipt.blockNumber, signal);
    // Stopped: the operations stay "submitted" and the next start reads this receipt again.
    if (timestamp === undefined) return DONE;
    const execution = { txHash: receipt.hash, blockNumber: receipt.blockNumber, relayer: await this.sender.address(), timestamp };
    const retry: RelayEntry[] = [];
    const counts = { executed: 0, alreadyExecuted: 0, failed: 0 };
    const updates: OperationUpdate[] = [];
    for (const [index, entry] of items.entries()) {
      if (!entry) continue;
      const outcome = outcomeOf(entry.parsed.kind, reasons.get(index));
      const id = entry.op.id;
      switch (outcome.kind) {
        case "executed":
          counts.executed++;
          updates.push({ id, patch: { status: "executed", execution } });
          break;
        case "alreadyExecuted":
          counts.alreadyExecuted++;
          this.modules.duplicates?.inc({ origin: entry.op.origin });
          this.log.debug({ id, code: outcome.code }, "operation was already executed");
          // A final status stays as it is: the indexer may have recorded the execution (with its details) already.
          updates.push({ id, patch: { status: "executed" } });
          break;
        case "failed":
          counts.failed++;
          this.log.info({ id, code: outcome.error.code }, "operation reverted on-chain");
          updates.push({ id, patch: { status: "failed", error: outcome.error } });
          break;
        case "retry": {
          const again = this.outOfGas(entry);
          if (again) retry.push(again);
          else updates.push({ id, patch: { status: "failed", error: revertedWithoutData() } });
          break;
        }
      }
    }
    try {
      await this.storage.operations.updateMany(updates);
    } catch (error) {
      // Left "submitted" (or partly written): the next start resolves them from this receipt again.
      this.log.error({ error: describe(error), txHash: receipt.hash }, "cannot record a mined batch's outcome");
      return DONE;
    }
    this.log.info({ txHash: receipt.hash, block: receipt.blockNumber, ...counts, retried: retry.length }, "batch mined");
    return { requeue: retry, backoff: false };
  }

  /** The entry to send again alone with twice its gas after it ran out of gas; undefined once it has had its tries. */
  private outOfGas(entry: RelayEntry): RelayEntry | undefined {
    if (entry.emptyReverts + 1 >= MAX_EMPTY_REVERTS) return undefined;
    this.log.warn({ id: entry.op.id, kind: entry.parsed.kind, gasFactor: entry.gasFactor * 2 }, "batch item ran out of gas; sending it alone with a larger budget");
    return { ...withGasFactor(entry, entry.gasFactor * 2), emptyReverts: entry.emptyReverts + 1, alone: true, urgent: true };
  }

  /** A mined block's timestamp (read once per block). */
  private async blockTimestamp(blockNumber: number, signal: AbortSignal): Promise<number | undefined> {
    const known = this.timestamps.get(blockNumber);
    if (known !== undefined) return known;
    const timestamp = await this.sender.blockTimestamp(blockNumber, signal);
    if (timestamp === undefined) return undefined;
    this.timestamps.set(blockNumber, timestamp);
    if (this.timestamps.size > TIMESTAMPS_KEPT) this.timestamps.delete(this.timestamps.keys().next().value as number);
    return timestamp;
  }

  /** The escrow's OperationFailed logs: the only ones of a batch's receipt its outcome needs (the rest are the executed items' own events). */
  private readonly isOperationFailed = (log: MinedLog): boolean => log.topics[0]?.toLowerCase() === this.operationFailedTopic && log.address.toLowerCase() === this.escrowKey;

  /** Index and revert data of an OperationFailed event of the escrow (read by name: the event may carry more fields). */
  private operationFailed(log: MinedLog): { index: number; reason: string } | undefined {
    if (!this.isOperationFailed(log)) return undefined;
    try {
      const parsed = this.iface.parseLog(log);
      if (parsed?.name !== "OperationFailed") return undefined;
      return { index: Number(parsed.args.getValue("index")), reason: String(parsed.args.getValue("reason")) };
    } catch {
      return undefined;
    }
  }
}

/** The escrow operation of a batch entry (batches only ever hold escrow operations). */
function escrowOf(entry: RelayEntry): EscrowOperation {
  if (isTokenOperation(entry.parsed)) throw new SettlenetError("RELAY_WRONG_QUEUE", "a token operation in an escrow batch", { id: entry.op.id });
  return entry.parsed;
}

/** The encoded item of a batch entry. */
function itemOf(entry: RelayEntry): Buffer {
  if (!entry.item) throw new SettlenetError("RELAY_WRONG_QUEUE", "a token operation in an escrow batch", { id: entry.op.id });
  return entry.item;
}

function defined<T>(items: (T | undefined)[]): T[] {
  return items.filter((item): item is T => item !== undefined);
}
