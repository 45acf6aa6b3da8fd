/**
 * The relayer: sends the operations this node is responsible for on-chain, composed of
 * - failover by lease (lease.ts, scheduler.ts): this node claims what it relays in signed lease
 *   messages and renews its lease while it makes progress; operations that arrived by gossip are
 *   relayed only when their holder's lease lapsed (or nobody claimed them), after the index has caught
 *   up with the chain and the holder has no transaction left pending;
 * - an escrow batch submitter (escrow-submitter.ts): `PaymentEscrow.executeBatch`, batches sized to
 *   `batchSize`, the block's gas (fixed gas per item by kind) and `maxBatchBytes`, several in flight
 *   with consecutive nonces;
 * - a token submitter (token-submitter.ts): one *WithSig transaction per token operation, one in flight
 *   at a time, so that an attestation is mined before the mint queued after it is simulated;
 * - the key's transaction sender (sender.ts), shared with everything else that signs with the key.
 *
 * Fair queueing: operations from this node's API fill batches first; operations taken over from
 * another institution get at least a quarter of each batch, so neither waits behind the other's
 * backlog. Admission control (`admission`): when the oldest operation of this node's own that is not
 * executed yet is older than `maxLagMs`, or the queued work exceeds `maxQueueGas`, the API refuses new
 * work (RELAY_BACKLOG, Retry-After) before storing anything; what was accepted is always relayed.
 *
 * Nothing is relayed twice while no node fails: an institution takes over only what a lapsed holder
 * held, after its index caught up and the holder's key shows no progress on-chain; an operation it
 * still has queued that another institution claims it leaves to that one (the origin to anyone who
 * claims it, a takeover to an institution before it in the failover order), up to the moment it
 * broadcasts the batch that carries it; and a chain outage lapses
 * nobody's lease (every lease counts as renewed when the chain is readable again, and retries back off
 * to at most a quarter of the failover timeout, so a stalled holder makes progress again well within
 * it). When a node is killed, what it had broadcast and not yet seen mined may be relayed again by its
 * successor: at most its batches in flight.
 *
 * Nothing is executed twice: each operation is recorded "submitted" with its transaction's hash before
 * the broadcast, so a crash leaves a record the next start resolves from the chain (mined → outcome
 * read from the receipt; unknown → re-sent), and the contract refuses a second execution (counted as
 * success, and as a duplicate item). Nothing is lost: whole-transaction failures (RPC down, a reverted
 * or dropped transaction) put the operations back in the queue and retry with exponential backoff and
 * jitter; stop() keeps no state that storage does not hold.
 */
import { Counter, Gauge, type Registry } from "prom-client";

import { BATCH_ITEM_GAS, TX_GAS_CAP, type BatchGasBudgets } from "../../core/chain/batch-gas.js";
import { SettlenetError } from "../../core/errors.js";
import { BATCH_CALLDATA_BASE_BYTES, encodeBatchItem } from "../../core/operations/calldata.js";
import { isTokenOperation, operationSchema, toContractOperation, type Operation } from "../../core/operations/index.js";
import type { Deployment } from "../../core/protocol/deployment.js";
import { FINAL_OPERATION_STATUSES, type StoredOperation } from "../../core/records.js";
import type { Logger, Modules, Relayer, Storage } from "../services.js";
import { EscrowBatchSubmitter } from "./escrow-submitter.js";
import { LEASE_TOPIC, LeaseBoard, MAX_CLAIMS_PER_MESSAGE, decodeClaims, decodeLease, encodeClaims, encodeLease, type LeaseBody } from "./lease.js";
import { LeaseFailover, type Backlog, type DueGroup } from "./scheduler.js";
import { describe, type TransactionSender } from "./sender.js";
import { relayEntry, type RelayEntry, type Settlement, type Submission } from "./submission.js";
import { TokenSubmitter } from "./token-submitter.js";

export { LEASE_TOPIC };

export interface BatchRelayerOptions {
  deployment: Deployment;
  /** This node's institution id (its first account). */
  institutionId: string;
  /** Most operations per `executeBatch` transaction. */
  batchSize?: number;
  /** Longest an API operation waits for a batch to fill. */
  batchIntervalMs?: number;
  /** Shortest time after a holder's last lease renewal before this node relays its operations (and how long an unclaimed one waits). */
  failoverTimeoutMs?: number;
  /** How often this node sends its lease message. */
  leaseRenewMs?: number;
  /** Cap of the backoff between whole-transaction retries (default a quarter of failoverTimeoutMs, at most 5 s). */
  maxRetryDelayMs?: number;
  /** Batches sent and not yet mined at the same time. */
  maxInFlightBatches?: number;
  /** Most gas of one batch transaction; default the chain's block gas limit, at most 2^24. */
  maxBatchGas?: number;
  /** Most calldata bytes of one batch transaction (transaction pools refuse large ones). */
  maxBatchBytes?: number;
  /** Refuse new API work when the oldest own operation not executed yet is older than this. */
  maxLagMs?: number;
  /** Refuse new API work when queued and in-flight batch items need more gas than this. */
  maxQueueGas?: number;
  /** Gas budgets of batch items by class (default BATCH_ITEM_GAS, measured on the contracts). */
  itemGas?: Partial<BatchGasBudgets>;
}

export interface BatchRelayerModules extends Modules {
  /** The transaction sender of this node's key (the one settlement finalizes with); it also signs the lease. */
  sender: TransactionSender;
  storage: Storage;
  /** Active institutions (RegistryView.activeInstitutions). */
  activeInstitutions: () => { id: string }[];
  /** The operator key of an institution, which signs its lease (default: the id itself). */
  signerOf?: (institution: string) => string | undefined;
  /**
   * Indexes the chain up to its head now (reporting settled operations through `settled`); awaited
   * before this node takes over anything. Absent: take over on the index as it is.
   */
  catchUp?: () => Promise<unknown>;
  /** A batch of this node's was mined in this block (the node's head poll hears of it at once: ChainHeads.saw). */
  onBlockMined?: (blockNumber: number) => void;
  metrics?: Registry;
}

/**
 * Counts of what the relayer has done since it was built, only ever growing: whoever must know that it
 * looked at some work (a test asserting that something did not happen) waits on these, not on the clock.
 */
