/**
 * Chain indexer: follows PaymentEscrow events from the deployment block, builds the payment records
 * (payments by id, payer, merchant, institution and time), marks stored operations executed or
 * failed from what the chain did, and keeps a cursor. Everything comes from the event logs and one
 * block read per block with events (its time and each transaction's sender, the relayer): a failed
 * batch item's log names its operation id, an executed operation is found among the payment's pending
 * ones by the events its descriptor lists (core/operations/<kind>.ts), and no calldata is decoded.
 * A step of one or two blocks (a node keeping up) reads its blocks in the same JSON-RPC batch as its
 * logs, whether they hold escrow events or not: one request for the chain to serve instead of two.
 * Each step (a block range) is written in one atomic, synced batch together with the cursor, so a
 * crash never half-indexes and a restart resumes after the last indexed block. RPC errors are retried
 * with exponential backoff.
 */
import { Interface, getAddress, type AbstractProvider } from "ethers";

import { outcomeOf } from "../../core/chain/outcome.js";
import { SettlenetError } from "../../core/errors.js";
import { EventDecoder, canSend, fetchLogs, type ChainLog, type DecodedEvent } from "./events.js";
import type { ChainHeads } from "../chain/heads.js";
import { ChainFollower, FollowedIndexer, stepUpTo } from "./follower.js";
import { loadArtifact } from "../../core/protocol/artifacts.js";
import type { Deployment } from "../../core/protocol/deployment.js";
import {
  ESCROW_OPERATION_KINDS,
  descriptorOf,
  escrowKindsExecutedBy,
  eventMatches,
  operationIdOfPayment,
  type EscrowOperationKind,
} from "../../core/operations/index.js";
import type { IndexBatch, Logger, Storage } from "../services.js";
import type { PaymentEventRecord, PaymentRecord, StoredOperation } from "../../core/records.js";

export interface IndexerOptions {
  deployment: Deployment;
  /** Pause between steps once caught up with the head. */
  pollIntervalMs: number;
  /** Widest block range of one getLogs call and one atomic step (default 2000). */
  maxBlocksPerStep?: number;
  /** Blocks behind the head to stay (default 0: the chain is final, as with QBFT). */
  confirmations?: number;
}

export interface IndexerModules {
  provider: AbstractProvider;
  storage: Storage;
  /** Institution id of an account (the institution that opened it), if registered. */
  institutionOf: (account: string) => string | undefined;
  logger: Logger;
  /** The node's head poll: steps run when it sees a new block instead of on a timer of their own. */
  heads?: ChainHeads;
  /** Operation ids this step marked executed or failed (after the step is stored). */
  onSettled?: (ids: string[]) => void;
}

const PAYMENT_EVENTS = [
  "PaymentPaid",
  "PaymentFulfilled",
  "PaymentReleased",
  "PaymentRefunded",
  "PaymentDisputed",
  "PaymentResolved",
  "PaymentReclaimed",
] as const;
const INDEXED_EVENTS = [...PAYMENT_EVENTS, "OperationFailed"] as const;

/** Concurrent block look-ups within one step. */
const FETCH_CONCURRENCY = 16;

/** What one block read gives a step: its time and the sender of each transaction. */
interface BlockInfo {
  timestamp: number;
  senders: Map<string, string>;
}

type OperationChange = IndexBatch["operations"][number];

const PENDING: ReadonlySet<StoredOperation["status"]> = new Set(["accepted", "submitted"]);

/**
 * Whether an event that executed `op` settles it: while it waits to be seen on-chain, or when it is
 * recorded executed without where (a relay of this node's found it already executed by another's
 * transaction, and cannot tell which): the event says where, and nothing else about it changes.
 */
function awaitsExecution(op: StoredOperation): boolean {
  return PENDING.has(op.status) || (op.status === "executed" && op.execution === undefined);
}

/** Event arguments as strings (bigints in decimal), booleans kept. */
function argsOf(event: DecodedEvent): Record<string, string | boolean> {
  const args: Record<string, string | boolean> = {};
  for (const name of event.names) {
    const value = event.arg(name);
    args[name] = typeof value === "boolean" ? value : String(value);
  }
  return args;
}

/** Steps of fewer blocks than this read their blocks together with their logs. */
const SPECULATIVE_BLOCKS = 2;

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

interface RawBlock {
  timestamp: string;
  transactions: { hash: string; from: string }[];
}

/**
 * One read per block: its time, and who sent each transaction (the relayer of what it executed). The
 * block comes with its transactions, calldata included (their senders are nowhere else); it is read as
 * the JSON-RPC returns it, without ethers' formatting of every transaction.
 */
