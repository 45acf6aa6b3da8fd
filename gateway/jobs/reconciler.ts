/**
 * Dropped-order reconciler (掉单): every `intervalMs` it compares each open order with the node's
 * view of its payment (on-chain state and operations) and stores what changed through the orders
 * repository, so the order, the events the change means and the repair record are one synced batch.
 * It is also how the gateway learns of changes nobody asked about (a payer's confirm, an auto-release),
 * so every webhook eventually goes out even if no merchant polls.
 *
 * A change counts as a repair (logged in `reconcile`, counted in /metrics) when the local record
 * could not have caught up on its own: the chain has a pay the gateway never recorded (it crashed
 * between relaying and storing, or the pay came another way), an operation the gateway recorded as
 * pending was resolved more than `dropAfterSeconds` after it was submitted, or an unpaid order passed
 * its deadline (closed as `expired`, only once the node confirms it knows no pay). A node that cannot
 * be reached ends the run without touching anything.
 */
import type { Logger } from "pino";
import { Counter, Gauge, Histogram, type Registry } from "prom-client";

import { SettlenetError } from "../../core/errors.js";
import type { RepairKind } from "../domain/events.js";
import type { NodeApiClient } from "../../core/api/client.js";
import { mergeNodeView } from "../domain/payments.js";
import { updateOrder } from "../domain/orders.js";
import { PeriodicRunner } from "./periodic.js";
import type { GatewayStorage } from "../storage/db.js";
import type { OrderRecord, OrderStatus, SubmittedOperation } from "../domain/records.js";

export interface ReconcileOptions {
  /** Time between runs (the first runs at start). */
  intervalMs: number;
  /** An operation still pending locally this long after submission, but resolved on-chain, is a dropped order. */
  dropAfterSeconds: number;
  /** Expired and cancelled orders are still compared this long after their deadline (a late pay is adopted). */
  expiredGraceSeconds: number;
}

export interface ReconcilerModules {
  storage: GatewayStorage;
  node: NodeApiClient;
  /** Serialises the check of an order with the payment actions on it (PaymentService.whenIdle). */
  whenIdle?: <T>(orderId: string, fn: () => Promise<T>) => Promise<T>;
  logger: Logger;
  metrics: Registry;
  now: () => number;
}

/** What one run did. */
export interface ReconcileSummary {
  checked: number;
  updated: number;
  repairs: { kind: RepairKind; orderId: string; from: OrderStatus; to: OrderStatus }[];
  /** False when the run stopped early (node unavailable). */
  complete: boolean;
}

/** Statuses whose orders may still change on-chain. */
const OPEN_STATUSES: OrderStatus[] = ["awaiting_authorization", "processing", "held", "fulfilled", "disputed", "released", "expired", "cancelled"];
const PAGE = 100;

function reconcileMetrics(registry: Registry) {
  for (const name of [
    "gateway_reconcile_runs_total",
    "gateway_reconcile_orders_checked_total",
    "gateway_reconcile_orders_updated_total",
    "gateway_reconcile_repairs_total",
    "gateway_reconcile_run_duration_seconds",
    "gateway_reconcile_last_complete_run_timestamp_seconds",
  ]) {
    if (registry.getSingleMetric(name)) registry.removeSingleMetric(name);
  }
  const registers = [registry];
  return {
    runs: new Counter({ name: "gateway_reconcile_runs_total", help: "Reconciler runs by result (complete, node_unavailable, error)", labelNames: ["result"] as const, registers }),
    checked: new Counter({ name: "gateway_reconcile_orders_checked_total", help: "Orders compared with the node's view", registers }),
    updated: new Counter({ name: "gateway_reconcile_orders_updated_total", help: "Orders the reconciler changed (repairs and ordinary catch-up)", registers }),
    repairs: new Counter({ name: "gateway_reconcile_repairs_total", help: "Dropped or stale orders repaired, by kind", labelNames: ["kind"] as const, registers }),
    duration: new Histogram({ name: "gateway_reconcile_run_duration_seconds", help: "Duration of a reconciler run", buckets: [0.05, 0.1, 0.5, 1, 5, 15, 60], registers }),
    lastComplete: new Gauge({ name: "gateway_reconcile_last_complete_run_timestamp_seconds", help: "When the last complete run ended (unix seconds)", registers }),
  };
}

/** Compares open orders with the chain (through the node) and repairs them. */
export class Reconciler {
  private readonly metrics: ReturnType<typeof reconcileMetrics>;
  /** Runs `run` at start and every `intervalMs`; `stop` makes a run in progress end at the next order. */
  private readonly runner: PeriodicRunner<ReconcileSummary>;

  constructor(
    private readonly options: ReconcileOptions,
    private readonly modules: ReconcilerModules,
  ) {
    this.metrics = reconcileMetrics(modules.metrics);
    this.runner = new PeriodicRunner("reconciler", options.intervalMs, () => this.run(), modules.logger);
  }

