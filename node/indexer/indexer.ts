/**
 * Chain indexer: follows PaymentEscrow events from the deployment block, builds the payment records
 * (payments by id, payer, merchant, institution and time), marks stored operations executed or
 * failed from what the chain did, and keeps a cursor. Each step (a block range) is written in one
 * atomic batch together with the cursor, so a crash never half-indexes and a restart resumes after
 * the last indexed block. RPC errors are retried with exponential backoff.
 */
import { Interface, type AbstractProvider, type Log, type LogDescription, type Result } from "ethers";

import { outcomeOf } from "../../core/chain/outcome.js";
import { SettlenetError } from "../../core/errors.js";
import { ChainFollower } from "./follower.js";
import { loadArtifact } from "../../core/protocol/artifacts.js";
import type { Deployment } from "../../core/protocol/deployment.js";
import { OPERATION_KINDS, type OperationKindName, type PaymentTerms } from "../../core/protocol/eip712.js";
import { operationIdOf, paymentIdOf, type EscrowContext, type EscrowOperation } from "../../core/protocol/operations.js";
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

/** Concurrent block/transaction look-ups within one step. */
const FETCH_CONCURRENCY = 16;

/** One item of a relayed escrow call, identified as the node identifies operations. */
interface RelayedItem {
  id: string;
  kind: OperationKindName;
  paymentId: string;
}

interface TxInfo {
  from: string;
  /** The operations of an `execute`/`executeBatch` call, in batch order; undefined for other calls. */
  items?: RelayedItem[];
}

type OperationChange = IndexBatch["operations"][number];

const PENDING: ReadonlySet<StoredOperation["status"]> = new Set(["accepted", "submitted"]);

/** Event/error arguments as strings (bigints in decimal), booleans kept. */
function argsOf(fragmentInputs: readonly { name: string }[], values: Result): Record<string, string | boolean> {
  const args: Record<string, string | boolean> = {};
  fragmentInputs.forEach((input, i) => {
    const value: unknown = values[i];
    args[input.name] = typeof value === "boolean" ? value : String(value);
  });
  return args;
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
  readonly ops = new Map<string, StoredOperation[]>();
  readonly changes = new Map<string, OperationChange>();
  readonly txs = new Map<string, Promise<TxInfo>>();

  constructor(
    readonly timestamps: Map<number, number>,
    private readonly storage: Storage,
  ) {}

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

  /** Stored operations of the payment still waiting to be seen on-chain (and not settled in this step). */
  async pending(paymentId: string, kinds: readonly OperationKindName[]): Promise<StoredOperation[]> {
    const key = paymentId.toLowerCase();
    let ops = this.ops.get(key);
    if (!ops) {
      ops = await this.storage.operations.listByPayment(key);
      this.ops.set(key, ops);
    }
    return ops.filter((op) => PENDING.has(op.status) && (kinds as readonly string[]).includes(op.kind) && !this.changes.has(op.id.toLowerCase()));
  }

  settle(change: OperationChange): void {
    this.changes.set(change.id.toLowerCase(), change);
  }

  payments(): PaymentRecord[] {
    return [...this.touched].map((key) => this.records.get(key)).filter((r): r is PaymentRecord => r !== null && r !== undefined);
  }
}

/** Follows escrow events into storage; see the module comment. */
export class Indexer {
  private readonly escrow: Interface;
  private readonly topics: string[];
  private readonly ctx: EscrowContext;
  private readonly maxBlocksPerStep: number;
  private readonly confirmations: number;
  private readonly follower: ChainFollower;

  constructor(
    private readonly options: IndexerOptions,
    private readonly modules: IndexerModules,
  ) {
    this.escrow = new Interface(loadArtifact("PaymentEscrow").abi);
    this.topics = INDEXED_EVENTS.map((name) => {
      const event = this.escrow.getEvent(name);
      if (!event) throw new SettlenetError("ABI_MISMATCH", `PaymentEscrow ABI lacks event ${name}`, { event: name });
      return event.topicHash;
    });
    this.ctx = { chainId: BigInt(options.deployment.chainId), escrow: options.deployment.contracts.escrow };
    this.maxBlocksPerStep = options.maxBlocksPerStep ?? 2000;
    this.confirmations = options.confirmations ?? 0;
    this.follower = new ChainFollower({ name: "indexer", pollIntervalMs: options.pollIntervalMs }, { logger: modules.logger, sync: () => this.sync() });
    if (!Number.isInteger(this.maxBlocksPerStep) || this.maxBlocksPerStep < 1) {
      throw new SettlenetError("INVALID_ARGUMENT", "maxBlocksPerStep must be a positive integer", { maxBlocksPerStep: this.maxBlocksPerStep });
    }
  }

