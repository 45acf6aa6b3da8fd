/**
 * Orders with their indexes: by merchant and time, by merchant and status, by merchant order id
 * (unique), by on-chain payment id, by the time the reconciler should look at them (`checkAtMs`) and,
 * for fulfilled orders, by auto-release time. Key layouts: keyspaces.ts. Every change moves the
 * indexes in the same synced batch as the record, together with the records the caller says the
 * change causes: merchant events (with their webhook outbox entries) and a repair log record.
 */
import { SettlenetError } from "../../core/errors.js";
import type { Page } from "../../core/records.js";
import { cursorKey, indexPage } from "../../core/storage/pages.js";
import type { EventRecord, ReconcileRecord } from "../domain/events.js";
import type { OrderRecord, OrderStatus } from "../domain/records.js";
import { SEP, pad, type StorageContext, type WriteOp } from "./keyspaces.js";
import { repairWrites } from "./reconcile.js";
import { eventWrites } from "./webhooks.js";

export const orderKeys = {
  byTime: (o: Pick<OrderRecord, "merchantId" | "createdAtMs" | "id">) => `${o.merchantId}${SEP}${pad(o.createdAtMs, 16)}${SEP}${o.id}`,
  byStatus: (o: Pick<OrderRecord, "merchantId" | "createdAtMs" | "id">, status: OrderStatus) =>
    `${o.merchantId}${SEP}${status}${SEP}${pad(o.createdAtMs, 16)}${SEP}${o.id}`,
  byOrderId: (merchantId: string, merchantOrderId: string) => `${merchantId}${SEP}${merchantOrderId}`,
  byPayment: (paymentId: string) => paymentId.toLowerCase(),
  check: (checkAtMs: number, id: string) => `${pad(checkAtMs, 16)}${SEP}${id}`,
  release: (releaseAt: number, id: string) => `${pad(releaseAt, 12)}${SEP}${id}`,
};

/** The auto-release time under which a fulfilled order is a keeper candidate (unix s). */
function releaseAtOf(order: OrderRecord): number | undefined {
  return order.status === "fulfilled" && order.onChain ? order.onChain.deadline : undefined;
}

/** The writes that move `current`'s index entries to those of `next` (a new order: `current` undefined). */
function indexWrites(s: StorageContext["spaces"], current: OrderRecord | undefined, next: OrderRecord): WriteOp[] {
  const writes: WriteOp[] = [];
  if (!current || next.status !== current.status) {
    if (current) writes.push({ type: "del", sublevel: s.ordersByStatus, key: orderKeys.byStatus(current, current.status) });
    writes.push({ type: "put", sublevel: s.ordersByStatus, key: orderKeys.byStatus(next, next.status), value: "" });
  }
  if (current?.checkAtMs !== next.checkAtMs) {
    if (current?.checkAtMs !== undefined) writes.push({ type: "del", sublevel: s.ordersCheck, key: orderKeys.check(current.checkAtMs, current.id) });
    if (next.checkAtMs !== undefined) writes.push({ type: "put", sublevel: s.ordersCheck, key: orderKeys.check(next.checkAtMs, next.id), value: "" });
  }
  const releaseBefore = current ? releaseAtOf(current) : undefined;
  const releaseAfter = releaseAtOf(next);
  if (releaseBefore !== releaseAfter) {
    if (releaseBefore !== undefined && current) writes.push({ type: "del", sublevel: s.ordersRelease, key: orderKeys.release(releaseBefore, current.id) });
    if (releaseAfter !== undefined) writes.push({ type: "put", sublevel: s.ordersRelease, key: orderKeys.release(releaseAfter, next.id), value: "" });
  }
  return writes;
}

/** The index entries of one order as they should be now (the schema migration fills new indexes). */
export function orderIndexWrites(s: StorageContext["spaces"], order: OrderRecord): WriteOp[] {
  return indexWrites(s, undefined, order).filter((write) => write.sublevel !== s.ordersByStatus);
}

export interface OrderListOptions {
  limit: number;
  status?: OrderStatus;
  /** Inclusive creation time range, unix ms. */
  fromMs?: number;
  toMs?: number;
  /** Opaque cursor from the previous page. */
  cursor?: string;
}

/** Result of `create`: the new order, or the one that already holds the merchant order id. */
export type CreateOutcome = { created: true; order: OrderRecord } | { created: false; existing: OrderRecord };

