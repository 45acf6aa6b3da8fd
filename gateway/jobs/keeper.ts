/**
 * Auto-release keeper: `release` is permissionless and unsigned, so once a fulfilled payment's
 * auto-release time has passed in chain time (and nobody disputed or confirmed it), the gateway
 * submits it through its node, so merchants are paid without waiting for some other party to do it.
 * Its candidates come from the orders' index of fulfilled orders by auto-release time, which the
 * change feed keeps current (a confirmation or dispute takes the order out of it): no node read per
 * order; the node's answer to the submission is the check.
 *
 * Once and durably: a release's operation id is a hash of the payment id, the same whoever sends it,
 * so a resubmission after a crash is the same operation (the node answers DUPLICATE or
 * ALREADY_EXECUTED, which count as success) and the escrow executes it at most once. What the keeper
 * submitted is stored on the order (`autoRelease`); the feed records it executed and the order
 * released, and that change writes `payment.released` to the event outbox in the same batch
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
import type { NodeSubmitter } from "../adapters/node-batcher.js";
import { isRetryLater, type NodeApiClient } from "../../core/api/client.js";
import type { PaymentService } from "../domain/payments.js";
import { updateOrder } from "../domain/orders.js";
import { PeriodicRunner } from "../../core/periodic.js";
import type { GatewayStorage } from "../storage/db.js";
import type { OrderRecord, SubmittedOperation } from "../domain/records.js";

export interface KeeperOptions {
  /** Time between runs (the first runs at start); 0 runs it only on demand. */
  intervalMs: number;
}

export interface KeeperModules {
  storage: GatewayStorage;
  node: NodeApiClient;
  /** Where releases are submitted: the batcher in the app; the node client itself when absent. */
  submitter?: NodeSubmitter;
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
/** Most candidates one run looks at (the earliest due first). */
const MAX_PER_RUN = 1_000;

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
      for (const id of await this.modules.storage.orders.listReleaseDue(Number(chainNow), MAX_PER_RUN)) {
        if (this.runner.closing) return summary;
        summary.checked += 1;
        await this.modules.payments.whenIdle(id, () => this.check(id, chainNow, summary));
      }
      this.metrics.runs.inc({ result: "complete" });
      return summary;
    } catch (error) {
      const code = error instanceof SettlenetError ? error.code : "INTERNAL";
      if (code === "NODE_UNAVAILABLE" || code === "NODE_TIMEOUT" || code === "CHAIN_UNAVAILABLE" || isRetryLater(error)) {
        this.metrics.runs.inc({ result: code === "CHAIN_UNAVAILABLE" ? "chain_unavailable" : "node_unavailable" });
        this.modules.logger.warn({ code, checked: summary.checked }, "keeper run stopped early");
        return summary;
      }
      this.metrics.runs.inc({ result: "error" });
      throw error;
    }
  }

  private async check(id: string, chainNow: bigint, summary: KeeperSummary): Promise<void> {
    const order = await this.modules.storage.orders.get(id);
    if (!order || order.status !== "fulfilled" || !order.onChain || BigInt(order.onChain.deadline) > chainNow) return;
    // Submitted before: pending ones are settled by the feed (or the reconciler), refused ones are not sent again.
    if (order.autoRelease) return;
    const releaseId = this.releaseIdOf(order).toLowerCase();
    let result;
    try {
      result = await (this.modules.submitter ?? this.modules.node).submit(this.releaseOp(order));
    } catch (error) {
      // No answer: the node may have it. Recorded as pending like an accepted one; anything else ends the run.
      if (!(error instanceof SettlenetError && error.code === "NODE_TIMEOUT")) throw error;
    }
    const nowMs = this.modules.now();
    let record: SubmittedOperation;
    if (!result || result.accepted || ALREADY_THERE.has(result.problem.code)) {
      record = { operationId: releaseId, submittedAtMs: nowMs, status: "pending" };
      this.metrics.releases.inc({ result: !result || result.accepted ? "submitted" : "already_there" });
      summary.submitted.push(id);
      this.modules.logger.info({ id, merchantId: order.merchantId, paymentId: order.paymentId, operationId: releaseId }, "auto-release submitted");
    } else {
      // Recorded as failed so the keeper does not send it every run; the payer can still confirm.
      record = { operationId: releaseId, submittedAtMs: nowMs, status: "failed", error: { code: result.problem.code, message: result.problem.title } };
      this.metrics.releases.inc({ result: "refused" });
      this.modules.logger.warn({ id, paymentId: order.paymentId, code: result.problem.code }, "the node refused an auto-release");
    }
    await updateOrder(this.modules.storage.orders, id, (current) => (current.autoRelease ? undefined : { ...current, autoRelease: record, updatedAtMs: nowMs }));
  }
}
