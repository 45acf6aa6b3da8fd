/**
 * The gateway's configuration file (JSON), validated by zod and read by core/config.ts: a bad file
 * is refused at start with a message that names the file and the field. Relative paths resolve
 * against the file's folder.
 */
import { z } from "zod";

import { loadConfig, parseConfig, type ConfigSpec } from "../core/config.js";
import { resolveTlsPaths, tlsConfigSchema } from "../core/http/tls.js";

const DAY = 86_400;

/** An encrypted key file and the environment variable that holds its password. */
const keystoreSchema = (passwordEnv: string) =>
  z.strictObject({
    keyFile: z.string().min(1),
    keyPasswordEnv: z.string().min(1).default(passwordEnv),
  });

const seconds = (min: number, max: number) => z.number().int().min(min).max(max);

export const orderDefaultsSchema = z.strictObject({
  /** Seconds a created order may be authorised (becomes the terms' payDeadline). */
  expirySeconds: seconds(60, 30 * DAY).default(1_800),
  /** Seconds after payment within which the merchant must mark fulfilment. */
  fulfilmentPeriodSeconds: seconds(60, 365 * DAY).default(7 * DAY),
  /** Seconds after fulfilment after which the payment may be released without the payer. */
  autoReleasePeriodSeconds: seconds(60, 365 * DAY).default(3 * DAY),
  /** Seconds after release during which the merchant may still refund. */
  refundPeriodSeconds: seconds(0, 365 * DAY).default(30 * DAY),
  /** Validity of the merchant operations the gateway signs (markFulfilled, refund). */
  operationDeadlineSeconds: seconds(60, 30 * DAY).default(3_600),
});

/** Webhook delivery: exponential backoff with jitter, for at least 24 hours (Standard Webhooks advises days). */
export const webhookConfigSchema = z.strictObject({
  /** Delay after the first failed attempt; later delays multiply by `backoffFactor`, up to `maxDelayMs`. */
  initialDelayMs: z.number().int().min(100).max(3_600_000).default(5_000),
  backoffFactor: z.number().min(1).max(10).default(3),
  maxDelayMs: z.number().int().min(1_000).max(86_400_000).default(4 * 3_600_000),
  /** How long a failing delivery is retried (from its first queueing or a redelivery request). */
  retryForSeconds: seconds(DAY, 30 * DAY).default(3 * DAY),
  /** Timeout of one attempt (the spec recommends 15-30 s). */
  timeoutMs: z.number().int().min(1_000).max(60_000).default(15_000),
  /** How often the dispatcher looks for due retries (a new event wakes it at once). */
  pollIntervalMs: z.number().int().min(50).max(60_000).default(500),
  /** Attempts waiting for a receiver's answer at once. */
  concurrency: z.number().int().min(1).max(256).default(16),
  maxEndpointsPerMerchant: z.number().int().min(1).max(100).default(10),
  /** Refuse http:// endpoints (set false only for development on loopback). */
  requireHttps: z.boolean().default(true),
  /**
   * Allow endpoints whose host resolves to loopback (127.0.0.0/8, ::1): development only (the local
   * launcher sets it). Private, link-local and other special-purpose addresses are always refused.
   */
  allowLoopback: z.boolean().default(false),
});

/** The dropped-order reconciler. */
export const reconcileConfigSchema = z.strictObject({
  /** Time between runs (the first runs at start); 0 runs it only at start. */
  intervalMs: z.number().int().min(0).max(3_600_000).default(5_000),
  /** A pending operation the gateway learns resolved more than this after it happened (it was down, or cut off from the node) is logged as a repair. */
  dropAfterSeconds: seconds(1, DAY).default(60),
  /** Expired and cancelled orders are still compared this long after their deadline. */
  expiredGraceSeconds: seconds(0, 30 * DAY).default(3_600),
});

/** Submissions to the node in groups (adapters/node-batcher.ts). */
export const nodeBatchConfigSchema = z.strictObject({
  /** How long the first operation of a group waits for others (a few ms: the latency it adds). */
  windowMs: z.number().int().min(0).max(1_000).default(2),
  /** A group is sent at once at this size (the node takes at most 500 per request). */
  maxOperations: z.number().int().min(1).max(500).default(200),
});

/** Following the node's change feed (jobs/feed.ts). */
export const feedConfigSchema = z.strictObject({
  /** Long polling: how long the node holds a request when nothing new has happened. */
  waitMs: z.number().int().min(0).max(30_000).default(10_000),
  /** Most changes applied per synced batch. */
  pageSize: z.number().int().min(1).max(1_000).default(500),
  /**
   * After a page that was not full, how long changes gather before the next request: one request, one
   * synced batch and one webhook fan-out per gathering instead of one per change when changes come a
   * few at a time. It is also the delay it adds to an order following the feed (and to its webhooks).
   */
  gatherMs: z.number().int().min(0).max(5_000).default(50),
});