export interface RelayProgress {
  /** Times the send loop found nothing to send yet and went to wait (for a batch to fill, or for work). */
  idlePasses: number;
  /** Times the send loop had as many batches in flight as it may keep (maxInFlightBatches) and waited for one to settle. */
  fullPasses: number;
  /** Batch transactions started (each counts as in flight from then until it is mined or given up). */
  batchesStarted: number;
  /** Operations taken off the queue unsent because storage already held them executed or failed. */
  droppedFinal: number;
  /** Operations in transactions this node broadcast. */
  sent: number;
  /** Submissions that sent nothing because sending failed (each one backs off). */
  sendFailures: number;
  /** Failover sweeps finished. */
  sweeps: number;
  /** Operations a sweep found due for takeover and left for a later one: the chain could not be read, or only just could again. */
  deferredChainDown: number;
  /** Operations a sweep found due for takeover and left to their holder, which renewed or is still mining. */
  deferredHolderAlive: number;
  /** Operations taken over from a lapsed holder or unclaimed. */
  takenOver: number;
  /** Lapsed leases counted renewed because the holder's key mined transactions past the nonce its lease gave. */
  renewedOnChain: number;
}

/** Whether the API may take new work now (see `admission`). */
export type Admission = { refuse: false } | { refuse: true; retryAfterSeconds: number; lagMs: number; queueGas: number };

/** Upper bound of operations reloaded per status on start (the repository lists have no cursor). */
const RELOAD_LIMIT = 1_000_000;
const BASE_RETRY_DELAY_MS = 100;
/** Share of a batch kept for operations taken over from others while own ones wait too. */
const TAKEOVER_SHARE = 0.25;
/** How long admission figures are reused (the API asks on every request). */
const ADMISSION_CACHE_MS = 100;
/** Gas of a batch transaction around its items, at most (intrinsic gas, executeBatch itself, the calldata head). */
const BATCH_OVERHEAD_GAS = 100_000n;
/** Longest a takeover waits for the lapsed holder's pending transactions to be mined or dropped. */
const HOLDER_PENDING_WAIT_MS = 30_000;
/**
 * With nothing pending and nothing claimed, a lease is renewed only every this many renewal periods,
 * valid three times as long: an idle node has nothing for others to take over, so frequent renewals
 * would be background traffic (a signature, a gossip message and a verification on every peer) only.
 */
const IDLE_RENEW_PERIODS = 10;
/** Per lease tick, how much of the largest lateness seen so far is still counted (about 35 ticks to half). */
const TICK_LATENESS_DECAY = 0.98;

interface RelayMetrics {
  duplicates: Counter<"origin">;
  takeovers: Counter<"from">;
  deferred: Counter<"reason">;
  yielded: Counter;
  refusals: Counter;
  leases: Counter<"result">;
}

/** Relays accepted operations on-chain with batching, failover by lease and retries; see the module comment. */
export class BatchRelayer implements Relayer {
  /** This node's institution id as configured, and in lower case. */
  private readonly institution: string;
  private readonly self: string;
  private readonly chainId: string;
  private readonly batchSize: number;
  private readonly batchIntervalMs: number;
  private readonly failoverTimeoutMs: number;
  private readonly leaseRenewMs: number;
  private readonly maxRetryDelayMs: number;
  private readonly maxInFlightBatches: number;
  private readonly maxBatchBytes: number;
  private readonly maxLagMs: number;
  private readonly maxQueueGas: bigint;
  private readonly budgets: BatchGasBudgets;
  private maxBatchGas: bigint;
  /** True unless maxBatchGas was configured: read the block gas limit at start. */
  private readonly readGasLimit: boolean;
  private readonly sender: TransactionSender;
  private readonly storage: Storage;
  private readonly log: Logger;
  private readonly m: RelayMetrics;
  private readonly escrow: EscrowBatchSubmitter;
  private readonly tokens: TokenSubmitter;
  private readonly leases = new LeaseBoard();
  private readonly failover: LeaseFailover;

  /** This node's own operations (its API's), in FIFO order. */
  private readonly own = new Map<string, RelayEntry>();
  /** Operations taken over from other institutions, in FIFO order. */
  private readonly takeovers = new Map<string, RelayEntry>();
  /** Entries sent in a batch of their own (they ran out of gas inside one). */
  private readonly solo = new Map<string, RelayEntry>();
  /** Token operations ready to send, in FIFO order. */
  private readonly tokenQueue = new Map<string, RelayEntry>();
  /** In a sent transaction, or being recovered from a "submitted" record. */
  private readonly inflight = new Map<string, RelayEntry>();
  private queued = { count: 0, gas: 0n, bytes: 0, urgent: 0 };
  private readonly tasks = new Set<Promise<void>>();
  private inflightBatches = 0;
  /** Token transactions sent (or being recovered) and not yet resolved. */
  private inflightTokens = 0;
  private running = false;
  private startedAt = 0;
  private abort = new AbortController();
  /** Whoever waits in idle() for work, each removed once woken (by wake() or its own timer). */
  private readonly waiters = new Set<() => void>();
  private failures = 0;
  private backoffUntil = 0;

  // Lease holding.
  private publishLease: ((data: Uint8Array) => Promise<number>) | undefined;
  private readonly claims = new Set<string>();
  private leaseSeq = 0;
  private lastRenewalAt = 0;
  /** The validity its last renewal announced: past it, the others may take its operations over. */
  private lastValidForMs = 0;
  /** When the current run of idle renewals began to be sent (undefined: the last renewal was not an idle one). */
  private idleRenewalAt: number | undefined;
  /** The backlog its last lease message gave (the others judge by it whether it may hold an unclaimed operation). */
  private announced: Backlog | undefined;
  private lastMinedAt = 0;
  /** When each transaction in flight (batch or token operation) began to be sent or was recovered, oldest first. */
  private readonly sendsSince = new Map<symbol, number>();
  private progressBlock = 0;
  /** Send → mined latency of this node's transactions (exponentially weighted). */
  private latencyMs = 0;
  /**
   * How late this node's lease ticks have fired recently (a decaying maximum): on a busy machine its
   * timers, and so its renewals, come seconds late, and its lease must outlast such a stall.
   */
  private tickLateMs = 0;
  private lastTickAt = 0;
  private leaseTimer: NodeJS.Timeout | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private sweeping = false;
  /** Ids settled while a sweep was checking the chain. */
  private readonly settledInSweep = new Set<string>();
  /** The last catch-up with the chain failed. */
  private chainDown = false;
  /** When the chain became readable again after a failed catch-up. */
  private chainBackAt: number | undefined;
  private admissionCache: { at: number; lagMs: number; queueGas: bigint } | undefined;
  private readonly counts: RelayProgress = {
    idlePasses: 0,
    fullPasses: 0,
    batchesStarted: 0,
    droppedFinal: 0,
    sent: 0,
    sendFailures: 0,
    sweeps: 0,
    deferredChainDown: 0,
    deferredHolderAlive: 0,
    renewedOnChain: 0,
    takenOver: 0,
  };

