/**
 * The relayer: sends accepted escrow operations on-chain through `PaymentEscrow.executeBatch`, and
 * token operations (mint, burn, attestReserves, freeze) to their SettlementToken's *WithSig function,
 * one transaction each (the token has no batch entry point), one in flight at a time so that an
 * attestation is mined before the mint queued after it is simulated.
 *
 * - Operations this node accepted from its API (origin "api") are relayed at once, batched up to
 *   `batchSize` or `batchIntervalMs`.
 * - Operations that arrived by gossip are watched: this node relays one only if nobody settled it
 *   within `failoverTimeoutMs × rank`, where rank (counted from 1) is this node's position in the
 *   ranking of all active institutions by keccak256(abi.encodePacked(operationId, institutionId)).
 *   The API node that first accepted the operation is not known here, so it is ranked like everyone
 *   else; counting from 1 means no failover relayer fires at time 0 alongside the API node. When the
 *   time comes, the node first brings its index up to the chain head (`catchUp`): its index lags the
 *   chain by a poll interval or more, and relaying what the API node already executed costs a whole
 *   transaction on a chain that is busy already (under load, that was most failover traffic).
 * - Nothing is executed twice: each operation is marked "submitted" with the hash of the signed
 *   transaction before that transaction is broadcast, so a crash at any point leaves a record that
 *   the next start resolves from the chain (receipt found → outcome read from it; not found →
 *   re-sent). The contract is the real guard: a second execution of an operation reverts inside the
 *   batch (PaymentAlreadyExists, NonceAlreadyUsed, ...) and is counted as success.
 * - Nothing is lost: whole-transaction failures (RPC down, nonce races, gas estimation failures, a
 *   reverted or dropped transaction) put the batch back in the queue and retry with exponential
 *   backoff and jitter; stop() keeps no state that storage does not hold.
 */
import {
  AbiCoder,
  Interface,
  Transaction,
  dataSlice,
  getAddress,
  isError,
  solidityPackedKeccak256,
  type Log,
  type ParamType,
  type Provider,
  type Signer,
  type TransactionReceipt,
} from "ethers";

import { SettlenetError } from "../../core/errors.js";
import { loadArtifact } from "../../core/protocol/artifacts.js";
import type { Deployment } from "../../core/protocol/deployment.js";
import { PAYMENT_STATUSES } from "../../core/protocol/eip712.js";
import {
  isTokenOperation,
  operationSchema,
  toContractOperation,
  toTokenCall,
  type EscrowOperation,
  type Operation,
  type TokenOperation,
} from "../../core/operations/index.js";
import type { Logger, Modules, Relayer, Storage } from "../services.js";
import type { OperationUpdate } from "../storage/operations.js";
import { FINAL_OPERATION_STATUSES, type OperationFailure, type StoredOperation } from "../../core/records.js";

export interface BatchRelayerOptions {
  deployment: Deployment;
  /** This node's institution id (its first account). */
  institutionId: string;
  /** Most operations per `executeBatch` transaction. */
  batchSize?: number;
  /** Longest an API operation waits for a batch to fill. */
  batchIntervalMs?: number;
  /** Failover delay per rank for gossip operations. */
  failoverTimeoutMs?: number;
  /** Cap of the backoff between whole-transaction retries. */
  maxRetryDelayMs?: number;
  /** Batches sent and not yet mined at the same time. */
  maxInFlightBatches?: number;
  /** How often a sent transaction's receipt is polled. */
  receiptPollMs?: number;
}

export interface BatchRelayerModules extends Modules {
  /** The institution's key, connected to the chain. Nonces are managed here (a NonceManager is fine too). */
  wallet: Signer;
  storage: Storage;
  /** Active institutions (RegistryView.activeInstitutions). */
  activeInstitutions: () => { id: string }[];
  /**
   * Indexes the chain up to its head now (reporting settled operations through `settled`); awaited
   * before a gossip operation's failover relay. Absent: relay on the index as it is.
   */
  catchUp?: () => Promise<unknown>;
}

/** Upper bound of operations reloaded per status on start (the repository lists have no cursor). */
const RELOAD_LIMIT = 1_000_000;
/** A sent transaction unknown to the node after this long is considered dropped and re-sent. */
const DROPPED_AFTER_MS = 30_000;
/** An item that reverts without data (out of gas inside the batch) is retried this many times. */
const MAX_EMPTY_REVERTS = 3;
/** Consecutive estimation reverts after which batches are halved to isolate a poisonous item. */
const SPLIT_AFTER_FAILURES = 3;
const BASE_RETRY_DELAY_MS = 100;
const RELEASED = PAYMENT_STATUSES.indexOf("released");

/**
 * Failover rank (1 = first) of `institutionId` for `operationId` among `institutions`, by
 * keccak256(abi.encodePacked(bytes32 operationId, address institutionId)) ascending; 0 if absent.
 */
