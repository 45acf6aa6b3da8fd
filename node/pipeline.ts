/**
 * The one path every operation takes into a node, from its API or from gossip, a group at a time (an
 * API call's operations, or one gossip message): validate the group (shared core; its signatures in
 * worker threads) → map each outcome (one place) → store the accepted operations in one synced batch
 * → only then gossip them as one message and hand them to the relayer. Nothing is acknowledged or
 * forwarded before it is durable, and the API acknowledges only once the gossip message is handed to
 * the peers.
 *
 * API groups accepted within `gossipWindowMs` of each other go out as one gossip message (up to
 * MAX_OPERATIONS_PER_MESSAGE operations or `gossipMaxBytes`): a peer's cost is mostly per message (framing,
 * encryption, gossipsub bookkeeping, one validation round and one synced batch per message), and API
 * groups are small at moderate load. Each API call is still answered only after its message is published.
 *
 * API operations are stored together with a gossip-outbox entry, cleared (in the next group's batch)
 * once their message is published. A failed publish is retried from the outbox with backoff, and `start` publishes what a
 * crash left there (stored, never gossiped), so peers always hear of what this node accepted.
 */
import type { Logger } from "pino";
import type { Counter, Registry } from "prom-client";

import type { SubmitOutcome } from "../core/api/operations.js";
import { SettlenetError } from "../core/errors.js";
import { failpoint } from "../core/failpoints.js";
import { descriptorOf, encodedLengthOf, escrowKindsExecutedBy, eventMatches, isTokenOperationKind, operationToJson, type EscrowOperationKind } from "../core/operations/index.js";
import type { OperationOrigin, StoredOperation } from "../core/records.js";
import { FINAL_OPERATION_STATUSES } from "../core/records.js";
import { decodeGossipMessage, encodeGossipMessage, MAX_OPERATIONS_PER_MESSAGE } from "./p2p/message.js";
import { counterOf } from "./metrics.js";
import type { Relayer, ValidatedOperation, ValidationContext } from "./services.js";
import type { OutcomeMapper } from "./validation/outcome.js";
import { type GossipVerdict, type Outcome } from "./validation/outcome.js";
import type { FundsGuard } from "./validation/funds.js";
import type { RiskEngine } from "./validation/risk.js";
import { refusal, type ValidationPath } from "./validation/refusal.js";
import { InlineVerifier, type SignatureVerifier } from "./validation/signature.js";
import { validateGroup, type GroupItem } from "./validation/validate.js";

export interface PipelineModules {
  logger: Logger;
  outcomes: OutcomeMapper;
  risk: RiskEngine;
  /** Recovers each group's signatures: the node passes its worker pool; default on the calling thread. */
  signatures?: SignatureVerifier;
  /** Absent on regulator nodes, which never relay. */
  relayer?: Relayer;
  /** Publishes a gossip message; set once the network is up. */
  publish?: (data: Uint8Array) => Promise<number>;
  /** Group sizes (operations per validated group, per stored group, per published message). */
  metrics?: Registry;
  /** Refuses on the API the pays their payers cannot fund, and counts every accepted pay as pending. */
  funds?: FundsGuard;
}

export interface PipelineOptions {
  /** Regulator nodes accept no operations through their API. */
  readOnly: boolean;
  /** Delay before publishing the gossip outbox again after a failed publish; doubles per failure up to `maxMs`. */
  republishBackoff?: { firstMs: number; maxMs: number };
  /** How long accepted API groups gather into one gossip message (0: a message per group). */
  gossipWindowMs?: number;
  /** A gathering message is published at once when the next group would take it past this size. */
  gossipMaxBytes?: number;
}

const DEFAULT_REPUBLISH_BACKOFF = { firstMs: 1_000, maxMs: 60_000 };
const DEFAULT_GOSSIP_MAX_BYTES = 512 * 1024;
/** The gossip message's header (message.ts). */
const GOSSIP_HEADER_BYTES = 3;

/** API operations gathering into one gossip message, and the callers waiting for it to be published. */
interface Gathering {
  ops: ValidatedOperation[];
  bytes: number;
  timer: NodeJS.Timeout | undefined;
  published: Promise<void>;
  done: () => void;
}

