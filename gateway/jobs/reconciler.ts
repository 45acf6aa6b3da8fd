/**
 * Dropped-order reconciler (掉单): the change feed (jobs/feed.ts) keeps orders current; the reconciler
 * looks only at the orders the feed has not explained, each at most once per run: those whose check
 * time has come (`checkAtMs`, set with every order change by domain/orders.ts `checkTimeOf`): an
 * unauthorised order at its expiry, an order whose operation is still pending a while after it was
 * submitted. It compares each with the node's view of its payment and stores what changed through the
 * orders repository, so the order, the events the change means and the repair record are one synced
 * batch. An authorization the node never received (the gateway had no answer in time) is submitted
 * again (same signature, same operation); any other operation the node never received is recorded as
 * failed with NODE_NEVER_RECEIVED (an auto-release is dropped, so the keeper sends it again). When the
 * feed cannot continue from its cursor the follower owes a full pass (FULL_PASS_META): every open order
 * created before it continued from the feed's newest change is compared once, as the reconciler did
 * before there was a feed.
 *
 * A change counts as a repair (logged in `reconcile`, counted in /metrics) when the local record could
 * not have caught up on its own: the chain has a pay the gateway never recorded, an operation the
 * gateway recorded as pending was resolved more than `dropAfterSeconds` after it was submitted, or an
 * unpaid order passed its deadline (closed as `expired`, only once the node confirms it knows no pay).
 * A node that cannot be reached ends the run without touching anything.
 */
import type { Logger } from "pino";
import { Counter, Gauge, Histogram, type Registry } from "prom-client";

import { isRetryLater, type NodeApiClient, type NodePayment } from "../../core/api/client.js";
import { SettlenetError } from "../../core/errors.js";
import type { NodeSubmitter } from "../adapters/node-batcher.js";
import type { RepairKind } from "../domain/events.js";
import { updateOrder } from "../domain/orders.js";
import { mergeNodeView } from "../domain/payments.js";
import type { OrderRecord, OrderStatus, SubmittedOperation } from "../domain/records.js";
import type { GatewayStorage } from "../storage/db.js";
import { FULL_PASS_META, type FullPassMeta } from "./feed.js";
import { PeriodicRunner } from "../../core/periodic.js";

export interface ReconcileOptions {
  /** Time between runs (the first runs at start). */
  intervalMs: number;
  /** An operation still pending locally this long after submission, but resolved on-chain, is a dropped order. */
  dropAfterSeconds: number;
  /** Expired and cancelled orders are still compared this long after their deadline in a full pass (a late pay is adopted). */
  expiredGraceSeconds: number;
}

export interface ReconcilerModules {
  storage: GatewayStorage;
  node: NodeApiClient;
  /** Where an authorization the node never received is submitted again (the node client itself when absent). */
  submitter?: NodeSubmitter;
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

/** Statuses whose orders may still change on-chain (a full pass walks them). */
const OPEN_STATUSES: OrderStatus[] = ["awaiting_authorization", "processing", "held", "fulfilled", "disputed", "released", "expired", "cancelled"];
const PAGE = 100;
/** Most due orders one run compares (the earliest first; the rest wait for the next run). */
const MAX_CHECKS_PER_RUN = 500;
const ALREADY_THERE = new Set(["DUPLICATE", "ALREADY_EXECUTED"]);

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
    repairs: new Counter({ name: "gateway_reconcile_repairs_total", help: "Dropped or stale orders repaired (by the reconciler or from the change feed), by kind", labelNames: ["kind"] as const, registers }),
    duration: new Histogram({ name: "gateway_reconcile_run_duration_seconds", help: "Duration of a reconciler run", buckets: [0.05, 0.1, 0.5, 1, 5, 15, 60], registers }),
    lastComplete: new Gauge({ name: "gateway_reconcile_last_complete_run_timestamp_seconds", help: "When the last complete run ended (unix seconds)", registers }),
  };
}