export function failoverRank(operationId: string, institutionId: string, institutions: readonly { id: string }[]): number {
  const keyed = institutions.map(({ id }) => ({
    id: getAddress(id),
    key: BigInt(solidityPackedKeccak256(["bytes32", "address"], [operationId, id])),
  }));
  keyed.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return keyed.findIndex(({ id }) => id === getAddress(institutionId)) + 1;
}

interface Entry {
  op: StoredOperation;
  parsed: Operation;
  /** When it became eligible for a batch (batchIntervalMs counts from here). */
  since: number;
  /** Send in the next batch without waiting for it to fill (failover, retries). */
  urgent: boolean;
  emptyReverts: number;
}

type Outcome =
  | { kind: "executed" }
  | { kind: "alreadyExecuted"; code: string }
  | { kind: "failed"; error: OperationFailure }
  | { kind: "retry" };

/** Relays accepted operations through PaymentEscrow.executeBatch with batching, failover and retries. */
export class BatchRelayer implements Relayer {
  private readonly batchSize: number;
  private readonly batchIntervalMs: number;
  private readonly failoverTimeoutMs: number;
  private readonly maxRetryDelayMs: number;
  private readonly maxInFlightBatches: number;
  private readonly receiptPollMs: number;
  private readonly escrowAddress: string;
  private readonly institutionId: string;
  private readonly iface: Interface;
  private readonly tokenIface: Interface;
  private readonly operationType: ParamType;
  private readonly provider: Provider;
  private readonly wallet: Signer;
  private readonly storage: Storage;
  private readonly activeInstitutions: () => { id: string }[];
  private readonly catchUp: (() => Promise<unknown>) | undefined;
  /** The catch-up that failover timers firing now wait for (one at a time; at most one queued). */
  private catchUpRunning: Promise<void> = Promise.resolve();
  private catchUpQueued: Promise<void> | undefined;
  private readonly log: Logger;

  /** Escrow operations ready to send, in FIFO order. */
  private readonly queue = new Map<string, Entry>();
  /** Token operations ready to send, in FIFO order: one transaction each, one in flight at a time. */
  private readonly tokenQueue = new Map<string, Entry>();
  /** A token operation's transaction is sent and not yet resolved. */
  private tokenBusy = false;
  /** Gossip operations waiting for their failover time. */
  private readonly watching = new Map<string, { entry: Entry; dueAt: number; timer?: NodeJS.Timeout }>();
  /** In a sent batch, or being recovered from a "submitted" record. */
  private readonly inflight = new Map<string, Entry>();
  private readonly tasks = new Set<Promise<void>>();
  private inflightBatches = 0;
  private running = false;
  private abort = new AbortController();
  private wakeUp: (() => void) | undefined;
  private relayerAddress = "";
  private nextNonce: number | undefined;
  private failures = 0;
  private estimationFailures = 0;
  private backoffUntil = 0;

  constructor(options: BatchRelayerOptions, modules: BatchRelayerModules) {
    this.batchSize = options.batchSize ?? 100;
    this.batchIntervalMs = options.batchIntervalMs ?? 200;
    this.failoverTimeoutMs = options.failoverTimeoutMs ?? 5000;
    this.maxRetryDelayMs = options.maxRetryDelayMs ?? 5000;
    this.maxInFlightBatches = options.maxInFlightBatches ?? 4;
    this.receiptPollMs = options.receiptPollMs ?? 100;
    if (this.batchSize < 1) throw new SettlenetError("RELAY_BAD_OPTION", "batchSize must be at least 1", { batchSize: this.batchSize });
    this.escrowAddress = getAddress(options.deployment.contracts.escrow);
    this.institutionId = getAddress(options.institutionId);
    this.iface = new Interface(loadArtifact("PaymentEscrow").abi);
    this.tokenIface = new Interface(loadArtifact("SettlementToken").abi);
    const batchInput = this.iface.getFunction("executeBatch")?.inputs[0]?.arrayChildren;
    if (!batchInput) throw new SettlenetError("RELAY_ABI_MISMATCH", "PaymentEscrow.executeBatch(Operation[]) not found in the artifact");
    this.operationType = batchInput;
    if (!modules.wallet.provider) throw new SettlenetError("RELAY_NO_PROVIDER", "the relayer wallet must be connected to a provider");
    this.provider = modules.wallet.provider;
    this.wallet = modules.wallet;
    this.storage = modules.storage;
    this.activeInstitutions = modules.activeInstitutions;
    this.catchUp = modules.catchUp;
    this.log = modules.logger.child({ module: "relay" });
  }

  /** Queues API operations for relay and watches gossip operations for failover. */
  enqueue(ops: StoredOperation[]): void {
    for (const op of ops) this.admit(op, Date.now(), false);
    this.wake();
  }