  /** Starts following the chain in the background. */
  async start(): Promise<void> {
    this.follower.start();
  }

  /** Stops following; waits for the step in progress (bounded, in case the RPC hangs). */
  stop(): Promise<void> {
    return this.follower.stop();
  }

  /** Indexes every block up to the head (less confirmations); returns the new cursor. Calls run one at a time. */
  syncOnce(): Promise<number> {
    return this.follower.syncOnce();
  }

  private async sync(): Promise<number> {
    const { provider, storage, logger } = this.modules;
    let cursor = (await storage.getCursor()) ?? this.options.deployment.deploymentBlock - 1;
    const head = (await provider.getBlockNumber()) - this.confirmations;
    while (cursor < head) {
      const to = Math.min(head, cursor + this.maxBlocksPerStep);
      const settled = await this.step(cursor + 1, to);
      cursor = to;
      if (settled.length > 0 && this.modules.onSettled) {
        try {
          this.modules.onSettled(settled);
        } catch (error) {
          logger.error({ err: error }, "onSettled listener failed");
        }
      }
    }
    return cursor;
  }

  /** Indexes blocks [from, to] and stores the result with cursor = to; returns the settled operation ids. */
  private async step(from: number, to: number): Promise<string[]> {
    const { provider, storage, logger } = this.modules;
    const logs = await provider.getLogs({ address: this.ctx.escrow, fromBlock: from, toBlock: to, topics: [this.topics] });
    const events: { log: Log; event: LogDescription }[] = [];
    for (const log of logs) {
      if (log.removed || log.address.toLowerCase() !== this.ctx.escrow.toLowerCase()) continue;
      const event = this.escrow.parseLog(log);
      if (event) events.push({ log, event });
    }
    events.sort((a, b) => a.log.blockNumber - b.log.blockNumber || a.log.index - b.log.index);

    const blocks = [...new Set(events.map(({ log }) => log.blockNumber))];
    const times = await mapLimited(blocks, FETCH_CONCURRENCY, async (number) => {
      const block = await provider.getBlock(number);
      if (!block) throw new SettlenetError("RPC_INCONSISTENT", "the RPC returned logs for a block it does not know", { blockNumber: number });
      return block.timestamp;
    });
    const state = new StepState(new Map(blocks.map((number, i) => [number, times[i] ?? 0])), storage);

    for (const { log, event } of events) {
      if (event.name === "OperationFailed") await this.onFailure(state, log, event);
      else await this.onPaymentEvent(state, log, event);
    }

    const operations = [...state.changes.values()];
    await storage.applyIndexBatch({ payments: state.payments(), operations, cursor: to });
    logger.debug({ from, to, events: events.length, payments: state.touched.size, operations: operations.length }, "indexed blocks");
    return operations.map((change) => change.id);
  }

