/**
 * The relayer: sends the operations this node accepted on-chain, composed of
 * - a failover scheduler (scheduler.ts) for operations that arrived by gossip: relayed only if nobody
 *   settled them by this node's failover turn;
 * - an escrow batch submitter (escrow-submitter.ts): `PaymentEscrow.executeBatch`, batched up to
 *   `batchSize` or `batchIntervalMs`, several batches in flight;
 * - a token submitter (token-submitter.ts): one *WithSig transaction per token operation, one in flight
 *   at a time, so that an attestation is mined before the mint queued after it is simulated;
 * - the key's transaction sender (sender.ts), shared with everything else that signs with the key.
 *
 * Operations this node accepted from its API (origin "api") are relayed at once. Nothing is executed
 * twice: each operation is recorded "submitted" with its transaction's hash before the broadcast, so a
 * crash leaves a record the next start resolves from the chain (mined → outcome read from the receipt;
 * unknown → re-sent), and the contract refuses a second execution (counted as success). Nothing is
 * lost: whole-transaction failures (RPC down, gas estimation failures, a reverted or dropped
 * transaction) put the operations back in the queue and retry with exponential backoff and jitter;
 * stop() keeps no state that storage does not hold.
 */
import { isError } from "ethers";

import { SettlenetError } from "../../core/errors.js";
import type { Deployment } from "../../core/protocol/deployment.js";
import { isTokenOperation, operationSchema } from "../../core/protocol/operations.js";
import { FINAL_OPERATION_STATUSES, type StoredOperation } from "../../core/records.js";
import type { Logger, Modules, Relayer, Storage } from "../services.js";
import { EscrowBatchSubmitter } from "./escrow-submitter.js";
import { FailoverScheduler } from "./scheduler.js";
import { describe, type TransactionSender } from "./sender.js";
import type { RelayEntry, Settlement, Submission } from "./submission.js";
import { TokenSubmitter } from "./token-submitter.js";

export interface BatchRelayerOptions {
  deployment: Deployment;
  /** This node's institution id (its first account). */
  institutionId: string;
  /** Most operations per `executeBatch` transaction. */
  batchSize?: number;
  /** Longest an API operation waits for a batch to fill. */
  batchIntervalMs?: number;
  /** Failover delay per turn for gossip operations. */
  failoverTimeoutMs?: number;
  /** Cap of the backoff between whole-transaction retries. */
  maxRetryDelayMs?: number;
  /** Batches sent and not yet mined at the same time. */
  maxInFlightBatches?: number;
}

export interface BatchRelayerModules extends Modules {
  /** The transaction sender of this node's key (the one settlement finalizes with). */
  sender: TransactionSender;
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
/** Consecutive estimation reverts after which batches are halved to isolate a poisonous item. */
const SPLIT_AFTER_FAILURES = 3;
const BASE_RETRY_DELAY_MS = 100;

/** Relays accepted operations on-chain with batching, failover and retries; see the module comment. */
export class BatchRelayer implements Relayer {
  private readonly batchSize: number;
  private readonly batchIntervalMs: number;
  private readonly maxRetryDelayMs: number;
  private readonly maxInFlightBatches: number;
  private readonly sender: TransactionSender;
  private readonly storage: Storage;
  private readonly log: Logger;
  private readonly scheduler: FailoverScheduler<RelayEntry>;
  private readonly escrow: EscrowBatchSubmitter;
  private readonly tokens: TokenSubmitter;

  /** Escrow operations ready to send, in FIFO order. */
  private readonly queue = new Map<string, RelayEntry>();
  /** Token operations ready to send, in FIFO order. */
  private readonly tokenQueue = new Map<string, RelayEntry>();
  /** In a sent transaction, or being recovered from a "submitted" record. */
  private readonly inflight = new Map<string, RelayEntry>();
  private readonly tasks = new Set<Promise<void>>();
  private inflightBatches = 0;
  /** Token transactions sent (or being recovered) and not yet resolved. */
  private inflightTokens = 0;
  private running = false;
  private abort = new AbortController();
  private wakeUp: (() => void) | undefined;
  private failures = 0;
  private estimationFailures = 0;
  private backoffUntil = 0;