interface PipelineCounters {
  groups: Counter<"path">;
  groupOperations: Counter<"path">;
  storedGroups: Counter<"path">;
  storedOperations: Counter<"path">;
  messages: Counter;
  messageOperations: Counter;
}

/** An accepted operation of a group and the form it is stored in. */
interface Accepted {
  operation: ValidatedOperation;
  record: StoredOperation;
}

/** Validates, stores, gossips and relays operations; see the module comment. */
export class OperationPipeline {
  /** Ids accepted by a group whose synced write is under way (the seen-check cannot see them yet). */
  private readonly inFlight = new Set<string>();
  private readonly signatures: SignatureVerifier;
  private readonly backoff: { firstMs: number; maxMs: number };
  private backoffMs: number;
  private republishTimer: NodeJS.Timeout | undefined;
  /** The outbox drains, one at a time. */
  private draining: Promise<void> = Promise.resolve();
  /** Published ids whose outbox entries are still to be cleared (by the next stored group's batch). */
  private readonly toClear = new Set<string>();
  private stopped = false;
  private gathering: Gathering | undefined;
  /** Gathered messages being published (awaited by `stop`). */
  private readonly publishing = new Set<Promise<void>>();
  private readonly gossipWindowMs: number;
  private readonly gossipMaxBytes: number;
  private readonly counters: PipelineCounters;

  constructor(
    private readonly options: PipelineOptions,
    private readonly ctx: ValidationContext,
    private readonly modules: PipelineModules,
  ) {
    this.signatures = modules.signatures ?? new InlineVerifier();
    this.backoff = options.republishBackoff ?? DEFAULT_REPUBLISH_BACKOFF;
    this.backoffMs = this.backoff.firstMs;
    this.gossipWindowMs = options.gossipWindowMs ?? 0;
    this.gossipMaxBytes = options.gossipMaxBytes ?? DEFAULT_GOSSIP_MAX_BYTES;
    const registry = modules.metrics;
    this.counters = {
      groups: counterOf(registry, "settlenet_pipeline_groups_total", "Groups of operations validated, by path (api: one API call; gossip: one gossip message)", ["path"]),
      groupOperations: counterOf(registry, "settlenet_pipeline_group_operations_total", "Operations in the validated groups, by path", ["path"]),
      storedGroups: counterOf(registry, "settlenet_pipeline_stored_groups_total", "Groups with accepted operations stored (one write section each), by path", ["path"]),
      storedOperations: counterOf(registry, "settlenet_pipeline_stored_operations_total", "Accepted operations stored, by path", ["path"]),
      messages: counterOf(registry, "settlenet_gossip_published_messages_total", "Operations gossip messages this node published (groups and outbox)"),
      messageOperations: counterOf(registry, "settlenet_gossip_published_operations_total", "Operations in the gossip messages this node published"),
    };
  }

  /** Publishes what the gossip outbox holds (stored before a crash or a failed publish); call once the publisher is set. */
  start(): Promise<void> {
    return this.republish();
  }

  /** Stops retrying and waits for a running outbox drain and outbox clears (before closing storage). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.republishTimer);
    this.republishTimer = undefined;
    this.flushGathering();
    await Promise.all(this.publishing);
    await this.draining;
    const published = [...this.toClear];
    this.toClear.clear();
    await this.ctx.storage.operations.markPublished(published).catch((error: unknown) => {
      this.modules.logger.warn({ err: error, count: published.length }, "could not clear the gossip outbox (published again at the next start)");
    });
  }

  /** Operations accepted on the API that wait for their gathering gossip message. */
  gatheringOperations(): number {
    return this.gathering?.ops.length ?? 0;
  }

  /** Sets the gossip publisher (the network starts after the pipeline exists). */
  setPublisher(publish: (data: Uint8Array) => Promise<number>): void {
    this.modules.publish = publish;
  }

