/**
 * The node's compliance part, composed once in node.ts: the AML monitor on indexed payments, the
 * reserves monitor, alert gossip (institutions publish, regulators store) and the API routes.
 */
import type { AbstractProvider, Signer } from "ethers";
import type { FastifyInstance } from "fastify";
import type { Registry } from "prom-client";

import type { GossipNetwork } from "../p2p/network.js";
import type { Deployment } from "../../core/protocol/deployment.js";
import type { Logger, RegistryView } from "../services.js";
import type { NodeStorage } from "../storage/db.js";
import type { Alert, AlertRecord } from "./alert.js";
import { AmlMonitor } from "./aml.js";
import { registerComplianceRoutes } from "./api.js";
import type { ComplianceConfig } from "./config.js";
import { ALERTS_TOPIC, alertGossipValidator, encodeAlertMessages } from "./gossip.js";
import { ComplianceMetrics } from "./metrics.js";
import { ReserveMonitor } from "./reserves.js";

export { ALERTS_TOPIC };

export interface ComplianceOptions {
  config: ComplianceConfig;
  role: "institution" | "regulator";
  /** This node's operator id. */
  operator: string;
  deployment: Deployment;
}

export interface ComplianceModules {
  storage: NodeStorage;
  provider: AbstractProvider;
  registry: RegistryView;
  network: GossipNetwork;
  /** The operator's signing key (signs published alert messages). */
  signer: Signer;
  logger: Logger;
  metrics: Registry;
}

export interface RunningCompliance {
  aml: AmlMonitor;
  reserves: ReserveMonitor;
  /**
   * Stores alerts another part of the node found (the custodian service) as this node's own and
   * publishes the new ones like the monitors' (so they reach the regulators); returns the new ones.
   */
  raise(alerts: Alert[]): Promise<AlertRecord[]>;
  /** Adds the compliance routes to the node API (before it listens). */
  register(app: FastifyInstance): Promise<void>;
  stop(): Promise<void>;
}

/** Starts the monitors and subscribes to the alerts topic (which must be among the network's declared topics). */
export async function startCompliance(options: ComplianceOptions, modules: ComplianceModules): Promise<RunningCompliance> {
  const { storage, logger, network } = modules;
  const log = logger.child({ module: "compliance" });
  const metrics = new ComplianceMetrics(modules.metrics, storage.alerts);
  const publish = options.role === "institution" && options.config.gossipAlerts;
  const onAlerts = (alerts: AlertRecord[]) => {
    if (!publish) return;
    void (async () => {
      for (const message of await encodeAlertMessages(alerts, options.operator, modules.signer)) {
        const peers = await network.publishTo(ALERTS_TOPIC, message);
        metrics.alertGossip.inc({ result: "published" });
        log.debug({ peers, alerts: alerts.length }, "alerts published");
      }
    })().catch((error: unknown) => log.warn({ err: error }, "publishing alerts failed (they stay stored here)"));
  };
  network.addTopic(ALERTS_TOPIC, alertGossipValidator({ registry: modules.registry, alerts: storage.alerts, metrics, logger: log, store: options.role === "regulator" }));

  const aml = new AmlMonitor({ rules: options.config.aml, reporter: options.operator }, { storage, logger: log, metrics, onAlerts });
  const reserves = new ReserveMonitor(
    { deployment: options.deployment, reporter: options.operator, ...options.config.reserves },
    { provider: modules.provider, storage, logger: log, metrics, onAlerts },
  );
  if (options.config.aml.enabled) {
    // Newly indexed payments come from the indexer's steps as they are stored, not read back.
    storage.onIndexed((step) => aml.indexed(step));
    await aml.start();
  }
  if (options.config.reserves.enabled) await reserves.start();
  return {
    aml,
    reserves,
    async raise(alerts) {
      const created = await storage.alerts.record(alerts, { origin: "local", reporter: options.operator, nowMs: Date.now() });
      for (const record of created) metrics.alertsRaised.inc({ rule: record.rule, origin: "local" });
      if (created.length > 0) {
        log.warn({ alerts: created.map((a) => ({ id: a.id, rule: a.rule, account: a.account })) }, "alerts raised");
        onAlerts(created);
      }
      return created;
    },
    register: (app) => registerComplianceRoutes(app, { alerts: storage.alerts, reserves: () => reserves.report() }),
    async stop() {
      await aml.stop();
      await reserves.stop();
    },
  };
}