/** An order change: the next record and what it causes, all written in one batch. */
export interface OrderChange {
  next: OrderRecord;
  /** Merchant events (each also queued in the webhook outbox). */
  events?: EventRecord[];
  /** The reconciler's repair log record. */
  repair?: ReconcileRecord;
}

/** What an update did: the stored order, the events it wrote and the repair it logged. */
export interface OrderUpdateResult {
  order: OrderRecord;
  changed: boolean;
  events: EventRecord[];
  repair?: ReconcileRecord;
}

/** Upper bound of list time ranges: 16 digits, like the index keys. */
const MAX_MS = Number.MAX_SAFE_INTEGER;

export class LevelOrderRepository {
  constructor(private readonly ctx: StorageContext) {}

  get(id: string): Promise<OrderRecord | undefined> {
    return this.ctx.read(async () => (await this.ctx.spaces.orders.get(id)) as OrderRecord | undefined);
  }

  /** Several orders by id, in order (undefined where unknown). */
  getMany(ids: string[]): Promise<(OrderRecord | undefined)[]> {
    if (ids.length === 0) return Promise.resolve([]);
    return this.ctx.read(async () => (await this.ctx.spaces.orders.getMany(ids)) as (OrderRecord | undefined)[]);
  }

  getByMerchantOrderId(merchantId: string, merchantOrderId: string): Promise<OrderRecord | undefined> {
    return this.ctx.read(async () => {
      const id = (await this.ctx.spaces.ordersByOrderId.get(orderKeys.byOrderId(merchantId, merchantOrderId))) as string | undefined;
      return id === undefined ? undefined : ((await this.ctx.spaces.orders.get(id)) as OrderRecord | undefined);
    });
  }

  getByPaymentId(paymentId: string): Promise<OrderRecord | undefined> {
    return this.ctx.read(async () => {
      const id = (await this.ctx.spaces.ordersByPayment.get(orderKeys.byPayment(paymentId))) as string | undefined;
      return id === undefined ? undefined : ((await this.ctx.spaces.orders.get(id)) as OrderRecord | undefined);
    });
  }

  /**
   * Stores a new order unless its merchant order id is taken, in which case the holder is returned.
   * `extra` writes (the request's answer) join the new order's batch.
   */
  create(order: OrderRecord, extra?: (order: OrderRecord) => WriteOp[]): Promise<CreateOutcome> {
    const s = this.ctx.spaces;
    return this.ctx.write(async () => {
      const holder = (await s.ordersByOrderId.get(orderKeys.byOrderId(order.merchantId, order.merchantOrderId))) as string | undefined;
      if (holder !== undefined) {
        const existing = (await s.orders.get(holder)) as OrderRecord | undefined;
        if (!existing) throw new SettlenetError("STORAGE_CORRUPT", `order index points at missing order ${holder}`, { id: holder });
        return { created: false, existing };
      }
      if (await s.orders.has(order.id)) throw new SettlenetError("INTERNAL", `order id ${order.id} collided`, { id: order.id });
      await this.ctx.commit([
        { type: "put", sublevel: s.orders, key: order.id, value: order },
        { type: "put", sublevel: s.ordersByTime, key: orderKeys.byTime(order), value: "" },
        ...indexWrites(s, undefined, order),
        { type: "put", sublevel: s.ordersByOrderId, key: orderKeys.byOrderId(order.merchantId, order.merchantOrderId), value: order.id },
        { type: "put", sublevel: s.ordersByPayment, key: orderKeys.byPayment(order.paymentId), value: order.id },
        ...(extra?.(order) ?? []),
      ]);
      return { created: true, order };
    });
  }

  /**
   * Read-modify-write of one order: `change` gets the stored order and returns the change (or
   * undefined to leave it). The record, its status index, the events and the repair record move in
   * one synced batch, with `extra` writes made from the order as it is then (the request's answer).
   */
  update(id: string, change: (current: OrderRecord) => OrderChange | undefined, extra?: (order: OrderRecord) => WriteOp[]): Promise<OrderUpdateResult> {
    const s = this.ctx.spaces;
    return this.ctx.write(async () => {
      const current = (await s.orders.get(id)) as OrderRecord | undefined;
      if (!current) throw new SettlenetError("PAYMENT_NOT_FOUND", `no payment ${id}`, { id });
      const { result, writes } = this.changeWrites(current, change);
      if (extra) writes.push(...extra(result.order));
      await this.ctx.commit(writes);
      return result;
    });
  }

