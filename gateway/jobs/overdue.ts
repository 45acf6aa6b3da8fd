/**
 * The gateway's overdue check: every `checkIntervalMs` it looks for money stuck in an intermediate
 * state and raises operational alerts (core/overdue.ts: one warn log each, gauges per kind):
 * - `topup`: a top-up not completed `topupSeconds` after it was asked for (the bank's deposit pending,
 *   or the custodian's mint not done);
 * - `payout`: a payout not final `payoutSeconds` after it was asked for (typically the bank never
 *   confirmed or rejected it; the stage says where it waits);
 * - `webhook_delivery`: a webhook delivery still pending `webhookSeconds` after its retries began.
 * An alert clears when its item reaches a final state. Each check reads at most `maxItems` records per
 * kind (the open payouts and top-ups, which the money tick advances on every tick anyway; the latest-due
 * end of the webhook queue). Merchants see the same rule as `overdue: true` on a payout or top-up. The
 * raised alerts are kept in the gateway's store, so a restart does not raise (log, count) them again.
 */
import type { Logger } from "pino";
import type { Registry } from "prom-client";

import { OverdueTracker, type OverdueCandidate } from "../../core/overdue.js";
import { PeriodicRunner } from "../../core/periodic.js";
import type { OverdueConfig } from "../config.js";
import type { PayoutRecord, TopupRecord } from "../domain/money-types.js";
import type { GatewayStorage } from "../storage/db.js";

export type GatewayOverdueKind = "topup" | "payout" | "webhook_delivery";

const FINAL = { payout: new Set(["paid", "failed"]), topup: new Set(["completed", "failed"]) } as const;

export interface OverdueWatchModules {
  storage: Pick<GatewayStorage, "money" | "webhooks" | "getMeta" | "putMeta">;
  logger: Logger;
  metrics: Registry;
  now: () => number;
}

export class OverdueWatch {
  private readonly tracker: OverdueTracker<GatewayOverdueKind>;
  private readonly runner: PeriodicRunner<void>;

  constructor(
    private readonly config: OverdueConfig,
    private readonly modules: OverdueWatchModules,
  ) {
    this.runner = new PeriodicRunner("overdue check", config.checkIntervalMs, () => this.checkOnce(), modules.logger);
    this.tracker = new OverdueTracker<GatewayOverdueKind>(
      {
        thresholdSeconds: { topup: config.topupSeconds, payout: config.payoutSeconds, webhook_delivery: config.webhookSeconds },
        metrics: { items: "gateway_overdue_items", oldestAge: "gateway_overdue_oldest_age_seconds", raised: "gateway_overdue_alerts_raised_total" },
        what: "money",
      },
      { logger: modules.logger, metrics: modules.metrics },
    );
  }

  /** Whether a payout or top-up is overdue now (what merchants see as `overdue`). */
  isOverdue(kind: "payout", record: PayoutRecord): boolean;
  isOverdue(kind: "topup", record: TopupRecord): boolean;
  isOverdue(kind: "payout" | "topup", record: PayoutRecord | TopupRecord): boolean {
    return !(FINAL[kind] as ReadonlySet<string>).has(record.stage) && record.createdAtMs <= this.tracker.cutoffMs(kind, this.modules.now());
  }

  start(): void {
    this.runner.start();
  }

  stop(): Promise<void> {
    return this.runner.stop();
  }

  /** One check of every kind. */
  async checkOnce(): Promise<void> {
    const nowMs = this.modules.now();
    const { money, webhooks } = this.modules.storage;
    await this.tracker.restore(this.modules.storage);
    const max = this.config.maxItems;
    for (const kind of ["topup", "payout"] as const) {
      const records: (PayoutRecord | TopupRecord)[] = await money.openRecords(kind, max);
      const cutoff = this.tracker.cutoffMs(kind, nowMs);
      const candidates: OverdueCandidate[] = records
        .filter((r) => r.createdAtMs <= cutoff)
        .map((r) => ({ id: r.id, sinceMs: r.createdAtMs, detail: { merchantId: r.merchantId, stage: r.stage, ...(r.bank ? { bankRef: r.bank.bankRef, bankStatus: r.bank.status } : {}) } }));
      const truncated = records.length >= max;
      this.tracker.update(kind, { candidates, truncated, judged: () => !truncated }, nowMs);
    }
    const deliveries = await webhooks.pendingDeliveries(max);
    const cutoff = this.tracker.cutoffMs("webhook_delivery", nowMs);
    const truncated = deliveries.length >= max;
    this.tracker.update(
      "webhook_delivery",
      {
        candidates: deliveries
          .filter((d) => d.retryFromMs <= cutoff)
          .map((d) => ({ id: `${d.endpointId}/${d.eventId}`, sinceMs: d.retryFromMs, detail: { merchantId: d.merchantId, eventType: d.eventType, attempts: d.attemptCount } })),
        truncated,
        judged: () => !truncated,
      },
      nowMs,
    );
    await this.tracker.save(this.modules.storage);
    this.tracker.checkedAtMs = nowMs;
  }

  /** The open alerts, oldest first. */
  alerts() {
    return this.tracker.alerts();
  }
}