  private async onPaymentEvent(state: StepState, log: Log, event: LogDescription): Promise<void> {
    const args = event.args;
    const paymentId = String(args.getValue("paymentId")).toLowerCase();
    const timestamp = state.timestamps.get(log.blockNumber) ?? 0;
    let record = await state.record(paymentId);

    if (event.name === "PaymentPaid") {
      if (!record) {
        const payer = String(args.getValue("payer"));
        const merchant = String(args.getValue("merchant"));
        const direct = Boolean(args.getValue("direct"));
        record = {
          paymentId,
          payer,
          merchant,
          token: String(args.getValue("token")),
          amount: String(args.getValue("amount")),
          orderId: String(args.getValue("orderId")),
          feeBps: Number(args.getValue("feeBps")),
          direct,
          // As PaymentEscrow._pay: a direct payment is released at once.
          status: direct ? "released" : "held",
          refunded: "0",
          deadline: Number(args.getValue("deadline")),
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
        const entry: PaymentEventRecord = {
          event: event.name,
          blockNumber: log.blockNumber,
          txHash: log.transactionHash,
          logIndex: log.index,
          timestamp,
          args: argsOf(event.fragment.inputs, args),
        };
        record.events.push(entry);
        record.updatedAt = Math.max(record.updatedAt, timestamp);
      }
      state.put(record);
    }

    await this.settleExecuted(state, log, event, record);
  }

  /** The payment state change of one event, exactly as PaymentEscrow makes it. */
  private applyTransition(record: PaymentRecord, event: LogDescription): void {
    const args = event.args;
    switch (event.name) {
      case "PaymentFulfilled":
        record.status = "fulfilled";
        record.deadline = Number(args.getValue("releaseAt"));
        break;
      case "PaymentReleased":
        record.status = "released";
        record.deadline = Number(args.getValue("refundDeadline"));
        break;
      case "PaymentRefunded":
        record.refunded = (BigInt(record.refunded) + BigInt(args.getValue("amount") as bigint)).toString();
        // A partial refund keeps the status; refunding the rest ends the payment.
        if (BigInt(args.getValue("remaining") as bigint) === 0n) record.status = "refunded";
        break;
      case "PaymentDisputed":
        record.status = "disputed";
        break;
      case "PaymentResolved":
        record.status = "resolved";
        record.refunded = (BigInt(record.refunded) + BigInt(args.getValue("payerAmount") as bigint)).toString();
        break;
      case "PaymentReclaimed":
        record.status = "reclaimed";
        break;
    }
  }

  /** Marks the stored operations an executed event implies as executed. */
  private async settleExecuted(state: StepState, log: Log, event: LogDescription, record: PaymentRecord | undefined): Promise<void> {
    const paymentId = String(event.args.getValue("paymentId")).toLowerCase();
    const kinds = this.kindsOf(event.name, record);
    let pending = await state.pending(paymentId, kinds);
    if (pending.length === 0) return;
    const tx = await this.transaction(state, log.transactionHash);

    if (event.name === "PaymentRefunded") {
      // Refunds are the one kind a payment can take several of: settle exactly one operation per event.
      const amount = String(event.args.getValue("amount"));
      const sameAmount = pending.filter((op) => op.op.kind === "refund" && BigInt(op.op.amount) === BigInt(amount));
      let chosen: StoredOperation | undefined;
      if (tx.items) {
        const ids = new Set(tx.items.filter((item) => item.kind === "refund" && item.paymentId === paymentId).map((item) => item.id));
        chosen = sameAmount.find((op) => ids.has(op.id.toLowerCase()));
      } else {
        chosen = sameAmount[0];
      }
      pending = chosen ? [chosen] : [];
    }
    // Every other kind happens at most once per payment: the event fulfils every pending operation of it.
    const execution = { txHash: log.transactionHash, blockNumber: log.blockNumber, relayer: tx.from, timestamp: state.timestamps.get(log.blockNumber) ?? 0 };
    for (const op of pending) state.settle({ id: op.id, status: "executed", execution });
  }

  private kindsOf(eventName: string, record: PaymentRecord | undefined): OperationKindName[] {
    switch (eventName) {
      case "PaymentPaid":
        return ["pay"];
      case "PaymentFulfilled":
        return ["markFulfilled"];
      case "PaymentReleased":
        return record?.direct ? ["confirm", "release", "pay"] : ["confirm", "release"];
      case "PaymentRefunded":
        return ["refund"];
      case "PaymentDisputed":
        return ["dispute"];
      case "PaymentResolved":
        return ["resolve"];
      case "PaymentReclaimed":
        return ["reclaim"];
      default:
        return [];
    }
  }

  /**
   * A failed batch item: mark its operation failed. A failure that means it already ran is settled by
   * the execution's own event; one worth retrying is left to its relayer.
   */
  private async onFailure(state: StepState, log: Log, event: LogDescription): Promise<void> {
    const index = Number(event.args.getValue("index"));
    const kind = OPERATION_KINDS[Number(event.args.getValue("kind"))];
    const paymentId = String(event.args.getValue("paymentId")).toLowerCase();
    if (!kind) return;
    const outcome = outcomeOf(kind, String(event.args.getValue("reason")));
    if (outcome.kind !== "failed") return;

    const pending = await state.pending(paymentId, [kind]);
    if (pending.length === 0) return;
    const tx = await this.transaction(state, log.transactionHash);
    let target: StoredOperation | undefined;
    if (tx.items) {
      const item = tx.items[index];
      target = item ? pending.find((op) => op.id.toLowerCase() === item.id) : undefined;
    } else if (pending.length === 1) {
      target = pending[0];
    } else {
      this.modules.logger.warn({ paymentId, kind, txHash: log.transactionHash }, "failed batch item matches several stored operations; left pending");
    }
    if (target) state.settle({ id: target.id, status: "failed", error: outcome.error });
  }

  /** The sender of a transaction and, for relayed escrow calls, the ids of the operations it carried. */
  private transaction(state: StepState, hash: string): Promise<TxInfo> {
    let info = state.txs.get(hash);
    if (!info) {
      info = (async () => {
        const tx = await this.modules.provider.getTransaction(hash);
        if (!tx) throw new SettlenetError("RPC_INCONSISTENT", "the RPC returned a log of a transaction it does not know", { txHash: hash });
        return { from: tx.from, items: this.relayedItems(tx.to, tx.data) };
      })();
      state.txs.set(hash, info);
    }
    return info;
  }

  private relayedItems(to: string | null, data: string): RelayedItem[] | undefined {
    if (to?.toLowerCase() !== this.ctx.escrow.toLowerCase()) return undefined;
    let call;
    try {
      call = this.escrow.parseTransaction({ data });
    } catch {
      return undefined;
    }
    if (!call) return undefined;
    const ops: Result[] = call.name === "execute" ? [call.args[0] as Result] : call.name === "executeBatch" ? [...(call.args[0] as Result)] : [];
    if (ops.length === 0) return undefined;
    const items: RelayedItem[] = [];
    for (const raw of ops) {
      const op = this.operationOf(raw);
      // An item the node could not have stored (unknown kind) still holds its batch index.
      if (!op) items.push({ id: "", kind: "pay", paymentId: "" });
      else items.push({ id: operationIdOf(op, this.ctx).toLowerCase(), kind: op.kind, paymentId: paymentIdOf(op.terms, this.ctx).toLowerCase() });
    }
    return items;
  }

  /** An `IPaymentEscrow.Operation` tuple back in the node's operation form (enough to compute its id). */
  private operationOf(raw: Result): EscrowOperation | undefined {
    const kind = OPERATION_KINDS[Number(raw.getValue("kind"))];
    const t = raw.getValue("terms") as Result;
    if (!kind) return undefined;
    const terms: PaymentTerms = {
      payer: String(t.getValue("payer")),
      merchant: String(t.getValue("merchant")),
      token: String(t.getValue("token")),
      amount: t.getValue("amount") as bigint,
      orderId: String(t.getValue("orderId")),
      feeBps: Number(t.getValue("feeBps")),
      direct: Boolean(t.getValue("direct")),
      payDeadline: t.getValue("payDeadline") as bigint,
      fulfilmentPeriod: Number(t.getValue("fulfilmentPeriod")),
      autoReleasePeriod: Number(t.getValue("autoReleasePeriod")),
      refundPeriod: Number(t.getValue("refundPeriod")),
      nonce: t.getValue("nonce") as bigint,
    };
    const signature = String(raw.getValue("signature"));
    const nonce = raw.getValue("nonce") as bigint;
    const deadline = raw.getValue("deadline") as bigint;
    const amount = raw.getValue("amount") as bigint;
    const reason = String(raw.getValue("reason"));
    switch (kind) {
      case "pay":
        return { kind, terms, signature };
      case "release":
        return { kind, terms };
      case "refund":
        return { kind, terms, amount, reason, nonce, deadline, signature };
      case "dispute":
        return { kind, terms, reason, nonce, deadline, signature };
      case "resolve":
        return { kind, terms, payerAmount: amount, reason, nonce, deadline, signature };
      default:
        return { kind, terms, nonce, deadline, signature };
    }
  }
}