  constructor(options: BatchRelayerOptions, modules: BatchRelayerModules) {
    this.batchSize = options.batchSize ?? 100;
    this.batchIntervalMs = options.batchIntervalMs ?? 200;
    this.maxRetryDelayMs = options.maxRetryDelayMs ?? 5000;
    this.maxInFlightBatches = options.maxInFlightBatches ?? 4;
    if (this.batchSize < 1) throw new SettlenetError("RELAY_BAD_OPTION", "batchSize must be at least 1", { batchSize: this.batchSize });
    this.sender = modules.sender;
    this.storage = modules.storage;
    this.log = modules.logger.child({ module: "relay" });
    this.scheduler = new FailoverScheduler(
      { institutionId: options.institutionId, failoverTimeoutMs: options.failoverTimeoutMs ?? 5000 },
      {
        activeInstitutions: modules.activeInstitutions,
        ...(modules.catchUp ? { catchUp: modules.catchUp } : {}),
        onDue: (id, entry) => {
          this.queueOf(entry).set(id, { ...entry, since: Date.now(), urgent: true });
          this.wake();
        },
        logger: this.log,
      },
    );
    const submitterModules = { sender: this.sender, storage: modules.storage, logger: this.log };
    this.escrow = new EscrowBatchSubmitter({ deployment: options.deployment }, submitterModules);
    this.tokens = new TokenSubmitter(submitterModules);
  }

  /** Queues API operations for relay and watches gossip operations for failover. */
  enqueue(ops: StoredOperation[]): void {
    for (const op of ops) this.admit(op, Date.now(), false);
    this.wake();
  }

  /** Drops settled operations from the queue and cancels their failover timers. */
  settled(ids: string[]): void {
    for (const id of ids) {
      this.scheduler.cancel(id);
      // A transaction already sent is left alone: its receipt says what happened.
      this.queue.delete(id);
      this.tokenQueue.delete(id);
    }
  }

  /** Reloads this node's unfinished operations from storage and starts relaying. */
  async start(): Promise<void> {
    if (this.running) return;
    const relayer = await this.sender.address();
    this.abort = new AbortController();
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
    const byTx = new Map<string, RelayEntry[]>();
    for (const op of submitted) {
      const entry = this.entryOf(op, now);
      if (!entry || this.inflight.has(op.id)) continue;
      // Enqueued before start with a stale status: the stored "submitted" record wins.
      this.queue.delete(op.id);
      this.tokenQueue.delete(op.id);
      this.scheduler.cancel(op.id);
      this.inflight.set(op.id, entry);
      const group = byTx.get(op.txHash ?? "") ?? [];
      group.push(entry);
      byTx.set(op.txHash ?? "", group);
    }
    const signal = this.abort.signal;
    for (const [txHash, entries] of byTx) {
      if (txHash === "") {
        this.requeue(entries);
        continue;
      }
      const escrowEntries = entries.filter((entry) => !isTokenOperation(entry.parsed));
      if (escrowEntries.length > 0) this.follow(escrowEntries, this.escrow.recover(txHash, escrowEntries, signal));
      // A token transaction carries exactly one operation.
      for (const entry of entries.filter((e) => isTokenOperation(e.parsed))) {
        this.inflightTokens++;
        this.follow([entry], this.tokens.recover(txHash, entry, signal), () => this.inflightTokens--);
      }
    }
    this.scheduler.start();
    this.log.info({ relayer, accepted: accepted.length, submitted: submitted.length }, "relayer started");
    this.spawn(this.pump());
  }

  /** Stops sending; whatever was not finished stays in storage for the next start. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.abort.abort();
    this.wake();
    this.scheduler.stop();
    await Promise.allSettled([...this.tasks]);
    this.queue.clear();
    this.tokenQueue.clear();
    this.inflight.clear();
    this.inflightBatches = 0;
    this.inflightTokens = 0;
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
    // A reloaded operation gets a full delay from now, so the indexer can catch up first.
    const since = reloaded ? now : Math.min(op.receivedAtMs, now);
    if (!this.scheduler.watch(op.id, entry, since)) this.log.debug({ id: op.id }, "not an active institution: gossip operation not watched");
  }

  private entryOf(op: StoredOperation, now: number): RelayEntry | undefined {
    const parsed = operationSchema.safeParse(op.op);
    if (!parsed.success) {
      this.log.error({ id: op.id }, "stored operation does not parse; not relayed");
      return undefined;
    }
    return { op, parsed: parsed.data, since: now, urgent: false, emptyReverts: 0 };
  }

  private isKnown(id: string): boolean {
    return this.queue.has(id) || this.tokenQueue.has(id) || this.scheduler.has(id) || this.inflight.has(id);
  }

  /** Token operations go to the token contract one by one; escrow operations are batched. */
  private queueOf(entry: RelayEntry): Map<string, RelayEntry> {
    return isTokenOperation(entry.parsed) ? this.tokenQueue : this.queue;
  }