  /** Drops settled operations from the queue and cancels their failover timers. */
  settled(ids: string[]): void {
    for (const id of ids) {
      const watched = this.watching.get(id);
      if (watched) {
        clearTimeout(watched.timer);
        this.watching.delete(id);
      }
      // A batch already sent is left alone: its receipt says what happened.
      this.queue.delete(id);
      this.tokenQueue.delete(id);
    }
  }

  /** Reloads this node's unfinished operations from storage and starts relaying. */
  async start(): Promise<void> {
    if (this.running) return;
    this.abort = new AbortController();
    this.relayerAddress = getAddress(await this.wallet.getAddress());
    this.nextNonce = undefined;
    this.failures = 0;
    this.estimationFailures = 0;
    this.backoffUntil = 0;
    const [accepted, submitted] = await Promise.all([
      this.storage.operations.listByStatus("accepted", RELOAD_LIMIT),
      this.storage.operations.listByStatus("submitted", RELOAD_LIMIT),
    ]);
    if (accepted.length === RELOAD_LIMIT || submitted.length === RELOAD_LIMIT) {
      this.log.warn({ limit: RELOAD_LIMIT }, "more unfinished operations than reloaded; the rest wait for the next start");
    }
    this.running = true;
    const now = Date.now();
    for (const op of accepted) this.admit(op, now, true);
    const byTx = new Map<string, Entry[]>();
    for (const op of submitted) {
      const entry = this.entryOf(op, now);
      if (!entry || this.inflight.has(op.id)) continue;
      // Enqueued before start with a stale status: the stored "submitted" record wins.
      this.queue.delete(op.id);
      this.tokenQueue.delete(op.id);
      clearTimeout(this.watching.get(op.id)?.timer);
      this.watching.delete(op.id);
      this.inflight.set(op.id, entry);
      const group = byTx.get(op.txHash ?? "") ?? [];
      group.push(entry);
      byTx.set(op.txHash ?? "", group);
    }
    for (const [txHash, entries] of byTx) {
      const tokenEntries = entries.filter((entry) => isTokenOperation(entry.parsed));
      const escrowEntries = entries.filter((entry) => !isTokenOperation(entry.parsed));
      if (txHash === "") {
        this.requeue(entries);
        continue;
      }
      if (escrowEntries.length > 0) this.spawn(this.recoverSubmitted(txHash, escrowEntries));
      // A token transaction carries exactly one operation.
      for (const entry of tokenEntries) this.spawn(this.recoverSubmittedToken(txHash, entry));
    }
    for (const [id, watched] of this.watching) if (!watched.timer) this.arm(id, watched.dueAt);
    this.log.info({ relayer: this.relayerAddress, accepted: accepted.length, submitted: submitted.length }, "relayer started");
    this.spawn(this.pump());
  }

  /** Stops sending; whatever was not finished stays in storage for the next start. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.abort.abort();
    this.wake();
    for (const watched of this.watching.values()) clearTimeout(watched.timer);
    await Promise.allSettled([...this.tasks]);
    this.queue.clear();
    this.tokenQueue.clear();
    this.tokenBusy = false;
    this.watching.clear();
    this.inflight.clear();
    this.inflightBatches = 0;
    this.log.info("relayer stopped");
  }

  // ---------------------------------------------------------------- queueing

  private admit(op: StoredOperation, now: number, reloaded: boolean): void {
    if (FINAL_OPERATION_STATUSES.includes(op.status) || this.isKnown(op.id)) return;
    const entry = this.entryOf(op, now);
    if (!entry) return;
    if (op.origin === "api") {
      this.queueOf(entry).set(op.id, entry);
      return;
    }
    const rank = failoverRank(op.id, this.institutionId, this.activeInstitutions());
    if (rank === 0) {
      this.log.debug({ id: op.id }, "not an active institution: gossip operation not watched");
      return;
    }
    // A reloaded operation gets a full delay from now, so the indexer can catch up first.
    const from = reloaded ? now : Math.min(op.receivedAtMs, now);
    const dueAt = from + this.failoverTimeoutMs * rank;
    this.watching.set(op.id, { entry, dueAt });
    if (this.running) this.arm(op.id, dueAt);
  }

  private arm(id: string, dueAt: number): void {
    const watched = this.watching.get(id);
    if (!watched) return;
    watched.timer = setTimeout(() => {
      if (this.watching.get(id) !== watched) return;
      // Still watched while the index catches up: settled() drops it if it was executed meanwhile.
      void this.caughtUp().then(() => {
        if (!this.running || this.watching.get(id) !== watched) return;
        this.watching.delete(id);
        this.log.info({ id }, "gossip operation not settled in time: relaying it");
        this.queueOf(watched.entry).set(id, { ...watched.entry, since: Date.now(), urgent: true });
        this.wake();
      });
    }, Math.max(0, dueAt - Date.now()));
    watched.timer.unref();
  }

  /**
   * Resolves after a catch-up that started after this call (timers firing together share it); never
   * rejects: if the chain cannot be read, the failover goes ahead on the index as it is.
   */
  private caughtUp(): Promise<void> {
    const catchUp = this.catchUp;
    if (!catchUp) return Promise.resolve();
    if (this.catchUpQueued) return this.catchUpQueued;
    const queued = this.catchUpRunning.then(async () => {
      this.catchUpQueued = undefined;
      try {
        await catchUp();
      } catch (error) {
        this.log.debug({ error: describe(error) }, "could not catch up with the chain before a failover; relaying on the index as it is");
      }
    });
    this.catchUpQueued = queued;
    this.catchUpRunning = queued;
    return queued;
  }