  /** Runs now, then every `intervalMs` (0: only on demand). */
  start(): void {
    this.runner.start();
  }

  stop(): Promise<void> {
    return this.runner.stop();
  }

  /** One run (joins the one in progress, if any). */
  runOnce(): Promise<ReconcileSummary> {
    return this.runner.runOnce();
  }

  private async run(): Promise<ReconcileSummary> {
    const end = this.metrics.duration.startTimer();
    const summary: ReconcileSummary = { checked: 0, updated: 0, repairs: [], complete: false };
    try {
      for (const merchant of await this.modules.storage.merchants.list()) {
        for (const status of OPEN_STATUSES) {
          let cursor: string | undefined;
          do {
            const page = await this.modules.storage.orders.list(merchant.id, { status, limit: PAGE, ...(cursor ? { cursor } : {}) });
            for (const order of page.items) {
              if (this.runner.closing) return summary;
              if (this.settled(order)) continue;
              // An action (e.g. authorize) between its node call and its own write must not look like a dropped order.
              await (this.modules.whenIdle ? this.modules.whenIdle(order.id, () => this.check(order.id, summary)) : this.check(order.id, summary));
            }
            cursor = page.next;
          } while (cursor);
        }
      }
      summary.complete = true;
      this.metrics.runs.inc({ result: "complete" });
      this.metrics.lastComplete.set(Math.floor(this.modules.now() / 1000));
      if (summary.repairs.length > 0) this.modules.logger.info({ checked: summary.checked, updated: summary.updated, repairs: summary.repairs.length }, "reconciler run repaired orders");
      return summary;
    } catch (error) {
      const code = error instanceof SettlenetError ? error.code : "INTERNAL";
      this.metrics.runs.inc({ result: code === "NODE_UNAVAILABLE" ? "node_unavailable" : "error" });
      if (code === "NODE_UNAVAILABLE") {
        this.modules.logger.warn({ code, checked: summary.checked }, "reconciler stopped: node unavailable");
        return summary;
      }
      throw error;
    } finally {
      end();
    }
  }

  /** Orders past the point where the chain can still change them. */
  private settled(order: OrderRecord): boolean {
    const nowMs = this.modules.now();
    const grace = this.options.expiredGraceSeconds * 1000;
    if (order.status === "expired" || order.status === "cancelled") return nowMs > order.expiresAtMs + grace;
    // Released: only refunds can follow, within the refund window (onChain.deadline).
    if (order.status === "released" && order.onChain) return nowMs > order.onChain.deadline * 1000 + grace && !hasPending(order);
    return false;
  }

  private async check(id: string, summary: ReconcileSummary): Promise<void> {
    // Read again: the listed record may be older than an action that just finished.
    const order = await this.modules.storage.orders.get(id);
    if (!order) return;
    const view = await this.modules.node.payment(order.paymentId);
    summary.checked += 1;
    this.metrics.checked.inc();
    const nowMs = this.modules.now();
    const result = await updateOrder(
      this.modules.storage.orders,
      order.id,
      (current) => {
        const merged = mergeNodeView(current, view, nowMs);
        return merged ? { ...merged, updatedAtMs: nowMs } : undefined;
      },
      { repair: (current, next) => this.classify(current, next, nowMs) },
    );
    if (!result.changed) return;
    summary.updated += 1;
    this.metrics.updated.inc();
    const log = { id: order.id, merchantId: order.merchantId, paymentId: order.paymentId, from: order.status, to: result.order.status, events: result.events.map((e) => e.type) };
    if (result.repair) {
      summary.repairs.push({ kind: result.repair.kind, orderId: order.id, from: result.repair.from, to: result.repair.to });
      this.metrics.repairs.inc({ kind: result.repair.kind });
      this.modules.logger.warn({ ...log, kind: result.repair.kind }, "order repaired by the reconciler");
    } else {
      this.modules.logger.info(log, "order caught up with the chain");
    }
  }

  /** Is this change a repair, and of what kind? */
  private classify(current: OrderRecord, next: OrderRecord, nowMs: number): RepairKind | undefined {
    if (!current.authorization && next.authorization) return "payment_adopted";
    if (current.status === "awaiting_authorization" && next.status === "expired") return "order_expired";
    const dropAfterMs = this.options.dropAfterSeconds * 1000;
    const stale = (before: SubmittedOperation | undefined, after: SubmittedOperation | undefined) =>
      before !== undefined && after !== undefined && before.status === "pending" && after.status !== "pending" && nowMs - before.submittedAtMs > dropAfterMs;
    if (stale(current.authorization, next.authorization) || stale(current.fulfilment, next.fulfilment)) return "status_repaired";
    if (current.refunds.some((r) => stale(r, next.refunds.find((n) => n.id === r.id)))) return "status_repaired";
    return undefined;
  }
}

function hasPending(order: OrderRecord): boolean {
  return order.refunds.some((r) => r.status === "pending");
}