  constructor(options: BatchRelayerOptions, private readonly modules: BatchRelayerModules) {
    this.self = options.institutionId.toLowerCase();
    this.chainId = String(options.deployment.chainId);
    this.batchSize = options.batchSize ?? 100;
    this.batchIntervalMs = options.batchIntervalMs ?? 200;
    this.failoverTimeoutMs = options.failoverTimeoutMs ?? 5_000;
    this.leaseRenewMs = options.leaseRenewMs ?? 1_000;
    // A holder stalled by an outage must make progress again well within its lease once the chain is back.
    this.maxRetryDelayMs = options.maxRetryDelayMs ?? Math.min(5_000, Math.max(BASE_RETRY_DELAY_MS, Math.floor(this.failoverTimeoutMs / 4)));
    this.maxInFlightBatches = options.maxInFlightBatches ?? 16;
    this.maxBatchBytes = options.maxBatchBytes ?? 120_000;
    this.maxLagMs = options.maxLagMs ?? 5_000;
    this.maxQueueGas = BigInt(options.maxQueueGas ?? 200_000_000);
    this.budgets = { ...BATCH_ITEM_GAS, ...options.itemGas };
    this.maxBatchGas = options.maxBatchGas === undefined ? TX_GAS_CAP : BigInt(options.maxBatchGas);
    this.readGasLimit = options.maxBatchGas === undefined;
    this.institution = options.institutionId;
    if (this.batchSize < 1) throw new SettlenetError("RELAY_BAD_OPTION", "batchSize must be at least 1", { batchSize: this.batchSize });
    this.sender = modules.sender;
    this.storage = modules.storage;
    this.log = modules.logger.child({ module: "relay" });
    const registers = modules.metrics ? [modules.metrics] : [];
    this.m = {
      duplicates: new Counter({
        name: "settlenet_relay_duplicate_items_total",
        help: "Batch items (and token operations) this node sent that the chain refused as already executed, by the operation's origin here (api: own, gossip: taken over)",
        labelNames: ["origin"],
        registers,
      }),
      takeovers: new Counter({ name: "settlenet_relay_takeovers_total", help: "Operations this node took over, from a lapsed lease or unclaimed", labelNames: ["from"], registers }),
      deferred: new Counter({
        name: "settlenet_relay_takeovers_deferred_total",
        help: "Operations found due for takeover and left for a later sweep, by reason (chain: the chain could not be read, or only just could again; holder: it renewed or is still mining)",
        labelNames: ["reason"],
        registers,
      }),
      yielded: new Counter({ name: "settlenet_relay_yielded_total", help: "Operations this node had queued and left to another institution that claimed them", registers }),
      refusals: new Counter({ name: "settlenet_relay_admission_refusals_total", help: "API requests refused RELAY_BACKLOG", registers }),
      leases: new Counter({ name: "settlenet_relay_lease_messages_total", help: "Lease messages, by result (sent, renewed, accepted, ignored, rejected)", labelNames: ["result"], registers }),
    };
    if (modules.metrics) {
      // eslint-disable-next-line @typescript-eslint/no-this-alias -- prom-client calls collect() with the gauge as `this`
      const relayer = this;
      new Gauge({
        name: "settlenet_relay_lag_seconds",
        help: "Age of the oldest operation this node accepted from its API and has not seen executed",
        registers,
        collect() {
          this.set(relayer.figures(Date.now()).lagMs / 1000);
        },
      });
      new Gauge({
        name: "settlenet_relay_queue_gas",
        help: "Gas the batch items queued or in flight need",
        registers,
        collect() {
          this.set(Number(relayer.figures(Date.now()).queueGas));
        },
      });
      new Gauge({
        name: "settlenet_relay_watched_operations",
        help: "Gossip operations watched for failover",
        registers,
        collect() {
          this.set(relayer.failover.size);
        },
      });
    }
    this.failover = new LeaseFailover(
      { institutionId: this.self, failoverTimeoutMs: this.failoverTimeoutMs, leaseRenewMs: this.leaseRenewMs },
      { activeInstitutions: modules.activeInstitutions, leases: this.leases, announcedBacklog: () => this.announcedBacklog() },
    );
    const submitterModules = { sender: this.sender, storage: modules.storage, logger: this.log, duplicates: this.m.duplicates };
    this.escrow = new EscrowBatchSubmitter(
      { deployment: options.deployment },
      { ...submitterModules, budgets: this.budgets, onMined: (block, latencyMs) => this.mined(block, latencyMs) },
    );
    this.tokens = new TokenSubmitter(submitterModules);
  }

  /** Sets the publisher of this node's lease messages (the network starts after the relayer exists). */
  setLeasePublisher(publish: (data: Uint8Array) => Promise<number>): void {
    this.publishLease = publish;
  }

  /**
   * Queues API operations for relay and watches gossip operations for failover. `parsed[i]`, when
   * given, is `ops[i]` as validation parsed it (saves parsing the stored form again).
   */
  enqueue(ops: StoredOperation[], parsed?: readonly Operation[]): void {
    const now = Date.now();
    ops.forEach((op, i) => this.admit(op, now, parsed?.[i]));
    // Idle until now, its last renewal holds for the long idle validity: cut it short at once, so that
    // if this node dies with this work the others take it over after the active validity, not that one.
    if (this.idleRenewalAt !== undefined && this.claims.size > 0) this.announceLease();
    this.wake();
  }

  /** Drops settled operations from the queues and from the failover watch. */
  settled(ids: string[]): void {
    for (const id of ids) {
      // A sweep holds what it took out of the watch while it checks the chain: it must not put these back.
      if (this.sweeping) this.settledInSweep.add(id);
      this.failover.cancel(id);
      this.claims.delete(id);
      // A transaction already sent is left alone: its receipt says what happened.
      this.unqueue(id);
      this.tokenQueue.delete(id);
    }
  }

  /**
   * Whether the API may take new work: refused while this node's relay lags more than `maxLagMs` or
   * its queue needs more than `maxQueueGas`, with the seconds after which to try again.
   */
  admission(now = Date.now()): Admission {
    const { lagMs, queueGas } = this.figures(now);
    if (lagMs <= this.maxLagMs && queueGas <= this.maxQueueGas) return { refuse: false };
    this.m.refusals.inc();
    const retryAfterSeconds = Math.min(30, Math.max(1, Math.ceil(lagMs / 2_000)));
    return { refuse: true, retryAfterSeconds, lagMs, queueGas: Number(queueGas) };
  }