  private entryOf(op: StoredOperation, now: number): Entry | undefined {
    const parsed = operationSchema.safeParse(op.op);
    if (!parsed.success) {
      this.log.error({ id: op.id }, "stored operation does not parse; not relayed");
      return undefined;
    }
    return { op, parsed: parsed.data, since: now, urgent: false, emptyReverts: 0 };
  }

  private isKnown(id: string): boolean {
    return this.queue.has(id) || this.tokenQueue.has(id) || this.watching.has(id) || this.inflight.has(id);
  }

  /** Token operations go to the token contract one by one; escrow operations are batched. */
  private queueOf(entry: Entry): Map<string, Entry> {
    return isTokenOperation(entry.parsed) ? this.tokenQueue : this.queue;
  }

  /** Puts entries back at the end of the queue, to be sent in the next batch. */
  private requeue(entries: Entry[]): void {
    for (const entry of entries) {
      this.inflight.delete(entry.op.id);
      if (this.running) this.queueOf(entry).set(entry.op.id, { ...entry, urgent: true });
    }
    this.wake();
  }

  private forget(entries: Entry[]): void {
    for (const entry of entries) this.inflight.delete(entry.op.id);
  }

  // ---------------------------------------------------------------- sending

  private async pump(): Promise<void> {
    while (this.running) {
      const now = Date.now();
      if (now < this.backoffUntil) {
        await this.idle(this.backoffUntil - now);
        continue;
      }
      if (!this.tokenBusy && this.tokenQueue.size > 0) {
        const [first] = this.tokenQueue;
        if (first) {
          const [id, entry] = first;
          this.tokenQueue.delete(id);
          this.inflight.set(id, entry);
          try {
            await this.sendToken(entry);
          } catch (error) {
            this.log.error({ error: describe(error) }, "unexpected token relay failure");
            this.backoff();
            this.requeue([entry]);
          }
          continue;
        }
      }
      if (this.inflightBatches >= this.maxInFlightBatches) {
        await this.idle();
        continue;
      }
      const size = this.effectiveBatchSize();
      const dueAt = this.flushAt(size);
      if (dueAt > now) {
        await this.idle(dueAt === Infinity ? undefined : dueAt - now);
        continue;
      }
      const batch: Entry[] = [];
      for (const [id, entry] of this.queue) {
        if (batch.length >= size) break;
        this.queue.delete(id);
        this.inflight.set(id, entry);
        batch.push(entry);
      }
      try {
        await this.send(batch);
      } catch (error) {
        // send() handles its own failures; this keeps the loop alive whatever happens.
        this.log.error({ error: describe(error) }, "unexpected relay failure");
        this.backoff();
        this.requeue(batch);
      }
    }
  }

  /** When the queue should be flushed: now if a batch is full or urgent, else after batchIntervalMs. */
  private flushAt(size: number): number {
    if (this.queue.size === 0) return Infinity;
    if (this.queue.size >= size) return 0;
    let oldest = Infinity;
    for (const entry of this.queue.values()) {
      if (entry.urgent) return 0;
      oldest = Math.min(oldest, entry.since);
    }
    return oldest + this.batchIntervalMs;
  }

  private effectiveBatchSize(): number {
    const halvings = Math.floor(this.estimationFailures / SPLIT_AFTER_FAILURES);
    return Math.max(1, this.batchSize >> Math.min(halvings, 30));
  }

