/**
 * The change feed follower: the gateway learns what happened to its orders from its node's change
 * feed (GET /v1/changes, long polling) instead of asking about each order. Each page of changes is
 * applied to the orders it concerns (`applyFeedChanges`: the escrow state, the status of every
 * operation the gateway submitted) in ONE synced batch together with the merchant events the changes
 * mean (so webhooks follow) and the feed cursor: after a crash the follower resumes exactly after the
 * last change it applied, and a change is never applied twice or lost.
 *
 * A change the gateway learns more than `dropAfterSeconds` after the node recorded it (the gateway was
 * down, or cut off from its node) that settles a pending operation is logged as a repair
 * (`status_repaired`), as is a pay the node executed that the gateway never recorded
 * (`payment_adopted`: it crashed between relaying and storing; its signature is read from the node).
 *
 * When the feed cannot continue from the stored cursor (the first start, or the node's feed no longer
 * holds it: FEED_CURSOR_EXPIRED), the follower continues from the feed's newest change and has the
 * reconciler compare every open order with the node once (`requestFullPass`, durable before the new
 * cursor is used).
 */
import type { Logger } from "pino";
import { Counter, Gauge, type Registry } from "prom-client";

import type { Change } from "../../core/api/changes.js";
import { NodeApiError, type NodeApiClient } from "../../core/api/client.js";
import { SettlenetError } from "../../core/errors.js";
import { Waker } from "../../core/lifecycle.js";
import { Serial } from "../../core/serial.js";
import type { RepairKind } from "../domain/events.js";
import { updateOrders } from "../domain/orders.js";
import { applyFeedChanges, type AdoptedPay } from "../domain/payments.js";
import type { OrderRecord } from "../domain/records.js";
import type { GatewayStorage } from "../storage/db.js";

/** Where the follower is in its node's feed (meta, written with the changes applied). */
export const FEED_CURSOR_META = "feed.cursor";
/**
 * Set (durably) while the reconciler owes a comparison of every open order with the node: the orders
 * created up to `createdBeforeMs` (those after it have all their changes in the feed after the new
 * cursor). `true`, from earlier versions, means every open order; `false`, none.
 */
export const FULL_PASS_META = "reconcile.fullPass";

/** The value of FULL_PASS_META. */
export type FullPassMeta = { createdBeforeMs: number } | boolean;

const ZERO_ID = "0x" + "00".repeat(32);
const BACKOFF_START_MS = 250;
const BACKOFF_CAP_MS = 5_000;

export interface FeedOptions {
  /** Long polling: how long the node holds a request when nothing new has happened. */
  waitMs: number;
  /** Most changes applied per synced batch. */
  pageSize: number;
  /** After a page that was not full, how long changes gather before the next request (0: ask again at once). */
  gatherMs?: number;
  /** A pending operation settled by a change this much older than now counts as repaired. */
  dropAfterSeconds: number;
}

export interface FeedModules {
  storage: GatewayStorage;
  node: NodeApiClient;
  logger: Logger;
  metrics: Registry;
  now: () => number;
  /** Counts a repair the follower made (the reconciler's repair counter). */
  onRepair?: (kind: RepairKind) => void;
}

function feedMetrics(registry: Registry) {
  for (const name of ["gateway_feed_changes_total", "gateway_feed_pages_total", "gateway_feed_orders_updated_total", "gateway_feed_lag_seconds"]) {
    if (registry.getSingleMetric(name)) registry.removeSingleMetric(name);
  }
  const registers = [registry];
  return {
    changes: new Counter({ name: "gateway_feed_changes_total", help: "Changes read from the node's feed", registers }),
    pages: new Counter({ name: "gateway_feed_pages_total", help: "Pages of changes applied (each one synced batch)", registers }),
    updated: new Counter({ name: "gateway_feed_orders_updated_total", help: "Orders the feed follower changed", registers }),
    lag: new Gauge({ name: "gateway_feed_lag_seconds", help: "Age of the newest change applied when it was applied", registers }),
  };
}