/** The auto-release keeper (keeper.ts). */
export const keeperConfigSchema = z.strictObject({
  /** Time between runs (the first runs at start); 0 runs it only on demand. */
  intervalMs: z.number().int().min(0).max(3_600_000).default(5_000),
});

/** Alerts for money stuck in an intermediate state (jobs/overdue.ts); durations on the gateway's clock. */
export const overdueConfigSchema = z.strictObject({
  /** Check every this often (each check reads at most `maxItems` records per kind). */
  checkIntervalMs: z.number().int().min(10).max(3_600_000).default(10_000),
  /** A top-up not completed (bank deposit pending, or the custodian's mint not done) this long after it was asked for. */
  topupSeconds: seconds(1, 30 * DAY).default(3_600),
  /** A payout not final (redemption, the bank's confirmation or rejection, a reversal) this long after it was asked for. */
  payoutSeconds: seconds(1, 30 * DAY).default(3_600),
  /** A webhook delivery still pending this long after its retries began. */
  webhookSeconds: seconds(1, 30 * DAY).default(3_600),
  /** Most records one check looks at per kind; beyond it the count is a lower bound. */
  maxItems: z.number().int().min(1).max(100_000).default(1_000),
});

/** Dashboard users' sessions, lock-out and invitations (domain/users.ts). */
export const dashboardConfigSchema = z.strictObject({
  /** A session unused this long ends. */
  sessionIdleSeconds: seconds(60, 86_400).default(30 * 60),
  /** A session ends this long after sign-in, however active. */
  sessionAbsoluteSeconds: seconds(300, 30 * 86_400).default(12 * 3600),
  /** Failed sign-ins in a row that lock an account… */
  maxFailures: z.number().int().min(1).max(100).default(5),
  /** …for this long. */
  lockoutSeconds: seconds(1, 86_400).default(15 * 60),
  /** How long an invitation token is valid. */
  invitationTtlSeconds: seconds(300, 30 * 86_400).default(72 * 3600),
  /** Per client address budget of sign-ins and invitation acceptances, before any password is checked. */
  signInRateLimit: z
    .strictObject({
      max: z.number().int().min(1).default(20),
      timeWindowMs: z.number().int().min(1_000).default(60_000),
    })
    .prefault({}),
});

export type WebhookConfig = z.infer<typeof webhookConfigSchema>;
export type ReconcileConfig = z.infer<typeof reconcileConfigSchema>;
export type NodeBatchConfig = z.infer<typeof nodeBatchConfigSchema>;
export type FeedConfig = z.infer<typeof feedConfigSchema>;
export type OverdueConfig = z.infer<typeof overdueConfigSchema>;