  /** What the relayer has done so far (a copy). */
  progress(): RelayProgress {
    return { ...this.counts };
  }

  /** A lease message from the lease topic: "reject" if it is forged or malformed, "ignore" if stale. */
  onLease(data: Uint8Array): "accept" | "ignore" | "reject" {
    let body: LeaseBody;
    try {
      body = decodeLease(data, (institution) => this.signerOf(institution));
    } catch (error) {
      // An institution this node's registry mirror does not know yet is no fault of the forwarding peer.
      const unknown = error instanceof SettlenetError && error.code === "UNKNOWN_INSTITUTION";
      this.m.leases.inc({ result: unknown ? "ignored" : "rejected" });
      this.log.debug({ error: describe(error) }, "lease message refused");
      return unknown ? "ignore" : "reject";
    }
    const holder = body.institution.toLowerCase();
    const now = Date.now();
    const active = this.modules.activeInstitutions().some((institution) => institution.id.toLowerCase() === holder);
    if (body.chainId !== this.chainId || holder === this.self || !active) {
      this.m.leases.inc({ result: "ignored" });
      return "ignore";
    }
    if (!this.leases.record(body, now)) {
      this.m.leases.inc({ result: "ignored" });
      return "ignore";
    }
    this.m.leases.inc({ result: "accepted" });
    if (body.claims.length > 0) {
      const ids = decodeClaims(body.claims);
      this.yieldClaimed(holder, ids, now);
      this.failover.claim(holder, ids, now);
    }
    return "accept";
  }

  /** Reloads this node's unfinished operations from storage and starts relaying. */
  async start(): Promise<void> {
    if (this.running) return;
    const relayer = await this.sender.address();
    this.abort = new AbortController();
    this.failures = 0;
    this.backoffUntil = 0;
    this.startedAt = Date.now();
    this.lastTickAt = 0;
    this.tickLateMs = 0;
    this.chainDown = false;
    this.chainBackAt = undefined;
    const [accepted, submitted] = await Promise.all([
      this.storage.operations.listByStatus("accepted", RELOAD_LIMIT),
      this.storage.operations.listByStatus("submitted", RELOAD_LIMIT),
    ]);
    if (accepted.length === RELOAD_LIMIT || submitted.length === RELOAD_LIMIT) {
      this.log.warn({ limit: RELOAD_LIMIT }, "more unfinished operations than reloaded; the rest wait for the next start");
    }
    if (this.readGasLimit) await this.readBlockGasLimit();
    await this.readMinedCount();
    this.running = true;
    const now = Date.now();
    for (const op of accepted) this.admit(op, now);
    const byTx = new Map<string, RelayEntry[]>();
    for (const op of submitted) {
      if (this.inflight.has(op.id)) continue;
      const entry = this.entryOf(op, now, { urgent: true, takeover: op.origin !== "api" });
      if (!entry) continue;
      // Enqueued before start with a stale status: the stored "submitted" record wins.
      this.unqueue(op.id);
      this.tokenQueue.delete(op.id);
      this.failover.cancel(op.id);
      this.inflight.set(op.id, entry);
      this.claims.add(op.id);
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
      if (escrowEntries.length > 0) this.follow(escrowEntries, this.escrow.recover(txHash, escrowEntries, signal), this.sendStarted("batch"));
      // A token transaction carries exactly one operation.
      for (const entry of entries.filter((e) => isTokenOperation(e.parsed))) this.follow([entry], this.tokens.recover(txHash, entry, signal), this.sendStarted("token"));
    }
    this.leaseTimer = setInterval(() => this.leaseTick(), this.leaseRenewMs);
    this.sweepTimer = setInterval(() => void this.sweep(), Math.max(50, Math.floor(this.leaseRenewMs / 4)));
    this.leaseTimer.unref();
    this.sweepTimer.unref();
    this.log.info({ relayer, accepted: accepted.length, submitted: submitted.length, maxBatchGas: this.maxBatchGas.toString() }, "relayer started");
    this.spawn(this.pump());
  }

  /** Stops sending; whatever was not finished stays in storage for the next start. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    clearInterval(this.leaseTimer);
    clearInterval(this.sweepTimer);
    this.abort.abort();
    this.wake();
    await Promise.allSettled([...this.tasks]);
    this.failover.clear();
    this.own.clear();
    this.takeovers.clear();
    this.solo.clear();
    this.queued = { count: 0, gas: 0n, bytes: 0, urgent: 0 };
    this.tokenQueue.clear();
    this.inflight.clear();
    this.claims.clear();
    this.inflightBatches = 0;
    this.inflightTokens = 0;
    this.sendsSince.clear();
    this.log.info("relayer stopped");
  }

  // ---------------------------------------------------------------- queueing

  private admit(op: StoredOperation, now: number, parsed?: Operation): void {
    if (FINAL_OPERATION_STATUSES.includes(op.status) || this.isKnown(op.id)) return;
    if (op.origin === "api") {
      const entry = this.entryOf(op, now, { urgent: false, takeover: false }, parsed);
      if (!entry) return;
      this.enqueueEntry(entry);
      this.claims.add(op.id);
      return;
    }
    // Watched from now (a reloaded one too): the claims of its holder and the index get their full time to arrive.
    if (!this.failover.watch(op, now)) this.log.debug({ id: op.id }, "not an active institution: gossip operation not watched");
  }

  /** The relay entry of a stored operation; `validated` is its parsed form if validation just gave it (else the stored form is parsed). */
  private entryOf(op: StoredOperation, now: number, fields: { urgent: boolean; takeover: boolean; takenFrom?: string }, validated?: Operation): RelayEntry | undefined {
    let parsed = validated;
    if (parsed === undefined) {
      const result = operationSchema.safeParse(op.op);
      if (!result.success) {
        this.log.error({ id: op.id }, "stored operation does not parse; not relayed");
        return undefined;
      }
      parsed = result.data;
    }
    const acceptedAt = Math.max(op.receivedAtMs, this.startedAt);
    return relayEntry(op, parsed, encodeEscrowItem, { since: now, acceptedAt, budgets: this.budgets, ...fields });
  }

  private isKnown(id: string): boolean {
    return this.own.has(id) || this.takeovers.has(id) || this.solo.has(id) || this.tokenQueue.has(id) || this.failover.has(id) || this.inflight.has(id);
  }