  private async send(candidates: Entry[]): Promise<void> {
    let batch: Entry[] = candidates;
    let txHash: string | undefined;
    let nonce: number | undefined;
    let recorded = false;
    try {
      batch = await this.dropFinal(candidates);
      if (batch.length === 0) return;
      const data = this.iface.encodeFunctionData("executeBatch", [batch.map((entry) => toContractOperation(escrowOf(entry)))]);
      const request = { to: this.escrowAddress, data, from: this.relayerAddress };
      nonce = this.nextNonce ?? (await this.provider.getTransactionCount(this.relayerAddress, "pending"));
      // The fee data is read beside the estimate, not after it (populateTransaction would read it in
      // series: one more chain round trip per batch while the pump waits).
      const [estimate, fees] = await Promise.all([this.wallet.estimateGas(request), this.provider.getFeeData()]);
      const fee = fees.maxFeePerGas !== null && fees.maxPriorityFeePerGas !== null ? { maxFeePerGas: fees.maxFeePerGas, maxPriorityFeePerGas: fees.maxPriorityFeePerGas } : {};
      // Margin: a batch item runs with 63/64 of the gas left, and an estimate tight enough to let an
      // item run out of gas inside its try/catch would still "succeed" as a transaction.
      const gasLimit = (estimate * 5n) / 4n + 50_000n;
      const signed = await this.wallet.signTransaction(await this.wallet.populateTransaction({ ...request, nonce, gasLimit, ...fee }));
      txHash = Transaction.from(signed).hash ?? undefined;
      if (!txHash) throw new SettlenetError("RELAY_UNSIGNED", "signed transaction has no hash");
      // Recorded before the broadcast, so a crash after it is resolved from the chain on restart.
      const hash = txHash;
      await this.storage.operations.updateMany(batch.map((entry) => ({ id: entry.op.id, patch: { status: "submitted", txHash: hash } })));
      recorded = true;
      await this.provider.broadcastTransaction(signed);
      this.nextNonce = nonce + 1;
    } catch (error) {
      this.nextNonce = undefined;
      if (isError(error, "CALL_EXCEPTION")) this.estimationFailures++;
      this.backoff();
      this.log.warn({ error: describe(error), ops: batch.length, txHash, nonce, retryInMs: this.backoffUntil - Date.now() }, "batch not sent; retrying");
      // The broadcast may have reached the chain even though its answer did not reach us: resolve it
      // from the chain like a batch left "submitted" by a crash, rather than sending it blindly again.
      if (recorded && txHash) this.spawn(this.recoverSubmitted(txHash, batch));
      else this.requeue(batch);
      return;
    }
    this.failures = 0;
    this.estimationFailures = 0;
    this.log.info({ txHash, nonce, ops: batch.length }, "batch sent");
    this.inflightBatches++;
    const hash = txHash;
    this.spawn(
      this.awaitReceipt(hash, batch).finally(() => {
        this.inflightBatches--;
        this.wake();
      }),
    );
  }

  /** Drops operations that storage already holds as final (seen executed, or relayed by another path). */
  private async dropFinal(entries: Entry[]): Promise<Entry[]> {
    const stored = await Promise.all(entries.map((entry) => this.storage.operations.get(entry.op.id)));
    const keep: Entry[] = [];
    entries.forEach((entry, i) => {
      const current = stored[i];
      if (current && FINAL_OPERATION_STATUSES.includes(current.status)) this.forget([entry]);
      else keep.push(entry);
    });
    return keep;
  }

  private backoff(): void {
    this.failures++;
    const delay = Math.min(this.maxRetryDelayMs, BASE_RETRY_DELAY_MS * 2 ** Math.min(this.failures - 1, 20));
    this.backoffUntil = Date.now() + delay * (0.5 + Math.random() / 2);
  }

  // ---------------------------------------------------------------- receipts

  /** Polls for the receipt of a sent batch; re-queues the batch if the transaction was dropped. */
  private async awaitReceipt(txHash: string, batch: (Entry | undefined)[]): Promise<void> {
    const sentAt = Date.now();
    let checkedAt = sentAt;
    while (this.running) {
      try {
        const receipt = await this.provider.getTransactionReceipt(txHash);
        if (receipt) {
          await this.applyReceipt(receipt, batch);
          return;
        }
        if (Date.now() - checkedAt > DROPPED_AFTER_MS) {
          checkedAt = Date.now();
          if (!(await this.provider.getTransaction(txHash))) {
            this.log.warn({ txHash }, "sent batch was dropped; re-sending its operations");
            this.nextNonce = undefined;
            this.requeue(defined(batch));
            return;
          }
        }
      } catch (error) {
        this.log.debug({ error: describe(error), txHash }, "receipt not readable yet");
      }
      await this.sleep(this.receiptPollMs);
    }
  }

  /** Resolves operations left "submitted" by an earlier run: read the outcome if mined, else re-send. */
  private async recoverSubmitted(txHash: string, entries: Entry[]): Promise<void> {
    const found = await this.retrying("check a submitted batch", async () => {
      const receipt = await this.provider.getTransactionReceipt(txHash);
      const tx = await this.provider.getTransaction(txHash);
      return { receipt, tx };
    });
    if (!found) return;
    const { receipt, tx } = found;
    if (!receipt && !tx) {
      this.log.info({ txHash, ops: entries.length }, "submitted batch never reached the chain; re-sending");
      this.requeue(entries);
      return;
    }
    const items = tx ? this.matchBatchItems(tx.data, entries) : [];
    const unmatched = entries.filter((entry) => !items.includes(entry));
    if (unmatched.length > 0) this.requeue(unmatched);
    if (receipt) await this.applyReceipt(receipt, items);
    else await this.awaitReceipt(txHash, items);
  }