async function blockInfo(provider: AbstractProvider, number: number): Promise<BlockInfo> {
  if (!canSend(provider)) {
    const block = await provider.getBlock(number, true);
    if (!block) throw new SettlenetError("RPC_INCONSISTENT", "the RPC returned logs for a block it does not know", { blockNumber: number });
    return { timestamp: block.timestamp, senders: new Map(block.prefetchedTransactions.map((tx) => [tx.hash.toLowerCase(), getAddress(tx.from)])) };
  }
  const block = (await provider.send("eth_getBlockByNumber", [`0x${number.toString(16)}`, true])) as RawBlock | null;
  if (!block) throw new SettlenetError("RPC_INCONSISTENT", "the RPC returned logs for a block it does not know", { blockNumber: number });
  return { timestamp: Number(block.timestamp), senders: new Map(block.transactions.map((tx) => [tx.hash.toLowerCase(), getAddress(tx.from)])) };
}

/** Runs `fn` over `items` with at most `limit` in flight. */
async function mapLimited<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** What one step accumulates before it is written atomically. */
class StepState {
  readonly records = new Map<string, PaymentRecord | null>();
  readonly touched = new Set<string>();
  /** Stored operations read in this step, by id (null: not stored here). */
  readonly byId = new Map<string, StoredOperation | null>();
  readonly byPayment = new Map<string, StoredOperation[]>();
  readonly changes = new Map<string, OperationChange>();

  constructor(
    readonly blocks: Map<number, BlockInfo>,
    private readonly storage: Storage,
  ) {}

  timestamp(blockNumber: number): number {
    return this.blocks.get(blockNumber)?.timestamp ?? 0;
  }

  async record(paymentId: string): Promise<PaymentRecord | undefined> {
    const key = paymentId.toLowerCase();
    if (!this.records.has(key)) this.records.set(key, (await this.storage.payments.get(key)) ?? null);
    return this.records.get(key) ?? undefined;
  }

  put(record: PaymentRecord): void {
    const key = record.paymentId.toLowerCase();
    this.records.set(key, record);
    this.touched.add(key);
  }

  /**
   * Reads in one go the stored operations the step's events can settle by id (the failed items' and
   * those whose id follows from the payment id), instead of one read per event.
   */
  async prefetch(events: DecodedEvent[]): Promise<void> {
    const ids = new Set<string>();
    for (const event of events) {
      if (event.name === "OperationFailed") {
        ids.add(String(event.arg("operationId")).toLowerCase());
        continue;
      }
      const paymentId = String(event.arg("paymentId")).toLowerCase();
      for (const kind of escrowKindsExecutedBy(event.name, true)) {
        const id = operationIdOfPayment(kind, paymentId);
        if (id !== undefined) ids.add(id.toLowerCase());
      }
    }
    const wanted = [...ids].filter((id) => !this.byId.has(id));
    if (wanted.length === 0) return;
    const stored = await this.storage.operations.getMany(wanted);
    wanted.forEach((id, i) => this.byId.set(id, stored[i] ?? null));
  }

  /**
   * The stored operation `id` if it still waits to be seen on-chain (and was not settled in this step);
   * for an execution (`executed`), also one recorded executed without where.
   */
  async pendingById(id: string, executed = false): Promise<StoredOperation | undefined> {
    const key = id.toLowerCase();
    if (!this.byId.has(key)) this.byId.set(key, (await this.storage.operations.get(key)) ?? null);
    const op = this.byId.get(key);
    return op && (executed ? awaitsExecution(op) : PENDING.has(op.status)) && !this.changes.has(key) ? op : undefined;
  }

  /**
   * Stored operations of the payment of `kinds` an execution settles (awaitsExecution), oldest received
   * first. Kinds whose id follows from the payment id are read by id; the others need the payment's list.
   */
  async pending(paymentId: string, kinds: readonly EscrowOperationKind[]): Promise<StoredOperation[]> {
    const key = paymentId.toLowerCase();
    const byId = kinds.map((kind) => operationIdOfPayment(kind, key));
    if (byId.every((id) => id !== undefined)) {
      const ops = await Promise.all(byId.map((id) => this.pendingById(id, true)));
      return ops.filter((op): op is StoredOperation => op !== undefined);
    }
    let ops = this.byPayment.get(key);
    if (!ops) {
      ops = await this.storage.operations.listByPayment(key);
      this.byPayment.set(key, ops);
    }
    return ops.filter((op) => awaitsExecution(op) && (kinds as readonly string[]).includes(op.kind) && !this.changes.has(op.id.toLowerCase()));
  }

  settle(change: OperationChange): void {
    this.changes.set(change.id.toLowerCase(), change);
  }

