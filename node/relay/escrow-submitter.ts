/**
 * Escrow operations on-chain: one `PaymentEscrow.executeBatch` transaction per batch, whose items fail
 * independently. Each batch is recorded "submitted" with its transaction's hash before the broadcast
 * (a crash leaves a record `recover` resolves from the chain), and each item's outcome is read from
 * the mined receipt's OperationFailed events. A second execution reverts inside the batch and is
 * recorded as executed.
 */
import { AbiCoder, Interface, getAddress, type Log, type ParamType, type TransactionReceipt } from "ethers";

import { outcomeOf, revertedWithoutData } from "../../core/chain/outcome.js";
import { SettlenetError } from "../../core/errors.js";
import { loadArtifact } from "../../core/protocol/artifacts.js";
import type { Deployment } from "../../core/protocol/deployment.js";
import { isTokenOperation, toContractOperation, type EscrowOperation } from "../../core/operations/index.js";
import type { Logger, Storage } from "../services.js";
import type { OperationUpdate } from "../storage/operations.js";
import { describe, unconfirmedTxHash, type TransactionSender } from "./sender.js";
import { DONE, type RelayEntry, type Settlement, type Submission } from "./submission.js";

export interface EscrowBatchSubmitterModules {
  sender: TransactionSender;
  storage: Storage;
  logger: Logger;
}

/** An item that reverts without data (out of gas inside the batch) is sent this many times in all. */
const MAX_EMPTY_REVERTS = 3;

/** Sends batches of escrow operations and records their outcomes. */
export class EscrowBatchSubmitter {
  private readonly escrowAddress: string;
  private readonly iface: Interface;
  private readonly operationType: ParamType;
  private readonly sender: TransactionSender;
  private readonly storage: Storage;
  private readonly log: Logger;

  constructor(options: { deployment: Deployment }, modules: EscrowBatchSubmitterModules) {
    this.escrowAddress = getAddress(options.deployment.contracts.escrow);
    this.iface = new Interface(loadArtifact("PaymentEscrow").abi);
    const batchInput = this.iface.getFunction("executeBatch")?.inputs[0]?.arrayChildren;
    if (!batchInput) throw new SettlenetError("RELAY_ABI_MISMATCH", "PaymentEscrow.executeBatch(Operation[]) not found in the artifact");
    this.operationType = batchInput;
    this.sender = modules.sender;
    this.storage = modules.storage;
    this.log = modules.logger;
  }

  /** Sends `batch` as one executeBatch transaction; its settlement resolves once the outcome is stored. */
  async submit(batch: RelayEntry[], signal: AbortSignal): Promise<Submission> {
    const data = this.iface.encodeFunctionData("executeBatch", [batch.map((entry) => toContractOperation(escrowOf(entry)))]);
    try {
      const sent = await this.sender.send(
        { to: this.escrowAddress, data, extraGas: 50_000n, purpose: "escrow_batch" },
        { beforeBroadcast: (txHash) => this.markSubmitted(batch, txHash) },
      );
      this.log.info({ txHash: sent.hash, nonce: sent.nonce, ops: batch.length }, "batch sent");
      return { sent: true, settled: this.settle(sent.hash, batch, signal) };
    } catch (error) {
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
    const settlement = receipt ? await this.apply(receipt, items, signal) : await this.settle(txHash, items, signal);
    return { ...settlement, requeue: [...unmatched, ...settlement.requeue] };
  }

  private async markSubmitted(batch: RelayEntry[], txHash: string): Promise<void> {
    await this.storage.operations.updateMany(batch.map((entry) => ({ id: entry.op.id, patch: { status: "submitted", txHash } })));
  }

  /** Waits for a sent batch's receipt and stores its outcome; re-sends the batch if it was dropped. */
  private async settle(txHash: string, items: (RelayEntry | undefined)[], signal: AbortSignal): Promise<Settlement> {
    const receipt = await this.sender.waitForReceipt(txHash, signal);
    if (receipt === undefined) return DONE;
    if (receipt === "dropped") {
      this.log.warn({ txHash }, "sent batch was dropped; re-sending its operations");
      return { requeue: defined(items), backoff: false };
    }
    return this.apply(receipt, items, signal);
  }

  /** Aligns entries with the items of a sent executeBatch call (by their ABI encoding). */
  private matchBatchItems(data: string, entries: RelayEntry[]): (RelayEntry | undefined)[] {
    let decoded: readonly unknown[];
    try {
      decoded = this.iface.decodeFunctionData("executeBatch", data)[0] as readonly unknown[];
    } catch {
      return [];
    }
    const coder = AbiCoder.defaultAbiCoder();
    const byKey = new Map(entries.map((entry) => [coder.encode([this.operationType], [toContractOperation(escrowOf(entry))]), entry]));
    return decoded.map((item) => {
      const key = coder.encode([this.operationType], [item]);
      const entry = byKey.get(key);
      byKey.delete(key);
      return entry;
    });
  }

  /** Maps a mined batch back to its items and stores each one's outcome in one synced batch. */
  private async apply(receipt: TransactionReceipt, items: (RelayEntry | undefined)[], signal: AbortSignal): Promise<Settlement> {
    const mine = defined(items);
    if (receipt.status !== 1) {
      this.log.warn({ txHash: receipt.hash, ops: mine.length }, "batch transaction reverted; retrying its operations");
      return { requeue: mine, backoff: true };
    }
    const reasons = new Map<number, string>();
    for (const log of receipt.logs) {
      const failed = this.operationFailed(log);
      if (failed) reasons.set(failed.index, failed.reason);
    }
    const timestamp = await this.sender.blockTimestamp(receipt.blockNumber, signal);
    // Stopped: the operations stay "submitted" and the next start reads this receipt again.
    if (timestamp === undefined) return DONE;
    const execution = { txHash: receipt.hash, blockNumber: receipt.blockNumber, relayer: await this.sender.address(), timestamp };
    const retry: RelayEntry[] = [];
    const counts = { executed: 0, alreadyExecuted: 0, failed: 0 };
    const updates: OperationUpdate[] = [];
    for (const [index, entry] of items.entries()) {
      if (!entry) continue;
      let outcome = outcomeOf(entry.parsed.kind, reasons.get(index));
      if (outcome.kind === "retry" && entry.emptyReverts + 1 >= MAX_EMPTY_REVERTS) outcome = { kind: "failed", error: revertedWithoutData() };
      const id = entry.op.id;
      switch (outcome.kind) {
        case "executed":
          counts.executed++;
          updates.push({ id, patch: { status: "executed", execution } });
          break;
        case "alreadyExecuted":
          counts.alreadyExecuted++;
          this.log.debug({ id, code: outcome.code }, "operation was already executed");
          // A final status stays as it is: the indexer may have recorded the execution (with its details) already.
          updates.push({ id, patch: { status: "executed" } });
          break;
        case "failed":
          counts.failed++;
          this.log.info({ id, code: outcome.error.code }, "operation reverted on-chain");
          updates.push({ id, patch: { status: "failed", error: outcome.error } });
          break;
        case "retry":
          retry.push({ ...entry, emptyReverts: entry.emptyReverts + 1 });
          break;
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

  private operationFailed(log: Log): { index: number; reason: string } | undefined {
    if (getAddress(log.address) !== this.escrowAddress) return undefined;
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

function defined<T>(items: (T | undefined)[]): T[] {
  return items.filter((item): item is T => item !== undefined);
}