  /** API path: one outcome per input, in order. Accepted operations are durable before this resolves. */
  async submit(inputs: unknown[]): Promise<SubmitOutcome[]> {
    // A regulator's node relays nothing, but takes its regulator's freezes: stored and gossiped, the
    // institutions relay them (nobody claims them, so the first in failover order takes them over).
    if (this.options.readOnly && !inputs.every((input) => (input as { kind?: unknown } | null)?.kind === "freeze")) {
      return inputs.map(() => ({ accepted: false as const, error: new SettlenetError("READ_ONLY", "This node is read-only: it takes only a regulator's freezes") }));
    }
    const { outcomes, accepted } = await this.validateGroup(
      inputs.map((input) => ({ input })),
      "api",
    );
    const stored = await this.store(accepted, "api", { gossip: true });
    if (stored.length > 0) {
      // Handed to the peers before the caller hears "accepted": a crash right after the answer must
      // still leave the operations with nodes that can fail over, not only in this node's storage.
      this.modules.relayer?.enqueue(
        stored.map((a) => a.record),
        stored.map((a) => a.operation.op),
      );
      failpoint("after-store-before-gossip");
      await this.gossip(stored.map((a) => a.operation));
      failpoint("after-gossip-before-relay");
    }
    return outcomes.map((outcome) =>
      outcome.operation && outcome.code === "ACCEPTED"
        ? { accepted: true as const, id: outcome.operation.id }
        : { accepted: false as const, ...(outcome.operation ? { id: outcome.operation.id } : {}), error: refusalOf(outcome) },
    );
  }

  /**
   * Gossip path: one message is one group, validated and stored like an API group. The verdict is for
   * the whole message: reject if any operation in it is invalid (the forwarding peer is penalised even
   * when the rest of its group is good), else accept if any was new here, else ignore.
   */
  async onGossip(fromPeerId: string, data: Uint8Array): Promise<GossipVerdict> {
    let items: GroupItem[];
    try {
      items = decodeGossipMessage(data);
    } catch (error) {
      return this.modules.outcomes.map("gossip", { status: "rejected", reason: error }, { peerId: fromPeerId }).gossip;
    }
    const { outcomes, accepted } = await this.validateGroup(items, "gossip", fromPeerId);
    const stored = await this.settleIndexed(await this.store(accepted, "gossip"));
    if (stored.length > 0) {
      this.modules.relayer?.enqueue(
        stored.map((a) => a.record),
        stored.map((a) => a.operation.op),
      );
    }
    if (outcomes.some((outcome) => outcome.gossip === "reject")) return "reject";
    return outcomes.some((outcome) => outcome.gossip === "accept") ? "accept" : "ignore";
  }

  /**
   * Validates a group and maps each outcome (the one place, OutcomeMapper). Accepted operations are
   * claimed in `inFlight` in the same synchronous step as the mapping, so a concurrent group holding
   * one of them refuses it as a duplicate rather than storing and relaying it twice.
   */
  private async validateGroup(items: GroupItem[], path: ValidationPath, peerId?: string): Promise<{ outcomes: Outcome[]; accepted: Accepted[] }> {
    this.counters.groups.inc({ path });
    this.counters.groupOperations.inc({ path }, items.length);
    const settled = await validateGroup(items, this.ctx, path, { risk: this.modules.risk, signatures: this.signatures });
    const { funds } = this.modules;
    const available = funds && path === "api" ? await funds.prepare(settled.flatMap((result) => (result.status === "fulfilled" ? [result.value.op] : []))) : undefined;
    const seen = new Set<string>();
    const now = this.ctx.nowSeconds();
    const receivedAtMs = Date.now();
    const origin: OperationOrigin = path;
    const accepted: Accepted[] = [];
    const outcomes = settled.map((result, index) => {
      let outcome = this.modules.outcomes.map(path, result, peerId ? { peerId } : {});
      const op = outcome.operation;
      if (op && outcome.code === "ACCEPTED") {
        // The same operation twice in one group, or arriving concurrently on both paths: keep one.
        if (seen.has(op.id) || this.inFlight.has(op.id)) {
          outcome = this.modules.outcomes.map(path, { status: "rejected", reason: duplicate(op, path) }, { id: op.id });
        } else {
          // Cumulative limits and pending debits also count earlier operations of the same group.
          try {
            this.modules.risk.check(op.op, now, path);
            funds?.check(op.op, available);
            this.modules.risk.record(op.op, now);
            funds?.reserve(op.id, op.op);
            seen.add(op.id);
            this.inFlight.add(op.id);
            accepted.push({ operation: op, record: recordOf(op, items[index] as GroupItem, origin, receivedAtMs) });
          } catch (error) {
            outcome = this.modules.outcomes.map(path, { status: "rejected", reason: error }, { id: op.id });
          }
        }
      }
      return outcome;
    });
    return { outcomes, accepted };
  }