  /** Token operations go to the token contract one by one; escrow operations are batched. */
  private enqueueEntry(entry: RelayEntry): void {
    const id = entry.op.id;
    if (isTokenOperation(entry.parsed)) {
      this.tokenQueue.set(id, entry);
      return;
    }
    this.unqueue(id);
    const queue = entry.alone ? this.solo : entry.takeover ? this.takeovers : this.own;
    queue.set(id, entry);
    this.queued.count++;
    this.queued.gas += entry.gas;
    this.queued.bytes += entry.bytes;
    if (entry.urgent) this.queued.urgent++;
  }

  /** Takes `id` out of the escrow queues; the entry, if it was queued. */
  private unqueue(id: string): RelayEntry | undefined {
    for (const queue of [this.own, this.takeovers, this.solo]) {
      const entry = queue.get(id);
      if (!entry) continue;
      queue.delete(id);
      this.queued.count--;
      this.queued.gas -= entry.gas;
      this.queued.bytes -= entry.bytes;
      if (entry.urgent) this.queued.urgent--;
      return entry;
    }
    return undefined;
  }

  /** Puts entries back in their queue, to be sent next; those another institution claimed meanwhile are left to it. */
  private requeue(entries: RelayEntry[]): void {
    const now = Date.now();
    for (const entry of entries) {
      this.inflight.delete(entry.op.id);
      if (!this.running) continue;
      const claimer = this.failover.claimedBy(entry.op.id);
      if (claimer !== undefined && this.yields(entry, claimer)) this.leaveTo(claimer, [entry], now);
      else this.enqueueEntry({ ...entry, urgent: true });
    }
    this.wake();
  }