/** Follows the node's change feed into the stored orders; see the module comment. */
export class FeedFollower {
  private readonly metrics: ReturnType<typeof feedMetrics>;
  private cursor: string | undefined;
  private loop: Promise<void> | undefined;
  private stopped = true;
  private readonly abort = new AbortController();
  /** Steps run one at a time (the loop and `catchUp`). */
  private readonly serial = new Serial();
  private readonly waker = new Waker();

  constructor(
    private readonly options: FeedOptions,
    private readonly modules: FeedModules,
  ) {
    this.metrics = feedMetrics(modules.metrics);
  }

  /** Follows the feed in the background until `stop`. */
  start(): void {
    if (this.loop) return;
    this.stopped = false;
    this.loop = this.run();
  }

  /** Stops following (a long poll in progress is given up). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    this.waker.wake();
    await this.loop;
    this.loop = undefined;
  }

  /** Applies every change the node has recorded so far; resolves with how many it read. */
  async catchUp(): Promise<number> {
    let total = 0;
    for (;;) {
      const read = await this.serial.run(() => this.step(0));
      total += read;
      if (read === 0) return total;
    }
  }

  private async run(): Promise<void> {
    const { logger } = this.modules;
    let failures = 0;
    while (!this.stopped) {
      try {
        const read = await this.serial.run(() => this.step(this.options.waitMs));
        if (failures > 0) logger.info({ failures }, "following the node's change feed again");
        failures = 0;
        // A page that was not full: the next changes are coming a few at a time, let them gather.
        const gatherMs = this.options.gatherMs ?? 0;
        if (read > 0 && read < this.options.pageSize && gatherMs > 0) await this.sleep(gatherMs);
      } catch (error) {
        if (this.stopped) break;
        if (error instanceof SettlenetError && error.code === "STORAGE_CLOSED") break;
        failures += 1;
        const delay = Math.min(BACKOFF_CAP_MS, BACKOFF_START_MS * 2 ** (failures - 1));
        // An unreachable node is logged once per outage; anything else each time.
        const code = error instanceof SettlenetError ? error.code : "INTERNAL";
        if (failures === 1 || !(code === "NODE_UNAVAILABLE" || code === "NODE_TIMEOUT")) logger.warn({ err: error, code, failures, retryInMs: delay }, "change feed step failed; retrying");
        await this.sleep(delay);
      }
    }
  }

  /** Reads one page after the cursor (waiting up to `waitMs` for one) and applies it; returns how many changes it read. */
  private async step(waitMs: number): Promise<number> {
    const { storage, node } = this.modules;
    this.cursor ??= await storage.getMeta<string>(FEED_CURSOR_META);
    if (this.cursor === undefined) await this.restart((await node.changes({ limit: 1 }, this.abort.signal)).latest, "first start");
    let page;
    try {
      page = await node.changes({ after: this.cursor, limit: this.options.pageSize, waitMs }, this.abort.signal);
    } catch (error) {
      if (!(error instanceof NodeApiError && error.code === "FEED_CURSOR_EXPIRED" && typeof error.problem["latest"] === "string")) throw error;
      await this.restart(error.problem["latest"], "the node's feed cannot continue from the stored cursor");
      page = await node.changes({ after: this.cursor, limit: this.options.pageSize }, this.abort.signal);
    }
    if (page.changes.length === 0) {
      if (page.next !== this.cursor) await this.saveCursor(page.next);
      return 0;
    }
    await this.apply(page.changes, page.next);
    return page.changes.length;
  }

  /** Continues from `latest` after the reconciler is owed a full pass of the orders created until now (both durable first). */
  private async restart(latest: string, why: string): Promise<void> {
    const { storage, logger, now } = this.modules;
    // Taken after `latest`: an order created later has every change of its payment after that cursor.
    const pass: FullPassMeta = { createdBeforeMs: now() };
    await storage.putMeta(FULL_PASS_META, pass);
    await this.saveCursor(latest);
    logger.info({ cursor: latest, why }, "following the node's change feed from its newest change; the reconciler compares every open order created before now once");
  }