  /**
   * Stores a group's accepted operations in one synced batch (one fsync for the group); with `gossip`,
   * in the outbox too. The same batch clears the outbox entries of groups published since the last one.
   */
  private async store(accepted: Accepted[], path: ValidationPath, options: { gossip?: boolean } = {}): Promise<Accepted[]> {
    if (accepted.length === 0) return accepted;
    this.counters.storedGroups.inc({ path });
    this.counters.storedOperations.inc({ path }, accepted.length);
    const published = [...this.toClear];
    this.toClear.clear();
    try {
      await this.ctx.storage.operations.putAccepted(
        accepted.map((a) => a.record),
        { ...options, published },
      );
    } catch (error) {
      for (const id of published) this.toClear.add(id);
      for (const a of accepted) this.modules.funds?.release(a.operation.id);
      throw error;
    } finally {
      for (const a of accepted) this.inFlight.delete(a.operation.id);
    }
    return accepted;
  }

  /**
   * Gossip can bring an operation after the indexer stored the block that executed it (validation ran
   * before that block was indexed, the store after it): the indexer settled only what it held, so
   * such an operation would wait, and be relayed again by a takeover. Read after the store, the index
   * tells: an operation whose execution event the payment already has is settled executed now, as
   * the indexer would have, and not handed to the relayer. Kinds a payment may take several of
   * (refunds) are left to the indexer: an event cannot tell equal ones apart. Returns the rest.
   */
  private async settleIndexed(stored: Accepted[]): Promise<Accepted[]> {
    const settled: { id: string; patch: { status: "executed"; execution: NonNullable<StoredOperation["execution"]> } }[] = [];
    for (const { record } of stored) {
      if (isTokenOperationKind(record.kind) || descriptorOf(record.kind).repeatable) continue;
      const payment = await this.ctx.storage.payments.get(record.paymentId);
      const event = payment?.events.find(
        (e) => e.relayer !== undefined && escrowKindsExecutedBy(e.event, payment.direct).includes(record.kind as EscrowOperationKind) && eventMatches(record.op, e.event, (name) => e.args[name]),
      );
      if (!event?.relayer) continue;
      settled.push({ id: record.id, patch: { status: "executed", execution: { txHash: event.txHash, blockNumber: event.blockNumber, relayer: event.relayer, timestamp: event.timestamp } } });
    }
    if (settled.length === 0) return stored;
    await this.ctx.storage.operations.updateMany(settled);
    this.modules.logger.debug({ count: settled.length }, "gossiped operations already executed on-chain: settled from the index");
    const done = new Set(settled.map((s) => s.id));
    return stored.filter((a) => !done.has(a.record.id));
  }

  /**
   * Adds an API group to the gathering gossip message and resolves once that message is published (or
   * left in the outbox after a failed publish); never rejects. A gathering message goes out when its
   * window ends or once it is full (the operation or byte limit); a group that would take it past a
   * limit sends it at once and starts the next one.
   */
  private gossip(ops: ValidatedOperation[]): Promise<void> {
    if (!this.modules.publish) return Promise.resolve();
    if (this.gossipWindowMs === 0 || this.stopped) return this.publishGroup(ops);
    const bytes = ops.reduce((sum, o) => sum + (encodedLengthOf(o.op) ?? 0), 0);
    const open = this.gathering;
    if (open && (open.ops.length + ops.length > MAX_OPERATIONS_PER_MESSAGE || GOSSIP_HEADER_BYTES + open.bytes + bytes > this.gossipMaxBytes)) this.flushGathering();
    let gathering = this.gathering;
    if (!gathering) {
      let done!: () => void;
      const published = new Promise<void>((resolve) => (done = resolve));
      gathering = { ops: [], bytes: 0, timer: undefined, published, done };
      gathering.timer = setTimeout(() => this.flushGathering(), this.gossipWindowMs);
      this.gathering = gathering;
    }
    gathering.ops.push(...ops);
    gathering.bytes += bytes;
    const published = gathering.published;
    // Full: nothing more would fit, so it need not wait for its window.
    if (gathering.ops.length >= MAX_OPERATIONS_PER_MESSAGE || GOSSIP_HEADER_BYTES + gathering.bytes >= this.gossipMaxBytes) this.flushGathering();
    return published;
  }