  private forget(entries: RelayEntry[]): void {
    for (const entry of entries) {
      this.inflight.delete(entry.op.id);
      this.claims.delete(entry.op.id);
    }
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
        this.counts.fullPasses++;
        await this.idle();
        continue;
      }
      const dueAt = this.flushAt(now);
      if (dueAt > now) {
        this.counts.idlePasses++;
        await this.idle(dueAt === Infinity ? undefined : dueAt - now);
        continue;
      }
      const batch = this.takeBatch();
      if (batch.length === 0) {
        this.counts.idlePasses++;
        await this.idle();
        continue;
      }
      for (const entry of batch) this.inflight.set(entry.op.id, entry);
      const settled = this.sendStarted("batch");
      // Not awaited: the next batch is built, signed and recorded while this one is broadcast and mined.
      this.spawn(
        this.sendBatch(batch).finally(() => {
          settled();
          this.wake();
        }),
      );
    }
  }

  /** The gas available to items in one batch. */
  private itemGasCap(): bigint {
    return this.maxBatchGas - BATCH_OVERHEAD_GAS;
  }

  /** When the escrow queues should be flushed: now if a batch is full or something is urgent, else after batchIntervalMs. */
  private flushAt(now: number): number {
    if (this.queued.count === 0) return Infinity;
    if (this.solo.size > 0 || this.queued.urgent > 0) return now;
    if (this.queued.count >= this.batchSize || this.queued.gas >= this.itemGasCap() || BATCH_CALLDATA_BASE_BYTES + this.queued.bytes >= this.maxBatchBytes) return now;
    let oldest = Infinity;
    for (const queue of [this.own, this.takeovers]) {
      const first = queue.values().next();
      if (!first.done) oldest = Math.min(oldest, first.value.since);
    }
    return oldest + this.batchIntervalMs;
  }

  /**
   * The next batch, taken out of the queues: a solo entry alone, else own operations first and taken-over
   * ones after, each kind keeping its share while the other waits, within batchSize, the gas cap and the byte cap.
   */
  private takeBatch(): RelayEntry[] {
    const [solo] = this.solo.values();
    if (solo) {
      this.unqueue(solo.op.id);
      return [solo];
    }
    const gasCap = this.itemGasCap();
    const batch: RelayEntry[] = [];
    let gas = 0n;
    let bytes = BATCH_CALLDATA_BASE_BYTES;
    const fill = (queue: Map<string, RelayEntry>, maxItems: number, maxGas: bigint): void => {
      let taken = 0;
      // Deleting the entry being visited is safe while iterating a Map.
      for (const entry of queue.values()) {
        if (batch.length >= this.batchSize || taken >= maxItems) return;
        if (gas + entry.gas > maxGas || bytes + entry.bytes > this.maxBatchBytes) {
          // Always make progress: an entry alone never exceeds the caps by construction of the budgets.
          if (batch.length === 0) {
            this.unqueue(entry.op.id);
            batch.push(entry);
          }
          return;
        }
        this.unqueue(entry.op.id);
        batch.push(entry);
        gas += entry.gas;
        bytes += entry.bytes;
        taken++;
      }
    };
    const both = this.own.size > 0 && this.takeovers.size > 0;
    const ownItems = both ? Math.ceil(this.batchSize * (1 - TAKEOVER_SHARE)) : this.batchSize;
    const ownGas = both ? (gasCap * BigInt(Math.round((1 - TAKEOVER_SHARE) * 100))) / 100n : gasCap;
    fill(this.own, ownItems, ownGas);
    fill(this.takeovers, this.batchSize, gasCap);
    fill(this.own, this.batchSize, gasCap);
    return batch;
  }

  private async sendBatch(batch: RelayEntry[]): Promise<void> {
    try {
      const submission = await this.submit("batch", batch, (kept) => this.escrow.submit(kept, this.abort.signal, (entries) => this.stillOurs(entries)));
      if (submission) await this.settle(batch, submission.settled);
    } catch (error) {
      this.log.error({ error: describe(error) }, "unexpected batch relay failure");
      this.counts.sendFailures++;
      this.backoff();
      this.requeue(batch);
    }
  }

  /**
   * False if another institution claimed an entry of a batch about to be broadcast, and this node leaves
   * it to that one: two institutions that took over from the same lapsed holder each judge the lapse on
   * their own clock, and under load their views can differ by more than the failover step, so the claim
   * of the one first in the failover order may arrive after the other built its batches but before it
   * sent them. The batch is then put back (requeue leaves the claimed entries to the claimer). Of two
   * takers only the later in the order leaves it, whatever either thinks of its own lease by then (its
   * batches wait to be signed, so it may see it lapsed): both leaving it would leave it to nobody.
   */
  private stillOurs(entries: RelayEntry[]): boolean {
    for (const entry of entries) {
      const claimer = this.failover.claimedBy(entry.op.id);
      if (claimer === undefined || claimer === this.self) continue;
      if (!entry.takeover || this.failover.precedes(claimer, entry.takenFrom, entry.op.id)) {
        this.log.info({ claimer, ops: entries.length }, "batch not sent: another institution claimed its operations meanwhile");
        return false;
      }
    }
    return true;
  }

  private async sendToken(entry: RelayEntry): Promise<void> {
    const submission = await this.submit("token operation", [entry], ([kept]) => (kept ? this.tokens.submit(kept, this.abort.signal) : undefined));
    if (!submission) return;
    this.follow([entry], submission.settled, this.sendStarted("token"));
  }

  /** Counts a transaction of `kind` in flight from now; the function returned counts it settled. */
  private sendStarted(kind: "batch" | "token"): () => void {
    if (kind === "batch") {
      this.inflightBatches++;
      this.counts.batchesStarted++;
    } else this.inflightTokens++;
    const key = Symbol(kind);
    this.sendsSince.set(key, Date.now());
    return () => {
      if (kind === "batch") this.inflightBatches--;
      else this.inflightTokens--;
      this.sendsSince.delete(key);
    };
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
        this.counts.sent += kept.length;
      } else if (submission.error !== undefined) {
        this.counts.sendFailures++;
        this.backoff();
        this.log.warn({ error: describe(submission.error), ops: kept.length, retryInMs: this.backoffUntil - Date.now() }, `${what} not sent; retrying`);
      }
      return submission;
    } catch (error) {
      // The submitters handle their own failures; this keeps the pump alive whatever happens.
      this.log.error({ error: describe(error) }, `unexpected ${what} relay failure`);
      this.counts.sendFailures++;
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
      if (current && FINAL_OPERATION_STATUSES.includes(current.status)) {
        this.forget([entry]);
        this.counts.droppedFinal++;
      } else keep.push(entry);
    });
    return keep;
  }

  /** Waits for a submission's settlement: forgets its entries, re-queues what must be sent again. */
  private async settle(entries: RelayEntry[], settled: Promise<Settlement>): Promise<void> {
    try {
      const settlement = await settled;
      this.forget(entries);
      if (settlement.backoff) this.backoff();
      if (settlement.requeue.length > 0) {
        for (const entry of settlement.requeue) this.claims.add(entry.op.id);
        this.requeue(settlement.requeue);
      }
    } catch (error) {
      this.log.error({ error: describe(error) }, "unexpected failure while settling a transaction");
      this.backoff();
      this.requeue(entries);
    } finally {
      this.wake();
    }
  }

  /** Applies a settlement once it comes, in its own task; `finished` runs after it (then the pump is woken). */
  private follow(entries: RelayEntry[], settled: Promise<Settlement>, finished?: () => void): void {
    this.spawn(
      this.settle(entries, settled).finally(() => {
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

  /**
   * The key's transactions mined so far, for the nonce its lease messages give: a key that sent
   * transactions before this start (an earlier run, set-up) would otherwise announce a lower nonce, and
   * the others would take its mined count for fresh progress and leave its work for one more validity
   * after its lease lapsed.
   */
  private async readMinedCount(): Promise<void> {
    try {
      this.sender.noteMinedCount(await this.sender.minedTransactionCount(await this.sender.address()));
    } catch (error) {
      this.log.warn({ error: describe(error) }, "cannot read this key's mined transaction count; its lease gives the nonce it knows");
    }
  }

  /** The block gas limit, read once (at most 2^24 a transaction); on failure the cap stays and is read again next start. */
  private async readBlockGasLimit(): Promise<void> {
    try {
      const limit = await this.sender.blockGasLimit();
      if (limit < this.maxBatchGas) this.maxBatchGas = limit;
    } catch (error) {
      this.log.warn({ error: describe(error) }, "cannot read the block gas limit; batches stay within the transaction gas cap");
    }
  }

  // ---------------------------------------------------------------- admission

  /** Relay lag and queued gas now (reused for ADMISSION_CACHE_MS). */
  private figures(now: number): { lagMs: number; queueGas: bigint } {
    const cached = this.admissionCache;
    // Figures asked for a later instant are not reused for an earlier one.
    if (cached && now >= cached.at && now - cached.at < ADMISSION_CACHE_MS) return cached;
    let oldest = now;
    for (const queue of [this.own, this.solo, this.tokenQueue, this.inflight]) {
      for (const entry of queue.values()) if (!entry.takeover && entry.acceptedAt < oldest) oldest = entry.acceptedAt;
    }
    let inflightGas = 0n;
    for (const entry of this.inflight.values()) inflightGas += entry.gas;
    const figures = { at: now, lagMs: now - oldest, queueGas: this.queued.gas + inflightGas };
    this.admissionCache = figures;
    return figures;
  }

  // ---------------------------------------------------------------- lease

  /** A transaction of this node's was mined: progress for the lease, and a latency sample. */
  private mined(blockNumber: number, latencyMs: number): void {
    this.modules.onBlockMined?.(blockNumber);
    this.lastMinedAt = Date.now();
    this.progressBlock = Math.max(this.progressBlock, blockNumber);
    this.latencyMs = this.latencyMs === 0 ? latencyMs : 0.8 * this.latencyMs + 0.2 * latencyMs;
  }

  /** Pending work of this node: count and the time the oldest was received. */
  private pendingWork(now: number): { pending: number; oldest: number } {
    let pending = 0;
    let oldest = now;
    for (const queue of [this.own, this.takeovers, this.solo, this.tokenQueue, this.inflight]) {
      pending += queue.size;
      for (const entry of queue.values()) if (entry.op.receivedAtMs < oldest) oldest = entry.op.receivedAtMs;
    }
    return { pending, oldest };
  }

  /**
   * True if this node made progress since its last renewal: idle, something mined, only just batching,
   * or its oldest transaction in flight was sent less than `validForMs` ago. A send slower than usual
   * (a loaded machine, a large batch) keeps the lease; a send that hangs lets it lapse, one validity
   * after the last renewal, at most two after the send began.
   */
  private progressing(now: number, pending: number, validForMs: number): boolean {
    if (pending === 0 || this.lastMinedAt > this.lastRenewalAt) return true;
    if (now < this.backoffUntil) return false;
    const oldestSend = this.sendsSince.values().next();
    if (!oldestSend.done) return now - oldestSend.value < validForMs;
    let oldestSince = now;
    for (const queue of [this.own, this.takeovers, this.solo, this.tokenQueue]) {
      const first = queue.values().next();
      if (!first.done) oldestSince = Math.min(oldestSince, first.value.since);
    }
    return now - oldestSince < this.batchIntervalMs + this.leaseRenewMs;
  }

  /** The lease timer's tick: measures how late it fired, then sends the lease message. */
  private leaseTick(): void {
    if (!this.running) return;
    const now = Date.now();
    if (this.lastTickAt > 0) this.tickLateMs = Math.max(now - this.lastTickAt - this.leaseRenewMs, Math.floor(this.tickLateMs * TICK_LATENESS_DECAY));
    this.lastTickAt = now;
    this.announceLease();
  }

  /**
   * Sends this node's lease message: a renewal while it progresses, and what it claimed since the last
   * one. The timer sends it every leaseRenewMs; claims of a takeover, and the first work after idling,
   * send it at once.
   */
  private announceLease(): void {
    const publish = this.publishLease;
    if (!this.running || !publish) return;
    const now = Date.now();
    const { pending, oldest } = this.pendingWork(now);
    const activeValidForMs = Math.max(this.failoverTimeoutMs, 3 * this.leaseRenewMs, Math.round(4 * this.latencyMs), 4 * this.tickLateMs);
    // Idle at the last tick: no time to have stalled yet, and the long idle validity must be cut short now.
    const renew = this.idleRenewalAt !== undefined || this.progressing(now, pending, activeValidForMs);
    const ids = [...this.claims].filter((id) => this.inflight.has(id) || this.own.has(id) || this.takeovers.has(id) || this.solo.has(id) || this.tokenQueue.has(id));
    this.claims.clear();
    if (!renew && ids.length === 0) return;
    const idleEveryMs = IDLE_RENEW_PERIODS * this.leaseRenewMs;
    const idle = pending === 0 && ids.length === 0;
    if (idle && this.idleRenewalAt !== undefined && now - this.idleRenewalAt < idleEveryMs) return;
    this.idleRenewalAt = idle ? now : undefined;
    const validForMs = Math.min(3_600_000, idle ? Math.max(activeValidForMs, 3 * idleEveryMs) : activeValidForMs);
    if (renew) {
      this.lastRenewalAt = now;
      this.lastValidForMs = validForMs;
    }
    this.announced = { pending, oldestPendingAt: oldest };
    for (let at = 0; at === 0 || at < ids.length; at += MAX_CLAIMS_PER_MESSAGE) {
      this.leaseSeq = Math.max(this.leaseSeq + 1, now);
      const body: LeaseBody = {
        v: 1,
        chainId: this.chainId,
        institution: this.institution,
        seq: this.leaseSeq,
        renew,
        validForMs,
        progressBlock: this.progressBlock,
        nonce: this.sender.nextNonceHint(),
        pending,
        oldestPendingAgeMs: now - oldest,
        claims: encodeClaims(ids.slice(at, at + MAX_CLAIMS_PER_MESSAGE)),
      };
      const data = encodeLease(body, (digest) => this.sender.signDigest(digest));
      this.m.leases.inc({ result: renew ? "renewed" : "sent" });
      publish(data).catch((error: unknown) => this.log.debug({ error: describe(error) }, "lease message not published"));
    }
  }

  /** True once this node's own lease has lapsed, as the others judge it (no renewal within its validity). */
  private ownLeaseLapsed(): boolean {
    return Date.now() >= this.lastRenewalAt + Math.max(this.lastValidForMs, this.failoverTimeoutMs);
  }

  /** The backlog this node's last lease message announced, while that lease lasts (undefined after it lapsed). */
  private announcedBacklog(): Backlog | undefined {
    return this.ownLeaseLapsed() ? undefined : this.announced;
  }

  /**
   * `claimer` claimed `ids`: those this node has queued and not sent it leaves to it, and watches under
   * its lease instead (taken over again if that lapses). A claim of this node's own operation means the
   * claimer found this node's lease lapsed and took it over; of a takeover, that two took it over.
   */
  private yieldClaimed(claimer: string, ids: string[], now: number): void {
    const left: RelayEntry[] = [];
    for (const id of ids) {
      const entry = this.own.get(id) ?? this.takeovers.get(id) ?? this.solo.get(id) ?? this.tokenQueue.get(id);
      // Not queued here, or already sent: the transaction's receipt says what happened.
      if (!entry || !this.yields(entry, claimer)) continue;
      this.unqueue(id);
      this.tokenQueue.delete(id);
      left.push(entry);
    }
    this.leaveTo(claimer, left, now);
  }

  /**
   * Whether this node leaves `entry` to `claimer`: its own operation always; one it took over if its own
   * lease has lapsed (the claimer took it from this node) or `claimer` comes first in the failover order
   * (both took it over from the same holder).
   */
  private yields(entry: RelayEntry, claimer: string): boolean {
    if (claimer.toLowerCase() === this.self) return false;
    if (!entry.takeover || this.ownLeaseLapsed()) return true;
    return this.failover.precedes(claimer, entry.takenFrom, entry.op.id);
  }

  private leaveTo(claimer: string, entries: RelayEntry[], now: number): void {
    if (entries.length === 0) return;
    for (const entry of entries) this.claims.delete(entry.op.id);
    this.failover.restore({ holder: claimer.toLowerCase(), ops: entries.map((entry) => entry.op) }, () => now);
    this.m.yielded.inc(entries.length);
    this.log.info({ claimer: claimer.toLowerCase(), ops: entries.length }, "operations claimed by another institution: left to it");
  }

  /** Takes over what the failover says is due, once the chain and the index have been checked. */
  private async sweep(): Promise<void> {
    if (!this.running || this.sweeping) return;
    this.sweeping = true;
    this.settledInSweep.clear();
    try {
      await this.checkLapsedOnChain(Date.now());
      const now = Date.now();
      const due = this.failover.due(now);
      if (due.length === 0) return;
      const unsettled = (group: DueGroup): DueGroup => ({ ...group, ops: group.ops.filter((op) => !this.settledInSweep.has(op.id)) });
      const restore = (group: DueGroup): number => {
        const left = unsettled(group);
        this.failover.restore(left, (op) => Math.min(op.receivedAtMs, now));
        return left.ops.length;
      };
      // The index first: what someone executed meanwhile is settled, and nothing is sent on a chain this
      // node cannot read (its holder cannot either, and must get its chance once the chain is back).
      if (!(await this.chainReadable())) {
        let left = 0;
        for (const group of due) left += restore(group);
        this.counts.deferredChainDown += left;
        this.m.deferred.inc({ reason: "chain" }, left);
        return;
      }
      const leaveToHolder = (group: DueGroup) => {
        const left = restore(group);
        this.counts.deferredHolderAlive += left;
        this.m.deferred.inc({ reason: "holder" }, left);
      };
      for (const group of due.map(unsettled)) {
        // The checks above take time: the holder may have renewed meanwhile.
        if (group.holder !== undefined && this.leases.live(group.holder, Date.now(), this.failoverTimeoutMs)) {
          leaveToHolder(group);
          continue;
        }
        const signer = group.holder === undefined ? undefined : this.signerOf(group.holder);
        if (signer !== undefined && group.holder !== undefined && ((await this.holderProgressed(group.holder, signer)) || (await this.holderStillSending(group.holder, signer, now)))) {
          leaveToHolder(group);
          continue;
        }
        // So do those reads: a renewal that arrived meanwhile still wins.
        if (group.holder !== undefined && this.leases.live(group.holder, Date.now(), this.failoverTimeoutMs)) {
          leaveToHolder(group);
          continue;
        }
        this.takeOver(group);
      }
    } catch (error) {
      this.log.warn({ error: describe(error) }, "failover sweep failed");
    } finally {
      this.sweeping = false;
      this.counts.sweeps++;
    }
  }

  private readonly pendingSince = new Map<string, number>();
  /** When each lapsed holder's key was last looked up on-chain. */
  private readonly chainChecks = new Map<string, number>();

  /**
   * A holder whose lease lapsed but whose key mined transactions since its last known nonce is alive
   * (its lease messages are late, e.g. behind a busy link): that renews it. Read at most once per
   * leaseRenewMs per holder, and only for holders with work pending or held here.
   */
  private async checkLapsedOnChain(now: number): Promise<void> {
    for (const lease of this.leases.lapsedHolders(now, this.failoverTimeoutMs)) {
      if (lease.pending === 0 && !this.failover.holds(lease.institution)) continue;
      if (now - (this.chainChecks.get(lease.institution) ?? 0) < this.leaseRenewMs) continue;
      this.chainChecks.set(lease.institution, now);
      const signer = this.signerOf(lease.institution);
      if (signer === undefined) continue;
      try {
        await this.renewIfMinedOnChain(lease.institution, signer);
      } catch (error) {
        this.log.debug({ error: describe(error) }, "cannot read a lapsed holder's nonce");
      }
    }
  }

  /**
   * Read now, just before a takeover: true if the lapsed holder's key mined transactions since its last
   * known nonce (it is alive and relaying; that renews its lease), or if its nonce cannot be read.
   */
  private async holderProgressed(holder: string, signer: string): Promise<boolean> {
    try {
      return await this.renewIfMinedOnChain(holder, signer);
    } catch {
      return true;
    }
  }

  /** Renews (counts, logs) the lapsed holder's lease if its key mined past the nonce its lease gave; throws if the count cannot be read. */
  private async renewIfMinedOnChain(holder: string, signer: string): Promise<boolean> {
    const mined = await this.sender.minedTransactionCount(signer);
    if (!this.leases.progressedOnChain(holder, mined, Date.now())) return false;
    this.counts.renewedOnChain++;
    this.m.leases.inc({ result: "renewed_on_chain" });
    this.log.info({ holder, nonce: mined }, "lease lapsed but its key keeps mining transactions: left to it");
    return true;
  }

  /** True while the lapsed holder's key still has transactions waiting to be mined (they may carry its operations). */
  private async holderStillSending(holder: string, signer: string, now: number): Promise<boolean> {
    let pending: boolean;
    try {
      pending = await this.sender.hasPendingTransactions(signer);
    } catch {
      return true;
    }
    if (!pending) {
      this.pendingSince.delete(holder);
      return false;
    }
    const since = this.pendingSince.get(holder) ?? now;
    this.pendingSince.set(holder, since);
    return now - since < HOLDER_PENDING_WAIT_MS;
  }

  /** Catches the index up; true unless the chain cannot be read, or could not until less than failoverTimeoutMs ago. */
  private async chainReadable(): Promise<boolean> {
    const catchUp = this.modules.catchUp;
    if (!catchUp) return true;
    try {
      await catchUp();
    } catch (error) {
      this.chainDown = true;
      this.log.debug({ error: describe(error) }, "cannot catch up with the chain; no takeover until it is readable again");
      return false;
    }
    const now = Date.now();
    if (this.chainDown) {
      this.chainDown = false;
      this.chainBackAt = now;
      // Nobody could relay while this node could not read the chain either: no lease lapsed meanwhile.
      this.leases.renewAll(now);
    }
    // Back after an outage: the holders get their chance to renew first.
    return this.chainBackAt === undefined || now - this.chainBackAt >= this.failoverTimeoutMs;
  }

  private takeOver(group: DueGroup): void {
    const now = Date.now();
    let count = 0;
    // Claimed by someone else while this node was checking: watched under that one's lease instead.
    const claimed = group.ops.filter((op) => this.failover.claimedBy(op.id) !== undefined);
    if (claimed.length > 0) this.failover.restore({ holder: undefined, ops: claimed }, () => now);
    for (const op of group.ops) {
      if (this.isKnown(op.id)) continue;
      const entry = this.entryOf(op, now, { urgent: true, takeover: true, ...(group.holder ? { takenFrom: group.holder } : {}) });
      if (!entry) continue;
      this.enqueueEntry(entry);
      this.claims.add(op.id);
      count++;
    }
    if (count === 0) return;
    this.counts.takenOver += count;
    this.m.takeovers.inc({ from: group.holder === undefined ? "unclaimed" : "lapsed" }, count);
    this.log.info({ holder: group.holder ?? null, ops: count }, group.holder ? "lease lapsed: relaying the operations it held" : "relaying operations nobody claimed");
    // Claimed at once, so that the institutions after this one in the failover order leave them alone.
    this.announceLease();
    this.wake();
  }

  private signerOf(institution: string): string | undefined {
    const known = this.modules.activeInstitutions().some((i) => i.id.toLowerCase() === institution.toLowerCase());
    if (!known) return undefined;
    return this.modules.signerOf ? this.modules.signerOf(institution) : institution;
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
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const waiter of waiters) waiter();
  }

  /** Waits for wake() or `ms`, whichever comes first. */
  private idle(ms?: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = ms === undefined ? undefined : setTimeout(done, ms);
      this.waiters.add(done);
    });
  }
}

/** The batch item of an escrow operation (token operations have none). */
function encodeEscrowItem(parsed: Operation): Buffer | undefined {
  return isTokenOperation(parsed) ? undefined : encodeBatchItem(toContractOperation(parsed));
}