  private async saveCursor(cursor: string): Promise<void> {
    await this.modules.storage.putMeta(FEED_CURSOR_META, cursor);
    this.cursor = cursor;
  }

  /** Applies `changes` to the orders they concern and stores `next` as the cursor, in one batch. */
  private async apply(changes: Change[], next: string): Promise<void> {
    const { storage, node, logger, now } = this.modules;
    const byPayment = new Map<string, Change[]>();
    for (const change of changes) {
      const key = change.paymentId.toLowerCase();
      if (key === ZERO_ID) continue;
      const list = byPayment.get(key);
      if (list) list.push(change);
      else byPayment.set(key, [change]);
    }
    const orderIds = await storage.orders.idsByPayment([...byPayment.keys()]);
    const ids = [...orderIds.values()];
    const orders = await storage.orders.getMany(ids);

    // A pay settled on-chain that an order never recorded: its signature comes from the node (rare).
    const adopted = new Map<string, AdoptedPay>();
    for (const order of orders) {
      if (!order || order.authorization) continue;
      const settled = (byPayment.get(order.paymentId.toLowerCase()) ?? []).some(
        (c) => (c.type === "operation" && c.id.toLowerCase() === order.paymentId.toLowerCase() && (c.status === "executed" || c.status === "failed")) || c.type === "payment",
      );
      if (!settled) continue;
      const op = await node.operation(order.paymentId);
      const signature = (op?.op as { signature?: unknown } | undefined)?.signature;
      if (op && typeof signature === "string") adopted.set(order.id, { signature, receivedAtMs: op.receivedAtMs });
    }

    const nowMs = now();
    const dropAfterMs = this.options.dropAfterSeconds * 1000;
    const updates = new Map<string, (current: OrderRecord) => OrderRecord | undefined>();
    const oldest = new Map<string, number>();
    for (const [paymentId, list] of byPayment) {
      const id = orderIds.get(paymentId);
      if (id === undefined) continue;
      oldest.set(id, Math.min(...list.map((c) => c.atMs)));
      updates.set(id, (current) => {
        const merged = applyFeedChanges(current, list, nowMs, adopted.get(id));
        return merged ? { ...merged, updatedAtMs: nowMs } : undefined;
      });
    }
    const results = await updateOrders(storage.orders, updates, [storage.metaWrite(FEED_CURSOR_META, next)], {
      repair: (current, after) => classify(current, after, nowMs - (oldest.get(current.id) ?? nowMs) > dropAfterMs),
    });
    this.cursor = next;

    this.metrics.changes.inc(changes.length);
    this.metrics.pages.inc();
    const newest = changes.at(-1);
    if (newest) this.metrics.lag.set(Math.max(0, (nowMs - newest.atMs) / 1000));
    for (const result of results) {
      if (!result.changed) continue;
      this.metrics.updated.inc();
      if (result.repair) {
        this.modules.onRepair?.(result.repair.kind);
        logger.warn({ id: result.order.id, kind: result.repair.kind, from: result.repair.from, to: result.repair.to }, "order repaired from the change feed");
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return this.waker.sleep(ms);
  }
}

/** Is a change applied from the feed a repair, and of what kind? `late`: the gateway learns it long after it happened. */
function classify(current: OrderRecord, next: OrderRecord, late: boolean): RepairKind | undefined {
  if (!current.authorization && next.authorization) return "payment_adopted";
  if (!late) return undefined;
  const settled = (before: { status: string } | undefined, after: { status: string } | undefined) => before?.status === "pending" && after !== undefined && after.status !== "pending";
  if (settled(current.authorization, next.authorization) || settled(current.fulfilment, next.fulfilment)) return "status_repaired";
  if (current.refunds.some((r) => settled(r, next.refunds.find((n) => n.id === r.id)))) return "status_repaired";
  return undefined;
}