export const gatewayConfigSchema = z.strictObject({
  host: z.string().min(1).default("127.0.0.1"),
  port: z.number().int().min(0).max(65_535),
  /** Serve HTTPS with this certificate (PEM, with its chain) and key; absent: plain HTTP (keep it on loopback). */
  tls: tlsConfigSchema.optional(),
  /** LevelDB and local state. */
  dataDir: z.string().min(1),
  /** HTTP API of the acquiring institution's node (operations are submitted there). */
  nodeUrl: z.url({ protocol: /^https?$/ }),
  /** File (mode 0600) holding this gateway's node API credential (role `gateway`, from `settlenet node credentials create`). */
  nodeCredentialFile: z.string().min(1).optional(),
  /** JSON-RPC endpoint of the chain: merchants' registered fees are read from ParticipantRegistry. */
  rpcUrl: z.url({ protocol: /^https?$/ }),
  deploymentFile: z.string().min(1),
  /** How often the chain is polled for receipts and blocks; default a quarter of the chain's block interval (0.1-1 s), measured at start. */
  chainPollIntervalMs: z.number().int().min(10).max(60_000).optional(),
  /** Environment variable holding the 32-byte master key (64 hex chars or base64) that encrypts secrets at rest. */
  masterKeyEnv: z.string().min(1).default("SETTLENET_GATEWAY_MASTER_KEY"),
  orders: orderDefaultsSchema.prefault({}),
  /** Per-merchant request budget. */
  rateLimit: z
    .strictObject({
      max: z.number().int().min(1).default(600),
      timeWindowMs: z.number().int().min(1_000).default(60_000),
    })
    .prefault({}),
  /** Per client address budget of /v1, /admin/v1, /metrics and /dashboard/api, applied before authentication (unsigned floods). */
  addressRateLimit: z
    .strictObject({
      max: z.number().int().min(1).default(1_200),
      timeWindowMs: z.number().int().min(1_000).default(60_000),
    })
    .prefault({}),
  /** Per client address budget of the hosted checkout's public routes (/v1/checkout, no credential). */
  checkoutRateLimit: z
    .strictObject({
      max: z.number().int().min(1).default(300),
      timeWindowMs: z.number().int().min(1_000).default(60_000),
    })
    .prefault({}),
  /** The gateway's URL as payers reach it (behind a proxy), for the `checkoutUrl` of payments; default: from each request's Host. */
  publicUrl: z.url({ protocol: /^https?$/ }).optional(),
  /** Largest accepted request body in bytes. */
  bodyLimit: z.number().int().min(1_024).max(10 * 1024 * 1024).default(64 * 1024),
  /** Accepted difference between a request's timestamp and the gateway's clock. */
  clockSkewSeconds: z.number().int().min(1).max(3_600).default(300),
  /** How long an Idempotency-Key's recorded response is kept. */
  idempotencyTtlSeconds: z.number().int().min(60).default(DAY),
  /** Timeout of one call to the node API (a submission not answered in time is left pending, never failed). */
  nodeTimeoutMs: z.number().int().min(100).default(10_000),
  nodeBatch: nodeBatchConfigSchema.prefault({}),
  feed: feedConfigSchema.prefault({}),
  logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  /**
   * An account with gas that submits merchants' ERC-2612 permits (allowances to the escrow for refunds
   * after release and transfers; merchants allow no person anything): the node relays only signed
   * escrow and token operations, and merchants hold no gas.
   */
  permitRelayer: keystoreSchema("SETTLENET_RELAYER_KEY_PASSWORD").optional(),
  /** The custodian's bank API (the bank simulator in development). */
  bank: z
    .strictObject({
      url: z.url({ protocol: /^https?$/ }),
      /** Verifies the bank's callbacks at POST /bank/callbacks (without it, settlements are learnt by polling only). */
      callbackSecret: z.string().min(16).optional(),
      /** The gateway's client id and HMAC secret at the bank: every request to it is signed. */
      client: z.strictObject({ id: z.string().min(1), secret: z.string().min(32) }).optional(),
      timeoutMs: z.number().int().min(100).default(10_000),
    })
    .optional(),
  /** Bounds on merchants' top-ups (money in minor units as decimal strings). */
  topups: z
    .strictObject({
      /** Largest single top-up (default ¥1,000,000.00). */
      maxAmount: z.string().regex(/^[1-9][0-9]{0,38}$/).default("100000000"),
      /** Most one merchant may top up in 24 hours, failed top-ups not counted (default ¥5,000,000.00). */
      dailyMaxAmount: z.string().regex(/^[1-9][0-9]{0,38}$/).default("500000000"),
    })
    .prefault({}),
  /** How often open payouts, top-ups and transfers are advanced (bank and node polled). */
  moneyTickMs: z.number().int().min(50).max(60_000).default(1_000),
  webhooks: webhookConfigSchema.prefault({}),
  /** The admin API (/admin/v1): hashed bearer credentials, in a file of their own (`settlenet gateway admin credential add`). */
  admin: z.strictObject({ credentialsFile: z.string().min(1) }).optional(),
  reconcile: reconcileConfigSchema.prefault({}),
  dashboard: dashboardConfigSchema.prefault({}),
  keeper: keeperConfigSchema.prefault({}),
  overdue: overdueConfigSchema.prefault({}),
});

export type GatewayConfig = z.infer<typeof gatewayConfigSchema>;
export type GatewayConfigInput = z.input<typeof gatewayConfigSchema>;
export type OrderDefaults = z.infer<typeof orderDefaultsSchema>;

const gatewayConfig: ConfigSpec<typeof gatewayConfigSchema> = {
  label: "gateway",
  schema: gatewayConfigSchema,
  resolvePaths: (config, at) => ({
    ...config,
    dataDir: at(config.dataDir),
    ...(config.tls ? { tls: resolveTlsPaths(config.tls, at) } : {}),
    deploymentFile: at(config.deploymentFile),
    ...(config.nodeCredentialFile ? { nodeCredentialFile: at(config.nodeCredentialFile) } : {}),
    ...(config.permitRelayer ? { permitRelayer: { ...config.permitRelayer, keyFile: at(config.permitRelayer.keyFile) } } : {}),
    ...(config.admin ? { admin: { credentialsFile: at(config.admin.credentialsFile) } } : {}),
  }),
};

/** Parses a config object; relative paths are resolved against `baseDir`. */
export function parseGatewayConfig(raw: unknown, baseDir: string): GatewayConfig {
  return parseConfig(gatewayConfig, raw, baseDir);
}

/** Reads and validates a gateway config file. */
export function loadGatewayConfig(path: string): Promise<GatewayConfig> {
  return loadConfig(gatewayConfig, path);
}