  /**
   * Read-modify-write of several orders, plus `extra` writes, in one synced batch (the change feed
   * follower applies a page of changes and its cursor this way). Unknown ids are skipped.
   */
  updateMany(changes: ReadonlyMap<string, (current: OrderRecord) => OrderChange | undefined>, extra: WriteOp[] = []): Promise<OrderUpdateResult[]> {
    const s = this.ctx.spaces;
    return this.ctx.write(async () => {
      const ids = [...changes.keys()];
      const stored = ids.length === 0 ? [] : ((await s.orders.getMany(ids)) as (OrderRecord | undefined)[]);
      const results: OrderUpdateResult[] = [];
      const writes: WriteOp[] = [];
      ids.forEach((id, i) => {
        const current = stored[i];
        const change = changes.get(id);
        if (!current || !change) return;
        const applied = this.changeWrites(current, change);
        results.push(applied.result);
        writes.push(...applied.writes);
      });
      await this.ctx.commit([...writes, ...extra]);
      return results;
    });
  }

  /** Ids of the orders whose reconciler check is due at `untilMs` or earlier, earliest first. */
  listCheckDue(untilMs: number, limit: number): Promise<string[]> {
    return this.ctx.read(async () => {
      const keys = await this.ctx.spaces.ordersCheck.keys({ lt: `${pad(untilMs + 1, 16)}${SEP}`, limit }).all();
      return keys.map((key) => key.slice(key.indexOf(SEP) + 1));
    });
  }

  /** Ids of the fulfilled orders whose auto-release time is `untilSeconds` or earlier, earliest first. */
  listReleaseDue(untilSeconds: number, limit: number): Promise<string[]> {
    return this.ctx.read(async () => {
      const keys = await this.ctx.spaces.ordersRelease.keys({ lt: `${pad(untilSeconds + 1, 12)}${SEP}`, limit }).all();
      return keys.map((key) => key.slice(key.indexOf(SEP) + 1));
    });
  }

  /** The gateway payment ids of on-chain payment ids (absent: no order of this gateway). */
  idsByPayment(paymentIds: string[]): Promise<Map<string, string>> {
    return this.ctx.read(async () => {
      const keys = [...new Set(paymentIds.map(orderKeys.byPayment))];
      const ids = keys.length === 0 ? [] : ((await this.ctx.spaces.ordersByPayment.getMany(keys)) as (string | undefined)[]);
      const found = new Map<string, string>();
      keys.forEach((key, i) => {
        const id = ids[i];
        if (id !== undefined) found.set(key, id);
      });
      return found;
    });
  }

  /** The next record of one order change and its writes (record, index moves, events, repair). */
  private changeWrites(current: OrderRecord, change: (current: OrderRecord) => OrderChange | undefined): { result: OrderUpdateResult; writes: WriteOp[] } {
    const s = this.ctx.spaces;
    const proposed = change(current);
    if (!proposed) return { result: { order: current, changed: false, events: [] }, writes: [] };
    const next: OrderRecord = { ...proposed.next, id: current.id, merchantId: current.merchantId, createdAtMs: current.createdAtMs };
    const writes: WriteOp[] = [{ type: "put", sublevel: s.orders, key: current.id, value: next }, ...indexWrites(s, current, next)];
    const events = proposed.events ?? [];
    for (const event of events) writes.push(...eventWrites(s, event));
    const repair = proposed.repair;
    if (repair) writes.push(...repairWrites(s, repair));
    return { result: { order: next, changed: true, events, ...(repair ? { repair } : {}) }, writes };
  }

  /** A merchant's orders, newest first, optionally of one status and within a creation time range. */
  list(merchantId: string, options: OrderListOptions): Promise<Page<OrderRecord>> {
    const s = this.ctx.spaces;
    return this.ctx.read(async () => {
      const prefix = options.status ? `${merchantId}${SEP}${options.status}${SEP}` : `${merchantId}${SEP}`;
      const index = options.status ? s.ordersByStatus : s.ordersByTime;
      const gte = `${prefix}${pad(options.fromMs ?? 0, 16)}`;
      let lt = `${prefix}${pad(Math.min(options.toMs ?? MAX_MS, MAX_MS - 1) + 1, 16)}`;
      if (options.cursor) {
        const after = cursorKey(options.cursor, (key) => key.startsWith(prefix), "MALFORMED");
        if (after < lt) lt = after;
      }
      return indexPage<OrderRecord>(index, s.orders, { gte, lt, reverse: true }, options.limit, SEP);
    });
  }
}