  /** Puts entries back at the end of their queue, to be sent next. */
  private requeue(entries: RelayEntry[]): void {
    for (const entry of entries) {
      this.inflight.delete(entry.op.id);
      if (this.running) this.queueOf(entry).set(entry.op.id, { ...entry, urgent: true });
    }
    this.wake();
  }

  private forget(entries: RelayEntry[]): void {
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
      if (this.inflightTokens === 0 && this.tokenQueue.size > 0) {
        const [first] = this.tokenQueue;
        if (first) {
          const [id, entry] = first;
          this.tokenQueue.delete(id);
          this.inflight.set(id, entry);
          await this.sendToken(entry);
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
      const batch: RelayEntry[] = [];
      for (const [id, entry] of this.queue) {
        if (batch.length >= size) break;
        this.queue.delete(id);
        this.inflight.set(id, entry);
        batch.push(entry);
      }
      await this.sendBatch(batch);
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

  private async sendBatch(candidates: RelayEntry[]): Promise<void> {
    const submission = await this.submit("batch", candidates, (batch) => this.escrow.submit(batch, this.abort.signal));
    if (!submission) return;
    if (submission.error !== undefined && isError(submission.error, "CALL_EXCEPTION")) this.estimationFailures++;
    if (!submission.sent) {
      this.follow(candidates, submission.settled);
      return;
    }
    this.estimationFailures = 0;
    this.inflightBatches++;
    this.follow(candidates, submission.settled, () => this.inflightBatches--);
  }

  private async sendToken(entry: RelayEntry): Promise<void> {
    const submission = await this.submit("token operation", [entry], ([kept]) => (kept ? this.tokens.submit(kept, this.abort.signal) : undefined));
    if (!submission) return;
    this.inflightTokens++;
    this.follow([entry], submission.settled, () => this.inflightTokens--);
  }

  /**
   * Submits what storage does not already hold as final; backs off when nothing was sent because
   * something failed. Undefined when there was nothing left to send (or it failed unexpectedly).
   */
  private async submit(what: string, entries: RelayEntry[], submit: (kept: RelayEntry[]) => Promise<Submission> | undefined): Promise<Submission | undefined> {
    try {
      const kept = await this.dropFinal(entries);
      if (kept.length === 0) return undefined;
      const submission = await submit(kept);
      if (!submission) return undefined;
      if (submission.sent) {
        this.failures = 0;
      } else if (submission.error !== undefined) {
        this.backoff();
        this.log.warn({ error: describe(submission.error), ops: kept.length, retryInMs: this.backoffUntil - Date.now() }, `${what} not sent; retrying`);
      }
      return submission;
    } catch (error) {
      // The submitters handle their own failures; this keeps the pump alive whatever happens.
      this.log.error({ error: describe(error) }, `unexpected ${what} relay failure`);
      this.backoff();
      this.requeue(entries);
      return undefined;
    }
  }

  /** Drops operations that storage already holds as final (seen executed, or relayed by another path). */
  private async dropFinal(entries: RelayEntry[]): Promise<RelayEntry[]> {
    const stored = await Promise.all(entries.map((entry) => this.storage.operations.get(entry.op.id)));
    const keep: RelayEntry[] = [];
    entries.forEach((entry, i) => {
      const current = stored[i];
      if (current && FINAL_OPERATION_STATUSES.includes(current.status)) this.forget([entry]);
      else keep.push(entry);
    });
    return keep;
  }

  /** Applies a submission's settlement once it comes: forgets its entries, re-queues what must be sent again. */
  private follow(entries: RelayEntry[], settled: Promise<Settlement>, finished?: () => void): void {
    this.spawn(
      settled
        .then(
          (settlement) => {
            this.forget(entries);
            if (settlement.backoff) this.backoff();
            if (settlement.requeue.length > 0) this.requeue(settlement.requeue);
          },
          (error: unknown) => {
            this.log.error({ error: describe(error) }, "unexpected failure while settling a transaction");
            this.backoff();
            this.requeue(entries);
          },
        )
        .finally(() => {
          finished?.();
          this.wake();
        }),
    );
  }

  private backoff(): void {
    this.failures++;
    const delay = Math.min(this.maxRetryDelayMs, BASE_RETRY_DELAY_MS * 2 ** Math.min(this.failures - 1, 20));
    this.backoffUntil = Date.now() + delay * (0.5 + Math.random() / 2);
  }

  // ---------------------------------------------------------------- plumbing

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
}