  payments(): PaymentRecord[] {
    return [...this.touched].map((key) => this.records.get(key)).filter((r): r is PaymentRecord => r !== null && r !== undefined);
  }
}

/** Follows escrow events into storage; see the module comment. */
export class Indexer extends FollowedIndexer {
  private readonly events: EventDecoder;
  private readonly escrowAddress: string;
  private readonly maxBlocksPerStep: number;
  private readonly confirmations: number;
  protected readonly follower: ChainFollower;

  constructor(
    private readonly options: IndexerOptions,
    private readonly modules: IndexerModules,
  ) {
    super();
    this.events = new EventDecoder(new Interface(loadArtifact("PaymentEscrow").abi), INDEXED_EVENTS);
    this.escrowAddress = options.deployment.contracts.escrow;
    this.maxBlocksPerStep = options.maxBlocksPerStep ?? 2000;
    this.confirmations = options.confirmations ?? 0;
    this.follower = new ChainFollower({ name: "indexer", pollIntervalMs: options.pollIntervalMs }, { logger: modules.logger, sync: (head) => this.sync(head), ...(modules.heads ? { heads: modules.heads } : {}) });
    if (!Number.isInteger(this.maxBlocksPerStep) || this.maxBlocksPerStep < 1) {
      throw new SettlenetError("INVALID_ARGUMENT", "maxBlocksPerStep must be a positive integer", { maxBlocksPerStep: this.maxBlocksPerStep });
    }
  }

  private async sync(knownHead?: number): Promise<number> {
    const { provider, storage, logger } = this.modules;
    const cursor = (await storage.getCursor()) ?? this.options.deployment.deploymentBlock - 1;
    const head = (knownHead ?? (await provider.getBlockNumber())) - this.confirmations;
    const stored = (settled: string[]) => {
      if (settled.length > 0) this.modules.onSettled?.(settled);
    };
    return stepUpTo({ cursor, head, maxBlocksPerStep: this.maxBlocksPerStep }, (from, to) => this.step(from, to), stored, logger);
  }

  /** Indexes blocks [from, to] and stores the result with cursor = to; returns the settled operation ids. */
  private async step(from: number, to: number): Promise<string[]> {
    const { provider, storage, logger } = this.modules;
    // A step of a block or two (the node keeping up) asks for its blocks together with the logs, in one
    // JSON-RPC batch: one request fewer for the chain to serve per step, on every node.
    const ahead = to - from < SPECULATIVE_BLOCKS ? range(from, to).map((number) => [number, blockInfo(provider, number)] as const) : [];
    for (const [, read] of ahead) read.catch(() => undefined);
    const logs = await fetchLogs(provider, { address: this.escrowAddress, fromBlock: from, toBlock: to, topics: this.events.topics });
    const events: { log: ChainLog; event: DecodedEvent }[] = [];
    for (const log of logs) {
      if (log.removed || log.address.toLowerCase() !== this.escrowAddress.toLowerCase()) continue;
      const event = this.events.decode(log);
      if (event) events.push({ log, event });
    }
    events.sort((a, b) => a.log.blockNumber - b.log.blockNumber || a.log.index - b.log.index);

    const blocks = [...new Set(events.map(({ log }) => log.blockNumber))];
    const early = new Map(ahead);
    const infos = await mapLimited(blocks, FETCH_CONCURRENCY, (number) => early.get(number) ?? blockInfo(provider, number));
    const state = new StepState(new Map(blocks.map((number, i) => [number, infos[i] as BlockInfo])), storage);
    await state.prefetch(events.map(({ event }) => event));

    for (const { log, event } of events) {
      if (event.name === "OperationFailed") await this.onFailure(state, event);
      else await this.onPaymentEvent(state, log, event);
    }

    const operations = [...state.changes.values()];
    await storage.applyIndexBatch({ payments: state.payments(), operations, cursor: to });
    logger.debug({ from, to, events: events.length, payments: state.touched.size, operations: operations.length }, "indexed blocks");
    return operations.map((change) => change.id);
  }

