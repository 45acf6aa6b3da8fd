/**
 * Auto-release keeper: `release` is permissionless and unsigned, so once a fulfilled payment's
 * auto-release time has passed in chain time (and nobody disputed or confirmed it), the gateway
 * submits it through its node, so merchants are paid without waiting for some other party to do it.
 *
 * Once and durably: a release's operation id is a hash of the payment id, the same whoever sends it,
 * so a resubmission after a crash is the same operation (the node answers DUPLICATE or
 * ALREADY_EXECUTED, which count as success) and the escrow executes it at most once. What the keeper
 * submitted is stored on the order (`autoRelease`), together with the order's new state when the node
 * reports it executed; the order change writes `payment.released` to the event outbox in the same batch
 * (storage/orders.ts), so the webhook goes out exactly like any other observed release.
 *
 * Chain time, not the wall clock, decides "due" (EDR and permissioned chains can lag): the latest
 * block's timestamp. An idle chain whose latest block is old therefore releases late, never early.
 */
import type { Logger } from "pino";
import { Counter, type Registry } from "prom-client";

import { SettlenetError } from "../../core/errors.js";
import { escrowOperationSchema, operationIdOf, type EscrowOperationInput } from "../../core/operations/index.js";
import type { Deployment } from "../../core/protocol/deployment.js";
import type { MoneyChain } from "../adapters/money-chain.js";
import type { NodeApiClient, NodePayment } from "../../core/api/client.js";
import { mergeNodeView, type PaymentService } from "../domain/payments.js";
import { updateOrder } from "../domain/orders.js";
import { PeriodicRunner } from "./periodic.js";
import type { GatewayStorage } from "../storage/db.js";
import type { OrderRecord, SubmittedOperation } from "../domain/records.js";

export interface KeeperOptions {
  /** Time between runs (the first runs at start); 0 runs it only on demand. */
  intervalMs: number;
}

export interface KeeperModules {
  storage: GatewayStorage;
  node: NodeApiClient;
  payments: Pick<PaymentService, "whenIdle">;
  chain: Pick<MoneyChain, "now">;
  logger: Logger;
  metrics: Registry;
  now: () => number;
}

/** What one run did. */
export interface KeeperSummary {
  checked: number;
  /** Orders whose release the keeper submitted (or found already at the node) in this run. */
  submitted: string[];
}

const ALREADY_THERE = new Set(["DUPLICATE", "ALREADY_EXECUTED"]);
const PAGE = 100;

function keeperMetrics(registry: Registry) {
  for (const name of ["gateway_keeper_releases_total", "gateway_keeper_runs_total"]) {
    if (registry.getSingleMetric(name)) registry.removeSingleMetric(name);
  }
  const registers = [registry];
  return {
    releases: new Counter({ name: "gateway_keeper_releases_total", help: "Auto-releases the keeper submitted, by result (submitted, already_there, refused)", labelNames: ["result"] as const, registers }),
    runs: new Counter({ name: "gateway_keeper_runs_total", help: "Keeper runs by result (complete, node_unavailable, chain_unavailable, error)", labelNames: ["result"] as const, registers }),
  };
}

/** Submits `release` for fulfilled payments past their auto-release time. */
export class ReleaseKeeper {
  private readonly metrics: ReturnType<typeof keeperMetrics>;
  private readonly ctx: { chainId: bigint; escrow: string };
  /** Runs `run` at start and every `intervalMs`; `stop` makes a run in progress end at the next order. */
  private readonly runner: PeriodicRunner<KeeperSummary>;

  constructor(
    private readonly options: KeeperOptions & { deployment: Deployment },
    private readonly modules: KeeperModules,
  ) {
    this.metrics = keeperMetrics(modules.metrics);
    this.ctx = { chainId: BigInt(options.deployment.chainId), escrow: options.deployment.contracts.escrow };
    this.runner = new PeriodicRunner("keeper", options.intervalMs, () => this.run(), modules.logger);
  }

  /** Runs now, then every `intervalMs` (0: only on demand). */
  start(): void {
    this.runner.start();
  }

  stop(): Promise<void> {
    return this.runner.stop();
  }

  /** One run (joins the one in progress, if any). */
  runOnce(): Promise<KeeperSummary> {
    return this.runner.runOnce();
  }

  /** The id of the release operation of `order` (the same for every sender). */
  releaseIdOf(order: OrderRecord): string {
    return operationIdOf(escrowOperationSchema.parse(this.releaseOp(order)), this.ctx);
  }