  /** Aligns our entries with the items of a sent executeBatch call (by their ABI encoding). */
  private matchBatchItems(data: string, entries: Entry[]): (Entry | undefined)[] {
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

  /** Maps a mined batch back to its items and records each one's outcome. */
  private async applyReceipt(receipt: TransactionReceipt, items: (Entry | undefined)[]): Promise<void> {
    const mine = defined(items);
    if (receipt.status !== 1) {
      this.backoff();
      this.log.warn({ txHash: receipt.hash, ops: mine.length }, "batch transaction reverted; retrying its operations");
      this.requeue(mine);
      return;
    }
    const reasons = new Map<number, string>();
    for (const log of receipt.logs) {
      const failed = this.operationFailed(log);
      if (failed) reasons.set(failed.index, failed.reason);
    }
    const block = await this.retrying("read the block of a mined batch", async () => {
      const found = await this.provider.getBlock(receipt.blockNumber);
      if (!found) throw new SettlenetError("RELAY_BLOCK_MISSING", "block of a mined batch not found", { blockNumber: receipt.blockNumber });
      return found;
    });
    // Stopped: the operations stay "submitted" and the next start reads this receipt again.
    if (!block) return;
    const execution = { txHash: receipt.hash, blockNumber: receipt.blockNumber, relayer: this.relayerAddress, timestamp: block.timestamp };
    const retry: Entry[] = [];
    const counts = { executed: 0, alreadyExecuted: 0, failed: 0 };
    const updates: OperationUpdate[] = [];
    for (const [index, entry] of items.entries()) {
      if (!entry) continue;
      const reason = reasons.get(index);
      const outcome: Outcome = reason === undefined ? { kind: "executed" } : this.classify(entry, reason);
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
      // One synced batch for the whole mined batch.
      await this.storage.operations.updateMany(updates);
    } catch (error) {
      // Left "submitted" (or partly written): the next start resolves them from this receipt again.
      this.log.error({ error: describe(error), txHash: receipt.hash }, "cannot record a mined batch's outcome");
      this.forget(mine);
      return;
    }
    this.forget(mine);
    if (retry.length > 0) this.requeue(retry);
    this.log.info({ txHash: receipt.hash, block: receipt.blockNumber, ...counts, retried: retry.length }, "batch mined");
  }

  private operationFailed(log: Log): { index: number; reason: string } | undefined {
    if (getAddress(log.address) !== this.escrowAddress) return undefined;
    try {
      const parsed = this.iface.parseLog(log);
      if (parsed?.name !== "OperationFailed") return undefined;
      return { index: Number(parsed.args[0]), reason: String(parsed.args[3]) };
    } catch {
      return undefined;
    }
  }

  /** What a batch item's revert data means for the operation. */
  private classify(entry: Entry, reason: string): Outcome {
    if (reason === "0x") {
      // No revert data: the item ran out of gas inside the batch (or a bare revert); try again a few times.
      if (entry.emptyReverts + 1 < MAX_EMPTY_REVERTS) return { kind: "retry" };
      return { kind: "failed", error: { code: "REVERT_WITHOUT_REASON", message: "reverted on-chain without data", args: [] } };
    }
    const decoded = this.iface.parseError(reason) ?? this.tokenIface.parseError(reason);
    if (!decoded) {
      const selector = dataSlice(reason, 0, Math.min(4, (reason.length - 2) / 2));
      return { kind: "failed", error: { code: selector, message: "reverted on-chain with an unknown error", args: [reason] } };
    }
    const args = decoded.args.toArray().map((arg) => String(arg));
    switch (decoded.name) {
      // A pay's id is paid at most once; a signed action's nonce is used at most once (checked before
      // the status, so a second execution of a signed action always lands here).
      case "PaymentAlreadyExists":
      case "NonceAlreadyUsed":
        return { kind: "alreadyExecuted", code: decoded.name };
      case "InvalidPaymentStatus":
        // Release is unsigned (no nonce): a second release sees the payment already Released.
        if (entry.parsed.kind === "release" && Number(decoded.args[1]) === RELEASED) return { kind: "alreadyExecuted", code: decoded.name };
        break;
    }
    return {
      kind: "failed",
      error: { code: decoded.name, message: `reverted on-chain with ${decoded.name}(${args.join(", ")})`, args },
    };
  }

  // ---------------------------------------------------------------- token operations

  /**
   * Sends one token operation to its token's *WithSig function. The call is simulated first (gas
   * estimation): a decoded revert settles the operation without a transaction (NonceAlreadyUsed →
   * executed by someone else; any other custom error → failed), so failover relayers of an operation
   * the chain refuses spend no gas on it either.
   */
  private async sendToken(entry: Entry): Promise<void> {
    const [kept] = await this.dropFinal([entry]);
    if (!kept) return;
    const op = entry.parsed as TokenOperation;
    const request = this.tokenRequest(op);
    let txHash: string | undefined;
    let nonce: number | undefined;
    let recorded = false;
    try {
      nonce = this.nextNonce ?? (await this.provider.getTransactionCount(this.relayerAddress, "pending"));
      let estimate: bigint;
      try {
        estimate = await this.wallet.estimateGas(request);
      } catch (error) {
        const data = revertData(error);
        if (data === undefined) throw error;
        await this.settleToken(entry, this.classify(entry, data));
        return;
      }
      const gasLimit = (estimate * 5n) / 4n + 20_000n;
      const signed = await this.wallet.signTransaction(await this.wallet.populateTransaction({ ...request, nonce, gasLimit }));
      txHash = Transaction.from(signed).hash ?? undefined;
      if (!txHash) throw new SettlenetError("RELAY_UNSIGNED", "signed transaction has no hash");
      // Recorded before the broadcast, so a crash after it is resolved from the chain on restart.
      await this.storage.operations.updateMany([{ id: entry.op.id, patch: { status: "submitted", txHash } }]);
      recorded = true;
      await this.provider.broadcastTransaction(signed);
      this.nextNonce = nonce + 1;
    } catch (error) {
      this.nextNonce = undefined;
      this.backoff();
      this.log.warn({ error: describe(error), id: entry.op.id, txHash, nonce, retryInMs: this.backoffUntil - Date.now() }, "token operation not sent; retrying");
      if (recorded && txHash) this.spawn(this.recoverSubmittedToken(txHash, entry));
      else this.requeue([entry]);
      return;
    }
    this.failures = 0;
    this.log.info({ id: entry.op.id, kind: op.kind, txHash, nonce }, "token operation sent");
    const hash = txHash;
    this.tokenBusy = true;
    this.spawn(
      this.awaitTokenReceipt(hash, entry).finally(() => {
        this.tokenBusy = false;
        this.wake();
      }),
    );
  }

  private tokenRequest(op: TokenOperation): { to: string; data: string; from: string } {
    const call = toTokenCall(op);
    return { to: getAddress(op.token), data: this.tokenIface.encodeFunctionData(call.functionName, call.args), from: this.relayerAddress };
  }

  /** Polls for a token transaction's receipt; re-queues the operation if the transaction was dropped. */
  private async awaitTokenReceipt(txHash: string, entry: Entry): Promise<void> {
    let checkedAt = Date.now();
    while (this.running) {
      try {
        const receipt = await this.provider.getTransactionReceipt(txHash);
        if (receipt) {
          await this.applyTokenReceipt(receipt, entry);
          return;
        }
        if (Date.now() - checkedAt > DROPPED_AFTER_MS) {
          checkedAt = Date.now();
          if (!(await this.provider.getTransaction(txHash))) {
            this.log.warn({ txHash, id: entry.op.id }, "sent token transaction was dropped; re-sending it");
            this.nextNonce = undefined;
            this.requeue([entry]);
            return;
          }
        }
      } catch (error) {
        this.log.debug({ error: describe(error), txHash }, "receipt not readable yet");
      }
      await this.sleep(this.receiptPollMs);
    }
  }

  /** Resolves a token operation left "submitted" by an earlier run. */
  private async recoverSubmittedToken(txHash: string, entry: Entry): Promise<void> {
    this.tokenBusy = true;
    try {
      const found = await this.retrying("check a submitted token transaction", async () => ({
        receipt: await this.provider.getTransactionReceipt(txHash),
        tx: await this.provider.getTransaction(txHash),
      }));
      if (!found) return;
      if (!found.receipt && !found.tx) {
        this.log.info({ txHash, id: entry.op.id }, "submitted token transaction never reached the chain; re-sending");
        this.requeue([entry]);
        return;
      }
      if (found.receipt) await this.applyTokenReceipt(found.receipt, entry);
      else await this.awaitTokenReceipt(txHash, entry);
    } finally {
      this.tokenBusy = false;
      this.wake();
    }
  }

  /** Records a mined token transaction: executed, or (reverted) the outcome a fresh simulation decodes. */
  private async applyTokenReceipt(receipt: TransactionReceipt, entry: Entry): Promise<void> {
    if (receipt.status === 1) {
      const block = await this.retrying("read the block of a mined token transaction", async () => {
        const found = await this.provider.getBlock(receipt.blockNumber);
        if (!found) throw new SettlenetError("RELAY_BLOCK_MISSING", "block of a mined transaction not found", { blockNumber: receipt.blockNumber });
        return found;
      });
      if (!block) return;
      const execution = { txHash: receipt.hash, blockNumber: receipt.blockNumber, relayer: this.relayerAddress, timestamp: block.timestamp };
      await this.settleToken(entry, { kind: "executed" }, execution);
      return;
    }
    // A receipt carries no revert data: simulate again to learn why (usually another relayer executed it first).
    let outcome: Outcome = { kind: "retry" };
    try {
      await this.provider.call(this.tokenRequest(entry.parsed as TokenOperation));
    } catch (error) {
      const data = revertData(error);
      if (data !== undefined) outcome = this.classify(entry, data);
    }
    if (outcome.kind === "retry") this.backoff();
    await this.settleToken(entry, outcome);
  }

  /** Stores a token operation's outcome (or re-queues it). */
  private async settleToken(entry: Entry, outcome: Outcome, execution?: StoredOperation["execution"]): Promise<void> {
    const id = entry.op.id;
    try {
      switch (outcome.kind) {
        case "executed":
          await this.storage.operations.updateMany([{ id, patch: { status: "executed", ...(execution ? { execution } : {}) } }]);
          this.log.info({ id, txHash: execution?.txHash }, "token operation executed");
          break;
        case "alreadyExecuted":
          this.log.debug({ id, code: outcome.code }, "token operation was already executed");
          await this.storage.operations.updateMany([{ id, patch: { status: "executed" } }]);
          break;
        case "failed":
          this.log.info({ id, code: outcome.error.code }, "token operation refused by the chain");
          await this.storage.operations.updateMany([{ id, patch: { status: "failed", error: outcome.error } }]);
          break;
        case "retry":
          this.requeue([{ ...entry, emptyReverts: entry.emptyReverts + 1 }]);
          return;
      }
    } catch (error) {
      // Left as it was ("submitted" or "accepted"): the next start resolves it again.
      this.log.error({ error: describe(error), id }, "cannot record a token operation's outcome");
    }
    this.forget([entry]);
  }

  // ---------------------------------------------------------------- plumbing

  /** Runs `fn` until it succeeds, backing off between attempts; undefined once stopped. */
  private async retrying<T>(what: string, fn: () => Promise<T>): Promise<T | undefined> {
    for (let attempt = 0; this.running; attempt++) {
      try {
        return await fn();
      } catch (error) {
        this.log.debug({ error: describe(error), attempt }, `cannot ${what} yet`);
        const delay = Math.min(this.maxRetryDelayMs, BASE_RETRY_DELAY_MS * 2 ** Math.min(attempt, 20));
        await this.sleep(delay * (0.5 + Math.random() / 2));
      }
    }
    return undefined;
  }

  private spawn(task: Promise<void>): void {
    const tracked = task.catch((error: unknown) => {
      this.log.error({ error: describe(error) }, "relayer task failed");
    });
    this.tasks.add(tracked);
    void tracked.finally(() => this.tasks.delete(tracked));
  }

  private wake(): void {
    const wake = this.wakeUp;
    this.wakeUp = undefined;
    wake?.();
  }

  /** Waits for wake() or `ms`, whichever comes first. */
  private idle(ms?: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = ms === undefined ? undefined : setTimeout(done, ms);
      const previous = this.wakeUp;
      function done() {
        clearTimeout(timer);
        previous?.();
        resolve();
      }
      this.wakeUp = done;
    });
  }

  private sleep(ms: number): Promise<void> {
    const signal = this.abort.signal;
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const timer = setTimeout(finish, ms);
      signal.addEventListener("abort", finish, { once: true });
      function finish() {
        clearTimeout(timer);
        signal.removeEventListener("abort", finish);
        resolve();
      }
    });
  }
}

/** The escrow operation of a batch entry (batches only ever hold escrow operations). */
function escrowOf(entry: Entry): EscrowOperation {
  if (isTokenOperation(entry.parsed)) throw new SettlenetError("RELAY_WRONG_QUEUE", "a token operation in an escrow batch", { id: entry.op.id });
  return entry.parsed;
}

/** Revert data of a failed call or gas estimation, if the node returned any. */
function revertData(error: unknown): string | undefined {
  if (!isError(error, "CALL_EXCEPTION")) return undefined;
  const data = error.data;
  return typeof data === "string" && data.length >= 10 ? data : undefined;
}

function defined<T>(items: (T | undefined)[]): T[] {
  return items.filter((item): item is T => item !== undefined);
}

/** Error summary for logs (never the transaction payload). */
function describe(error: unknown): { code?: string; message: string } {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return { ...(typeof code === "string" ? { code } : {}), message: error.message.slice(0, 200) };
  }
  return { message: String(error) };
}