/** Compares the orders the feed has not explained with the chain (through the node) and repairs them. */
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

  /** Counts a repair made elsewhere (the change feed follower). */
  countRepair(kind: RepairKind): void {
    this.metrics.repairs.inc({ kind });
  }

  private async run(): Promise<ReconcileSummary> {
    const end = this.metrics.duration.startTimer();
    const summary: ReconcileSummary = { checked: 0, updated: 0, repairs: [], complete: false };
    const seen = new Set<string>();
    try {
      const fullPass = await this.modules.storage.getMeta<FullPassMeta>(FULL_PASS_META);
      if (fullPass === true || (typeof fullPass === "object" && fullPass !== null)) {
        const createdBeforeMs = fullPass === true ? Number.MAX_SAFE_INTEGER : fullPass.createdBeforeMs;
        if (!(await this.fullPass(summary, seen, createdBeforeMs))) return summary;
        await this.modules.storage.putMeta(FULL_PASS_META, false);
      } else {
        const due = await this.modules.storage.orders.listCheckDue(this.modules.now(), MAX_CHECKS_PER_RUN);
        for (const id of due) {
          if (this.runner.closing) return summary;
          if (seen.has(id)) continue;
          seen.add(id);
          await this.checkIdle(id, summary, true);
        }
      }
      summary.complete = true;
      this.metrics.runs.inc({ result: "complete" });
      this.metrics.lastComplete.set(Math.floor(this.modules.now() / 1000));
      if (summary.repairs.length > 0) this.modules.logger.info({ checked: summary.checked, updated: summary.updated, repairs: summary.repairs.length }, "reconciler run repaired orders");
      return summary;
    } catch (error) {
      const code = error instanceof SettlenetError ? error.code : "INTERNAL";
      const unreachable = code === "NODE_UNAVAILABLE" || code === "NODE_TIMEOUT" || isRetryLater(error);
      this.metrics.runs.inc({ result: unreachable ? "node_unavailable" : "error" });
      if (unreachable) {
        this.modules.logger.warn({ code, checked: summary.checked }, "reconciler stopped: node unavailable");
        return summary;
      }
      throw error;
    } finally {
      end();
    }
  }

  /** Every open order created up to `createdBeforeMs`, merchant by merchant, each once; false if the run is stopping. */
  private async fullPass(summary: ReconcileSummary, seen: Set<string>, createdBeforeMs: number): Promise<boolean> {
    for (const merchant of await this.modules.storage.merchants.list()) {
      for (const status of OPEN_STATUSES) {
        let cursor: string | undefined;
        do {
          const page = await this.modules.storage.orders.list(merchant.id, { status, limit: PAGE, toMs: createdBeforeMs, ...(cursor ? { cursor } : {}) });
          for (const order of page.items) {
            if (this.runner.closing) return false;
            // An order that moved to a later status during the pass is listed again: once is enough.
            if (seen.has(order.id) || this.settled(order)) continue;
            seen.add(order.id);
            await this.checkIdle(order.id, summary, false);
          }
          cursor = page.next;
        } while (cursor);
      }
    }
    return true;
  }

  /** Checks order `id` once no action on it is in flight (an action between its node call and its own write must not look like a dropped order). */
  private checkIdle(id: string, summary: ReconcileSummary, onlyIfDue: boolean): Promise<void> {
    const check = () => this.check(id, summary, onlyIfDue);
    return this.modules.whenIdle ? this.modules.whenIdle(id, check) : check();
  }

  /** Orders past the point where the chain can still change them. */
  private settled(order: OrderRecord): boolean {
    const nowMs = this.modules.now();
    const grace = this.options.expiredGraceSeconds * 1000;
    if (order.status === "expired" || order.status === "cancelled") return nowMs > order.expiresAtMs + grace;
    // Released: only refunds can follow, within the refund window (onChain.deadline).
    if (order.status === "released" && order.onChain) return nowMs > order.onChain.deadline * 1000 + grace && !order.refunds.some((r) => r.status === "pending");
    return false;
  }

  private async check(id: string, summary: ReconcileSummary, onlyIfDue: boolean): Promise<void> {
    // Read again: the feed or an action may have settled it since it was listed.
    const order = await this.modules.storage.orders.get(id);
    if (!order) return;
    const nowMs = this.modules.now();
    if (onlyIfDue && (order.checkAtMs === undefined || order.checkAtMs > nowMs)) return;
    const view = await this.modules.node.payment(order.paymentId);
    summary.checked += 1;
    this.metrics.checked.inc();
    const known = new Set((view?.operations ?? []).map((op) => op.id.toLowerCase()));
    const resubmitted = await this.resubmitAuthorization(order, view, known);
    const result = await updateOrder(
      this.modules.storage.orders,
      order.id,
      (current) => {
        const merged = mergeNodeView(current, view, nowMs) ?? current;
        const next = withUnreceived(merged, known, resubmitted, nowMs);
        // Compared now: the next comparison of what is still pending waits (domain/orders.ts checkTimeOf).
        return { ...next, checkedAtMs: nowMs, updatedAtMs: next === current ? current.updatedAtMs : nowMs };
      },
      { repair: (current, next) => this.classify(current, next, nowMs) },
    );
    const changedStatus = result.order.status !== order.status || result.events.length > 0 || result.repair;
    if (!changedStatus) return;
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

  /**
   * A pending authorization the node does not know (the gateway had no answer in time and the request
   * never arrived, or the node refused it meanwhile): submitted again with the same signature. Returns
   * the node's refusal to record, undefined when there is nothing to record.
   */
  private async resubmitAuthorization(order: OrderRecord, view: NodePayment | undefined, known: Set<string>): Promise<{ code: string; message: string } | undefined> {
    const authorization = order.authorization;
    if (authorization?.status !== "pending" || known.has(order.paymentId.toLowerCase()) || view?.onChain) return undefined;
    const submitter = this.modules.submitter ?? this.modules.node;
    let result;
    try {
      result = await submitter.submit({ kind: "pay", terms: order.terms, signature: authorization.signature });
    } catch (error) {
      // Still no answer, or turned away for now: left pending for the next comparison.
      if (error instanceof SettlenetError && (error.code === "NODE_TIMEOUT" || isRetryLater(error))) return undefined;
      throw error;
    }
    this.modules.logger.warn({ id: order.id, paymentId: order.paymentId, accepted: result.accepted }, "the node never received an authorization; submitted it again");
    if (result.accepted || ALREADY_THERE.has(result.problem.code)) return undefined;
    return { code: result.problem.code, message: result.problem.title };
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

/**
 * The order with what the node never received settled: an authorization it refused on resubmission is
 * failed with the node's refusal; a pending fulfilment or refund it does not know is failed with
 * NODE_NEVER_RECEIVED (the merchant may send it again); a pending auto-release it does not know is
 * dropped (the keeper sends it again).
 */
function withUnreceived(order: OrderRecord, known: Set<string>, refused: { code: string; message: string } | undefined, nowMs: number): OrderRecord {
  const unreceived = (op: SubmittedOperation | undefined) => op?.status === "pending" && !known.has(op.operationId.toLowerCase()) && nowMs - op.submittedAtMs > 0;
  const neverReceived = { code: "NODE_NEVER_RECEIVED", message: "the node never received this operation (no answer came in time); submit it again" };
  let next = order;
  // The payment id is the pay's id: a payment on-chain is this very pay executed, whoever relayed it.
  if (order.onChain && order.authorization?.status === "pending") next = { ...next, authorization: { ...order.authorization, status: "executed" } };
  else if (refused && order.authorization?.status === "pending") {
    next = { ...next, authorization: { ...order.authorization, status: "failed", error: refused }, status: order.onChain ? order.status : "failed" };
  }
  if (unreceived(order.fulfilment) && order.fulfilment) next = { ...next, fulfilment: { ...order.fulfilment, status: "failed", error: neverReceived } };
  if (order.refunds.some(unreceived)) next = { ...next, refunds: order.refunds.map((r) => (unreceived(r) ? { ...r, status: "failed" as const, error: neverReceived } : r)) };
  if (unreceived(order.autoRelease)) {
    const { autoRelease: _dropped, ...rest } = next;
    next = rest;
  }
  return next;
}