  private releaseOp(order: OrderRecord): EscrowOperationInput {
    return { kind: "release", terms: order.terms };
  }

  private async run(): Promise<KeeperSummary> {
    const summary: KeeperSummary = { checked: 0, submitted: [] };
    try {
      const chainNow = await this.modules.chain.now();
      for (const merchant of await this.modules.storage.merchants.list()) {
        let cursor: string | undefined;
        do {
          const page = await this.modules.storage.orders.list(merchant.id, { status: "fulfilled", limit: PAGE, ...(cursor ? { cursor } : {}) });
          for (const order of page.items) {
            if (this.runner.closing) return summary;
            // Not due by what the gateway last saw: skip without asking the node.
            if (!order.onChain || BigInt(order.onChain.deadline) > chainNow) continue;
            summary.checked += 1;
            await this.modules.payments.whenIdle(order.id, () => this.check(order.id, chainNow, summary));
          }
          cursor = page.next;
        } while (cursor);
      }
      this.metrics.runs.inc({ result: "complete" });
      return summary;
    } catch (error) {
      const code = error instanceof SettlenetError ? error.code : "INTERNAL";
      if (code === "NODE_UNAVAILABLE" || code === "CHAIN_UNAVAILABLE") {
        this.metrics.runs.inc({ result: code.toLowerCase() });
        this.modules.logger.warn({ code, checked: summary.checked }, "keeper run stopped early");
        return summary;
      }
      this.metrics.runs.inc({ result: "error" });
      throw error;
    }
  }

  private async check(id: string, chainNow: bigint, summary: KeeperSummary): Promise<void> {
    const stored = await this.modules.storage.orders.get(id);
    if (!stored || stored.status !== "fulfilled") return;
    // A fresh view: the payer may have confirmed or disputed since the gateway last looked.
    const view = await this.modules.node.payment(stored.paymentId);
    const releaseId = this.releaseIdOf(stored).toLowerCase();
    const order = await this.apply(id, view, releaseId);
    if (order.status !== "fulfilled" || !order.onChain || BigInt(order.onChain.deadline) > chainNow) return;
    const known = view?.operations.some((op) => op.id.toLowerCase() === releaseId) ?? false;
    // Submitted before and the node has it (pending or failed): nothing to send again.
    if (order.autoRelease && (known || order.autoRelease.status === "failed")) return;

    const result = await this.modules.node.submit(this.releaseOp(order));
    const nowMs = this.modules.now();
    let record: SubmittedOperation;
    if (result.accepted || ALREADY_THERE.has(result.problem.code)) {
      record = { operationId: releaseId, submittedAtMs: nowMs, status: "pending" };
      this.metrics.releases.inc({ result: result.accepted ? "submitted" : "already_there" });
      summary.submitted.push(id);
      this.modules.logger.info({ id, merchantId: order.merchantId, paymentId: order.paymentId, operationId: releaseId }, "auto-release submitted");
    } else {
      // Recorded as failed so the keeper does not send it every run; the payer can still confirm.
      record = { operationId: releaseId, submittedAtMs: nowMs, status: "failed", error: { code: result.problem.code, message: result.problem.title ?? result.problem.code } };
      this.metrics.releases.inc({ result: "refused" });
      this.modules.logger.warn({ id, paymentId: order.paymentId, code: result.problem.code }, "the node refused an auto-release");
    }
    await updateOrder(this.modules.storage.orders, id, (current) => ({ ...current, autoRelease: record, updatedAtMs: nowMs }));
  }

  /** Stores the node's view of the order and of its release operation (one batch, with the events they mean). */
  private async apply(id: string, view: NodePayment | undefined, releaseId: string): Promise<OrderRecord> {
    const nowMs = this.modules.now();
    const op = view?.operations.find((o) => o.id.toLowerCase() === releaseId);
    const { order } = await updateOrder(this.modules.storage.orders, id, (current) => {
      const merged = mergeNodeView(current, view, nowMs);
      let autoRelease = current.autoRelease;
      if (autoRelease && op) {
        const status = op.status === "executed" ? "executed" : op.status === "failed" ? "failed" : "pending";
        if (status !== autoRelease.status) {
          const { error: _previous, ...rest } = autoRelease;
          autoRelease = { ...rest, status, ...(op.error ? { error: { code: op.error.code, message: op.error.message } } : {}) };
        }
      }
      if (!merged && autoRelease === current.autoRelease) return undefined;
      return { ...(merged ?? current), ...(autoRelease ? { autoRelease } : {}), updatedAtMs: nowMs };
    });
    return order;
  }
}
