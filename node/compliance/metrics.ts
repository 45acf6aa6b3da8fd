/** Prometheus metrics of the compliance monitors (AML, reserves, alert gossip), on the node's registry. */
import { Counter, Gauge, type Registry } from "prom-client";

import type { LevelAlertRepository } from "../storage/alerts.js";

/** The compliance metrics; one instance per node registry. */
export class ComplianceMetrics {
  readonly alertsRaised: Counter<"rule" | "origin">;
  readonly paymentsEvaluated: Counter;
  readonly paymentsReadBack: Counter;
  readonly alertGossip: Counter<"result">;
  readonly reserveRatio: Gauge<"token" | "custodian">;
  readonly attestationAge: Gauge<"token" | "custodian">;

  constructor(registry: Registry, alerts?: LevelAlertRepository) {
    const registers = [registry];
    this.alertsRaised = new Counter({
      name: "settlenet_alerts_raised_total",
      help: "Compliance alerts newly stored, by rule and origin (local monitor or gossip)",
      labelNames: ["rule", "origin"],
      registers,
    });
    this.paymentsEvaluated = new Counter({ name: "settlenet_aml_payments_evaluated_total", help: "Indexed payments evaluated by the AML rules", registers });
    this.paymentsReadBack = new Counter({
      name: "settlenet_aml_payments_read_back_total",
      help: "Of them, those the AML monitor read back from the index (at start, after a gap) instead of taking them from the indexer's steps",
      registers,
    });
    this.alertGossip = new Counter({
      name: "settlenet_alert_gossip_messages_total",
      help: "Alert gossip messages: published, or received and accepted/ignored/rejected",
      labelNames: ["result"],
      registers,
    });
    this.reserveRatio = new Gauge({
      name: "settlenet_reserve_ratio",
      help: "Attested reserves / outstanding supply per token and custodian (absent when nothing is outstanding)",
      labelNames: ["token", "custodian"],
      registers,
    });
    this.attestationAge = new Gauge({
      name: "settlenet_reserve_attestation_age_seconds",
      help: "Chain-time age of the latest reserve attestation per token and custodian",
      labelNames: ["token", "custodian"],
      registers,
    });
    if (alerts) {
      new Gauge({
        name: "settlenet_alerts_open",
        help: "Stored alerts not yet acknowledged, by rule",
        labelNames: ["rule"],
        registers,
        async collect() {
          this.reset();
          for (const { rule, open } of await alerts.counts()) this.set({ rule }, open);
        },
      });
    }
  }
}