  private async onPaymentEvent(state: StepState, log: ChainLog, event: DecodedEvent): Promise<void> {
    const arg = (name: string) => event.arg(name);
    const paymentId = String(arg("paymentId")).toLowerCase();
    const timestamp = state.timestamp(log.blockNumber);
    let record = await state.record(paymentId);

    if (event.name === "PaymentPaid") {
      if (!record) {
        const payer = String(arg("payer"));
        const merchant = String(arg("merchant"));
        const direct = Boolean(arg("direct"));
        record = {
          paymentId,
          payer,
          merchant,
          token: String(arg("token")),
          amount: String(arg("amount")),
          orderId: String(arg("orderId")),
          feeBps: Number(arg("feeBps")),
          direct,
          // As PaymentEscrow._pay: a direct payment is released at once.
          status: direct ? "released" : "held",
          refunded: "0",
          deadline: Number(arg("deadline")),
          payerInstitution: this.modules.institutionOf(payer) ?? "",
          merchantInstitution: this.modules.institutionOf(merchant) ?? "",
          paidAt: timestamp,
          paidBlock: log.blockNumber,
          updatedAt: timestamp,
          events: [],
        };
      }
    } else if (!record) {
      // Only possible when indexing started after the payment was made (a wrong deployment block).
      this.modules.logger.warn({ paymentId, event: event.name, blockNumber: log.blockNumber }, "escrow event for a payment never seen paid");
    } else {
      this.applyTransition(record, event);
    }

    if (record) {
      const seen = record.events.some((e) => e.txHash === log.transactionHash && e.logIndex === log.index);
      if (!seen) {
        const relayer = state.blocks.get(log.blockNumber)?.senders.get(log.transactionHash.toLowerCase());
        const entry: PaymentEventRecord = {
          event: event.name,
          blockNumber: log.blockNumber,
          txHash: log.transactionHash,
          logIndex: log.index,
          timestamp,
          args: argsOf(event),
          ...(relayer ? { relayer } : {}),
        };
        record.events.push(entry);
        record.updatedAt = Math.max(record.updatedAt, timestamp);
      }
      state.put(record);
    }

    await this.settleExecuted(state, log, event, record);
  }

  /** The payment state change of one event, exactly as PaymentEscrow makes it. */
  private applyTransition(record: PaymentRecord, event: DecodedEvent): void {
    const arg = (name: string) => event.arg(name);
    switch (event.name) {
      case "PaymentFulfilled":
        record.status = "fulfilled";
        record.deadline = Number(arg("releaseAt"));
        break;
      case "PaymentReleased":
        record.status = "released";
        record.deadline = Number(arg("refundDeadline"));
        break;
      case "PaymentRefunded":
        record.refunded = (BigInt(record.refunded) + BigInt(arg("amount") as bigint)).toString();
        // A partial refund keeps the status; refunding the rest ends the payment.
        if (BigInt(arg("remaining") as bigint) === 0n) record.status = "refunded";
        break;
      case "PaymentDisputed":
        record.status = "disputed";
        break;
      case "PaymentResolved":
        record.status = "resolved";
        record.refunded = (BigInt(record.refunded) + BigInt(arg("payerAmount") as bigint)).toString();
        break;
      case "PaymentReclaimed":
        record.status = "reclaimed";
        break;
    }
  }

  /** Marks the stored operations an executed event implies as executed (their descriptors name the events). */
  private async settleExecuted(state: StepState, log: ChainLog, event: DecodedEvent, record: PaymentRecord | undefined): Promise<void> {
    const paymentId = String(event.arg("paymentId")).toLowerCase();
    const kinds = escrowKindsExecutedBy(event.name, record?.direct === true);
    if (kinds.length === 0) return;
    let pending = await state.pending(paymentId, kinds);
    if (pending.length === 0) return;

    if (kinds.some((kind) => descriptorOf(kind).repeatable)) {
      // A kind a payment may take several of (refunds): the event executed exactly one operation, one
      // whose fields its arguments match. Equal ones are interchangeable; the oldest is taken.
      const chosen = pending.find((op) => eventMatches(op.op, event.name, event.arg));
      pending = chosen ? [chosen] : [];
    }
    // Every other kind happens at most once per payment: the event fulfils every pending operation of it.
    const relayer = state.blocks.get(log.blockNumber)?.senders.get(log.transactionHash.toLowerCase());
    if (!relayer) throw new SettlenetError("RPC_INCONSISTENT", "a log's transaction is not in its block", { txHash: log.transactionHash, blockNumber: log.blockNumber });
    const execution = { txHash: log.transactionHash, blockNumber: log.blockNumber, relayer, timestamp: state.timestamp(log.blockNumber) };
    for (const op of pending) state.settle({ id: op.id, status: "executed", execution });
  }

  /**
   * A failed batch item: the log names its operation; mark it failed. A failure that means it already
   * ran is settled by the execution's own event; one worth retrying is left to its relayer.
   */
  private async onFailure(state: StepState, event: DecodedEvent): Promise<void> {
    const kind = ESCROW_OPERATION_KINDS[Number(event.arg("kind"))];
    if (!kind) return;
    const outcome = outcomeOf(kind, String(event.arg("reason")));
    if (outcome.kind !== "failed") return;
    const target = await state.pendingById(String(event.arg("operationId")));
    if (target) state.settle({ id: target.id, status: "failed", error: outcome.error });
  }
}
