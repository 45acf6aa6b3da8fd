/** What `buildApp` (app.ts) takes: the gateway's options and the modules it runs on. */
import type { Logger } from "pino";
import type { Registry } from "prom-client";

import type { NodeApiClient } from "../core/api/client.js";
import type { Deployment } from "../core/protocol/deployment.js";
import type { BankAdapter } from "./adapters/bank.js";
import type { ChainReader } from "./adapters/chain.js";
import type { MoneyChain } from "./adapters/money-chain.js";
import type { FeedConfig, NodeBatchConfig, OrderDefaults, OverdueConfig } from "./config.js";
import type { TopupLimits } from "./domain/money.js";
import type { SecretBox } from "./domain/secrets.js";
import type { DashboardOptions } from "./domain/users.js";
import type { HostResolver } from "./domain/webhook-target.js";
import type { KeeperOptions } from "./jobs/keeper.js";
import type { ReconcileOptions } from "./jobs/reconciler.js";
import type { WebhookOptions } from "./jobs/webhooks.js";
import type { TlsCredentials } from "../core/http/tls.js";
import type { GatewayStorage } from "./storage/db.js";

export interface GatewayAppOptions {
  deployment: Deployment;
  orders: OrderDefaults;
  rateLimit: { max: number; timeWindowMs: number };
  /** Top-up bounds (defaults: domain/money.ts DEFAULT_TOPUP_LIMITS). */
  topups?: TopupLimits | undefined;
  /** Per client address request budget, before authentication (none if absent). */
  addressRateLimit?: { max: number; timeWindowMs: number } | undefined;
  /** Per client address budget of the hosted checkout's public routes (default 300 a minute). */
  checkoutRateLimit?: { max: number; timeWindowMs: number } | undefined;
  /** The console's build output (default: console/dist of this checkout). */
  consoleDir?: string | undefined;
  /** The gateway's URL as payers reach it, for `checkoutUrl` (default: from the request's Host). */
  publicUrl?: string | undefined;
  bodyLimit: number;
  clockSkewSeconds: number;
  idempotencyTtlSeconds: number;
  /** How often expired nonces and idempotency records are pruned (0: never). */
  pruneIntervalMs?: number;
  /** Webhook delivery (defaults: config.ts webhookConfigSchema). */
  webhooks?: Partial<WebhookOptions>;
  /** The dropped-order reconciler (defaults: config.ts reconcileConfigSchema). */
  reconcile?: Partial<ReconcileOptions>;
  /** How often open payouts, top-ups and payer actions are advanced (0: only on requests and bank settlements). */
  moneyTickMs?: number;
  /** The auto-release keeper (defaults: config.ts keeperConfigSchema); runs only with money modules (chain time). */
  keeper?: Partial<KeeperOptions>;
  /** Alerts for payouts, top-ups and webhook deliveries stuck too long (defaults: config.ts overdueConfigSchema). */
  overdue?: Partial<OverdueConfig>;
  /** Submissions to the node in groups (defaults: config.ts nodeBatchConfigSchema). */
  nodeBatch?: Partial<NodeBatchConfig>;
  /** Following the node's change feed (defaults: config.ts feedConfigSchema). */
  feed?: Partial<FeedConfig>;
  /** The admin credentials file (domain/admin-credentials.ts); without it the admin API refuses everyone. */
  adminCredentialsFile?: string | undefined;
  /** Dashboard sessions, lock-out and invitations (defaults: domain/users.ts DEFAULT_DASHBOARD_OPTIONS). */
  dashboard?: Partial<DashboardOptions> | undefined;
  /** Per client address budget of sign-ins and invitation acceptances (default 20 a minute). */
  signInRateLimit?: { max: number; timeWindowMs: number } | undefined;
  /** Serve HTTPS with this certificate and key (PEM); absent: plain HTTP. */
  tls?: TlsCredentials | undefined;
}

/** What money movement and payer actions need; without it those routes answer MONEY_NOT_CONFIGURED. */
export interface GatewayMoneyModules {
  chain: MoneyChain;
  bank?: BankAdapter | undefined;
}

export interface GatewayAppModules {
  storage: GatewayStorage;
  secrets: SecretBox;
  node: NodeApiClient;
  chain: ChainReader;
  logger: Logger;
  /** Clock in unix ms. */
  now?: () => number;
  money?: GatewayMoneyModules;
  /** Prometheus registry served at /metrics (a fresh one if absent). */
  metrics?: Registry;
  /** Host name resolution for webhook targets (the system resolver if absent). */
  resolve?: HostResolver;
}
