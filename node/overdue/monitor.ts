/**
 * The node's overdue monitor: every `checkIntervalMs` it looks for money stuck in an intermediate state
 * and raises operational alerts (core/overdue.ts: a warn log once each, gauges per kind), listed on
 * GET /v1/admin/overdue:
 * - `operation_not_relayed`: an operation `accepted` longer than `notRelayedSeconds` (neither relayed
 *   by this node nor seen executed, whoever relays it);
 * - `operation_no_outcome`: an operation this node relayed (`submitted`), received longer than
 *   `noOutcomeSeconds` ago, with no outcome seen on-chain;
 * - `custody_minting`: a custody record still minting `custodyMintingSeconds` after it was made.
 * An alert clears when its item moves on (relayed, executed, failed; minted, failed). A check reads the
 * status index in receipt order, only the keys before the cut-off and at most `maxItems` per kind, so its
 * cost does not grow with the operation pool; custody records are few (one per bank transfer in flight)
 * and read at most `maxItems` at a time too. Alerts stay on this node: nothing is gossiped. The raised
 * alerts are kept in the node's store, so a restart does not raise (log, count) them again.
 */
import type { Logger } from "pino";
import type { Registry } from "prom-client";

import type { OverdueAlert, OverdueKind, OverdueReport } from "../../core/api/overdue.js";
import type { OperationKind } from "../../core/operations/index.js";
import { OverdueTracker, type OpenOverdue, type OverdueAlertStore, type OverdueCandidate } from "../../core/overdue.js";
import { PeriodicRunner } from "../../core/periodic.js";
import type { OperationRepository } from "../services.js";
import type { OverdueConfig } from "./config.js";

/** What the monitor reads of a custody record. */
export interface MintingRecord {
  bankRef: string;
  createdAtMs: number;
  attempts: number;
  operationId?: string | undefined;
}

export interface OverdueMonitorModules {
  operations: Pick<OperationRepository, "listReceivedBefore" | "getMany">;
  /** Where the raised alerts are kept across restarts (the node storage's meta values). */
  store: OverdueAlertStore;
  /** The custodian service's records still minting (absent on a node without the service). */
  minting?: ((limit: number) => Promise<MintingRecord[]>) | undefined;
  logger: Logger;
  metrics: Registry;
  now?: () => number;
}

const OPERATION_STATUS = { operation_not_relayed: "accepted", operation_no_outcome: "submitted" } as const;

export class OverdueMonitor {
  private readonly tracker: OverdueTracker<OverdueKind>;
  private readonly now: () => number;
  private readonly runner: PeriodicRunner<void>;

  constructor(
    private readonly config: OverdueConfig,
    private readonly modules: OverdueMonitorModules,
  ) {
    this.now = modules.now ?? Date.now;
    this.runner = new PeriodicRunner("overdue check", config.checkIntervalMs, () => this.checkOnce(), modules.logger);
    this.tracker = new OverdueTracker<OverdueKind>(
      {
        thresholdSeconds: {
          operation_not_relayed: config.notRelayedSeconds,
          operation_no_outcome: config.noOutcomeSeconds,
          ...(modules.minting ? { custody_minting: config.custodyMintingSeconds } : {}),
        } as Record<OverdueKind, number>,
        metrics: { items: "settlenet_overdue_items", oldestAge: "settlenet_overdue_oldest_age_seconds", raised: "settlenet_overdue_alerts_raised_total" },
        what: "money",
      },
      { logger: modules.logger, metrics: modules.metrics },
    );
  }

  start(): void {
    this.runner.start();
  }

  stop(): Promise<void> {
    return this.runner.stop();
  }

  /** One check of every kind. */
  async checkOnce(): Promise<void> {
    const nowMs = this.now();
    await this.tracker.restore(this.modules.store);
    for (const kind of ["operation_not_relayed", "operation_no_outcome"] as const) {
      const listed = await this.modules.operations.listReceivedBefore(OPERATION_STATUS[kind], this.tracker.cutoffMs(kind, nowMs) + 1, this.config.maxItems);
      const truncated = listed.length >= this.config.maxItems;
      const lastMs = listed.at(-1)?.receivedAtMs ?? 0;
      // Only new ones need their kind read (for the log and the list).
      const fresh = listed.filter((item) => !this.tracker.isOpen(kind, item.id));
      const stored = await this.modules.operations.getMany(fresh.map((item) => item.id));
      const kinds = new Map(stored.flatMap((op) => (op ? [[op.id.toLowerCase(), op.kind] as const] : [])));
      const candidates: OverdueCandidate[] = listed.map((item) => {
        const operationKind = kinds.get(item.id);
        return { id: item.id, sinceMs: item.receivedAtMs, ...(operationKind ? { detail: { operationKind } } : {}) };
      });
      // Receipt order: with a truncated list, what was received after its last item was not looked at.
      this.tracker.update(kind, { candidates, truncated, judged: (alert) => !truncated || alert.sinceMs <= lastMs }, nowMs);
    }
    if (this.modules.minting) {
      const records = await this.modules.minting(this.config.maxItems);
      const truncated = records.length >= this.config.maxItems;
      const cutoff = this.tracker.cutoffMs("custody_minting", nowMs);
      const candidates = records
        .filter((r) => r.createdAtMs <= cutoff)
        .map((r) => ({ id: r.bankRef, sinceMs: r.createdAtMs, detail: { attempts: r.attempts, ...(r.operationId ? { operationId: r.operationId } : {}) } }));
      this.tracker.update("custody_minting", { candidates, truncated, judged: () => !truncated }, nowMs);
    }
    await this.tracker.save(this.modules.store);
    this.tracker.checkedAtMs = nowMs;
  }

  /** The open alerts (oldest first, at most `limit`) with the figures of the last check. */
  report(limit: number): OverdueReport {
    return {
      checkedAtMs: this.tracker.checkedAtMs,
      kinds: this.tracker.summary() as OverdueReport["kinds"],
      alerts: this.tracker.alerts().slice(0, limit).map(alertView),
    };
  }
}

function alertView(alert: OpenOverdue): OverdueAlert {
  const detail = alert.detail ?? {};
  return {
    kind: alert.kind as OverdueKind,
    id: alert.id,
    ...(typeof detail["operationKind"] === "string" ? { operationKind: detail["operationKind"] as OperationKind } : {}),
    ...(typeof detail["operationId"] === "string" ? { operationId: detail["operationId"] } : {}),
    sinceMs: alert.sinceMs,
    raisedAtMs: alert.raisedAtMs,
    ageSeconds: alert.ageSeconds,
  };
}