  /** Publishes the gathering message now (its window ended, it is full, or the pipeline stops). */
  private flushGathering(): void {
    const gathering = this.gathering;
    if (!gathering) return;
    this.gathering = undefined;
    clearTimeout(gathering.timer);
    const publishing = this.publishGroup(gathering.ops).then(gathering.done);
    this.publishing.add(publishing);
    void publishing.finally(() => this.publishing.delete(publishing));
  }

  /**
   * Publishes operations as one message and clears them from the outbox; never rejects (the operations
   * are stored and relayed regardless). On failure they stay in the outbox and are published again later.
   */
  private async publishGroup(ops: ValidatedOperation[]): Promise<void> {
    const publish = this.modules.publish;
    if (!publish) return;
    try {
      await publish(encodeGossipMessage(ops.map((o) => o.op)));
      this.counters.messages.inc();
      this.counters.messageOperations.inc(ops.length);
    } catch (error) {
      this.modules.logger.warn({ err: error, count: ops.length, retryInMs: this.backoffMs }, "gossip publish failed; publishing again from the outbox");
      this.scheduleRepublish();
      return;
    }
    // Cleared with the next group's batch (or at stop), not by a write of its own: a clear lost in a
    // crash only means the group is published once more at the next start (peers ignore what they hold).
    for (const o of ops) this.toClear.add(o.id);
  }

  private scheduleRepublish(): void {
    if (this.stopped || this.republishTimer) return;
    this.republishTimer = setTimeout(() => {
      this.republishTimer = undefined;
      void this.republish();
    }, this.backoffMs);
    this.republishTimer.unref();
  }

  /** Queues one drain of the outbox after any running one; resolves when it is done (never rejects). */
  private republish(): Promise<void> {
    this.draining = this.draining.then(() => this.drainOutbox());
    return this.draining;
  }

  /**
   * Publishes the outbox a message at a time until it is empty; on a failed publish, backs off and
   * schedules the next drain. Operations already final (executed, failed) are only cleared.
   */
  private async drainOutbox(): Promise<void> {
    const publish = this.modules.publish;
    if (!publish || this.stopped) return;
    try {
      for (;;) {
        const pending = await this.ctx.storage.operations.listUnpublished(MAX_OPERATIONS_PER_MESSAGE);
        if (pending.length === 0) break;
        // Already published (awaiting their clear), or final (executed, failed): only cleared.
        const open = pending.filter((op) => !this.toClear.has(op.id) && !FINAL_OPERATION_STATUSES.includes(op.status));
        if (open.length > 0) {
          await publish(encodeGossipMessage(open.map((op) => op.op)));
          this.counters.messages.inc();
          this.counters.messageOperations.inc(open.length);
        }
        await this.ctx.storage.operations.markPublished(pending.map((op) => op.id));
        for (const op of pending) this.toClear.delete(op.id);
        this.modules.logger.info({ count: open.length }, "published operations from the gossip outbox");
        if (this.stopped) return;
      }
      this.backoffMs = this.backoff.firstMs;
    } catch (error) {
      this.backoffMs = Math.min(this.backoffMs * 2, this.backoff.maxMs);
      this.modules.logger.warn({ err: error, retryInMs: this.backoffMs }, "publishing the gossip outbox failed");
      this.scheduleRepublish();
    }
  }
}

/** The stored form of an accepted operation: as received on the API (its JSON object), else its JSON wire form. */
function recordOf(op: ValidatedOperation, item: GroupItem, origin: OperationOrigin, now: number): StoredOperation {
  const received = "input" in item && typeof item.input === "object" && item.input !== null && !(item.input instanceof Uint8Array) ? item.input : operationToJson(op.op);
  return {
    id: op.id,
    kind: op.op.kind,
    paymentId: op.paymentId,
    op: received as StoredOperation["op"],
    signer: op.signer,
    origin,
    status: "accepted",
    receivedAtMs: now,
    updatedAtMs: now,
  };
}

function duplicate(op: ValidatedOperation, path: ValidationPath) {
  return refusal("DUPLICATE", path, `operation ${op.id} submitted twice`, { id: op.id });
}

/** The coded refusal of an outcome that was not accepted. */
function refusalOf(outcome: Outcome): SettlenetError {
  return outcome.error ?? new SettlenetError(outcome.code, outcome.code);
}
