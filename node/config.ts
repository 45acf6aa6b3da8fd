/**
 * The node's configuration file (JSON), validated by zod and read by core/config.ts: a bad file is
 * refused at start with a message that names the file and the field.
 */
import { z } from "zod";

import { complianceConfigSchema } from "./compliance/config.js";
import { custodianConfigSchema } from "./custodian/config.js";
import { overdueConfigSchema } from "./overdue/config.js";
import { loadConfig, parseConfig, type ConfigSpec } from "../core/config.js";
import { resolveTlsPaths, tlsConfigSchema } from "../core/http/tls.js";
import { riskRulesWire, rulesOf } from "../core/protocol/risk-rules.js";

const multiaddr = z.string().regex(/^\/(ip4|ip6|dns4|dns6|dns)\/[^/]+\/tcp\/\d+(\/p2p\/\w+)?$/, "expected a TCP multiaddr like /ip4/127.0.0.1/tcp/4001");

/** The start-up risk rules (core/protocol/risk-rules.ts), until a signed document replaces them. */
export const riskConfigSchema = riskRulesWire.transform(rulesOf);

export const nodeConfigSchema = z.strictObject({
  /** `institution` nodes validate, relay and attest; `regulator` nodes are read-only observers. */
  role: z.enum(["institution", "regulator"]),
  /** ethers JSON keystore of the operator's signing key (password from `keyPasswordEnv`). */
  keyFile: z.string().min(1),
  keyPasswordEnv: z.string().min(1).default("SETTLENET_KEY_PASSWORD"),
  /** libp2p private key (created on first start). */
  peerKeyFile: z.string().min(1),
  listen: z.array(multiaddr).min(1),
  bootstrap: z.array(multiaddr).default([]),
  gossip: z
    .strictObject({
      /**
       * How long operations accepted on the API gather into one gossip message (node/pipeline.ts); an API
       * answer waits at most this long more. 0: one message per API call.
       */
      windowMs: z.number().int().min(0).max(1_000).default(20),
      /**
       * Gossipsub mesh degree (node/p2p/network.ts). 0: no mesh, for nodes that all dial one another: a
       * node sends its messages to every peer and nothing is forwarded (what a node missed comes by IHAVE/IWANT).
       */
      meshDegree: z.number().int().min(0).max(12).default(0),
    })
    .prefault({}),
  rpcUrl: z.url({ protocol: /^https?$/ }),
  deploymentFile: z.string().min(1),
  dataDir: z.string().min(1),
  api: z.strictObject({
    host: z.string().default("127.0.0.1"),
    port: z.number().int().min(0).max(65_535),
    /** The API's credentials (node/api/credentials.ts), beside the config file by default: not in dataDir, so a restore keeps them. */
    credentialsFile: z.string().min(1).default("credentials.json"),
    /**
     * The 32-byte key (mode 0600, created on first use) that seals users' TOTP secrets in the database
     * (node/api/users.ts): beside the config like the credentials, never in dataDir nor in a backup.
     */
    userSecretsKeyFile: z.string().min(1).default("user-secrets.key"),
    /** People's sign-in (POST /v1/session): lock-out and session lifetimes. */
    signIn: z
      .strictObject({
        /** Failed sign-ins in a row that lock a user. */
        maxFailures: z.number().int().min(1).default(5),
        /** How long a locked user refuses every sign-in. */
        lockoutSeconds: z.number().int().min(1).default(15 * 60),
        /** A session unused this long ends. */
        sessionIdleSeconds: z.number().int().min(1).default(30 * 60),
        /** A session ends this long after sign-in, however active. */
        sessionAbsoluteSeconds: z.number().int().min(1).default(12 * 3600),
        /** Sign-in attempts per client address and window, refused before any password work. */
        rateLimit: z.strictObject({ max: z.number().int().min(1).default(20), timeWindowMs: z.number().int().min(1_000).default(60_000) }).prefault({}),
      })
      .prefault({}),
    /** Serve HTTPS with this certificate (PEM, with its chain) and key; absent: plain HTTP (loopback only). */
    tls: tlsConfigSchema.optional(),
    /** The built console served at /console/ (index.html and assets/); default this checkout's console/dist. */
    consoleDir: z.string().min(1).optional(),
  }),
  relay: z
    .strictObject({
      batchSize: z.number().int().min(1).max(500).default(100),
      batchIntervalMs: z.number().int().min(1).default(200),
      /** Shortest time after another institution's last lease renewal before this node relays what it holds. */
      failoverTimeoutMs: z.number().int().min(100).default(5_000),
      /** How often this node sends its lease message (renewal and claims). */
      leaseRenewMs: z.number().int().min(50).default(1_000),
      /**
       * Batches sent and not yet mined. A batch keeps its place until its receipt, so a round takes about a
       * block's time and the relay carries at most batchSize × this per round: 1,600 items at the default 16
       * (the pending transactions per sender geth's pool guarantees); 4 held it to about 400/s at 1 s blocks.
       */
      maxInFlightBatches: z.number().int().min(1).max(64).default(16),
      /** Most gas per batch transaction; default the chain's block gas limit, at most 2^24. */
      maxBatchGas: z.number().int().min(1_000_000).max(16_777_216).optional(),
      maxBatchBytes: z.number().int().min(10_000).default(120_000),
      /** Admission control: refuse new API work (503 RELAY_BACKLOG) while the oldest own operation not executed is older than this. */
      maxLagMs: z.number().int().min(100).default(5_000),
      /** Admission control: ... or while the queued and in-flight batch items need more gas than this. */
      maxQueueGas: z.number().int().min(1_000_000).default(200_000_000),
    })
    .prefault({}),
  indexer: z
    .strictObject({
      pollIntervalMs: z.number().int().min(10).default(500),
      confirmations: z.number().int().min(0).default(0),
    })
    .prefault({}),
  /** The change feed (GET /v1/changes). */
  feed: z
    .strictObject({
      /** Changes kept (the oldest are pruned): a client that falls further behind re-reads what it needs. */
      keepChanges: z.number().int().min(1_000).default(2_000_000),
      pruneIntervalMs: z.number().int().min(1_000).default(60_000),
    })
    .prefault({}),
  /** The start-up risk rules, until a signed risk-rules document (node/risk/rules.ts) replaces them. */
  risk: riskConfigSchema.prefault({}),
  riskRules: z
    .strictObject({
      /** How often this node re-publishes the signed document it applies (a late or restarted peer gets it so). */
      rebroadcastMs: z.number().int().min(100).default(30_000),
    })
    .prefault({}),
  disputes: z
    .strictObject({
      /** How often this node re-publishes the notes it took from its API on open disputes (a late or restarted peer gets them so). */
      rebroadcastMs: z.number().int().min(100).default(30_000),
    })
    .prefault({}),
  /** Per-peer gossip limits (node/p2p/network.ts). */
  p2p: z
    .strictObject({
      /** Offences (rejected or oversized messages, control floods) after which a peer is hung up and banned. */
      maxRejects: z.number().int().positive().default(5),
      /** How long a banned peer is refused. */
      banSeconds: z.number().positive().default(600),
      /** RPCs carrying IHAVE or IWANT taken from one peer per second; beyond it they are dropped and the peer charged an offence. */
      maxControlRpcsPerSecond: z.number().int().positive().default(20),
    })
    .prefault({}),
  validation: z
    .strictObject({
      /** Worker threads recovering signatures; default one per core. 0 recovers on the main thread. */
      signatureWorkers: z.number().int().min(0).max(64).optional(),
      /** Groups of at most this many signatures recover on the main thread even with workers (default 32). */
      inlineSignatures: z.number().int().min(0).max(500).optional(),
    })
    .prefault({}),
  /** Settlement cycles (清结算); every node of a network must use the same cycleSeconds. */
  settlement: z
    .strictObject({
      /** Cycle length in seconds of chain time; cycle N = [N × length, (N + 1) × length). Daily (UTC) by default. */
      cycleSeconds: z.number().int().min(1).default(86_400),
      tickMs: z.number().int().min(10).default(2_000),
      finalizeFailoverMs: z.number().int().min(100).default(10_000),
      rebroadcastMs: z.number().int().min(100).default(30_000),
    })
    .prefault({}),
  logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  /** AML rules, proof-of-reserves checks and alert gossip (node/compliance/config.ts). */
  compliance: complianceConfigSchema.prefault({}),
  /** The custodian service (node/custodian/): only on the custodian institution's node, with the custodian key. */
  custodian: custodianConfigSchema.optional(),
  /** Operational alerts for money stuck in an intermediate state (node/overdue/config.ts). */
  overdue: overdueConfigSchema.prefault({}),
  /** Before acknowledging anything: wait this long at most for peers' pending operations (node/backup/sync.ts). */
  peerSyncTimeoutMs: z.number().int().min(0).default(10_000),
});

export type NodeConfig = z.infer<typeof nodeConfigSchema>;
export type NodeConfigInput = z.input<typeof nodeConfigSchema>;

const nodeConfig: ConfigSpec<typeof nodeConfigSchema> = {
  label: "node",
  schema: nodeConfigSchema,
  resolvePaths: (config, at) => ({
    ...config,
    keyFile: at(config.keyFile),
    peerKeyFile: at(config.peerKeyFile),
    deploymentFile: at(config.deploymentFile),
    dataDir: at(config.dataDir),
    ...(config.custodian ? { custodian: { ...config.custodian, keyFile: at(config.custodian.keyFile) } } : {}),
    api: {
      ...config.api,
      credentialsFile: at(config.api.credentialsFile),
      userSecretsKeyFile: at(config.api.userSecretsKeyFile),
      ...(config.api.consoleDir !== undefined ? { consoleDir: at(config.api.consoleDir) } : {}),
      ...(config.api.tls ? { tls: resolveTlsPaths(config.api.tls, at) } : {}),
    },
  }),
};

/** Parses a config object; relative paths are resolved against `baseDir`. */
export function parseNodeConfig(raw: unknown, baseDir: string): NodeConfig {
  return parseConfig(nodeConfig, raw, baseDir);
}

/** Where the node's API credentials live. */
export function credentialsFileOf(config: Pick<NodeConfig, "api">): string {
  return config.api.credentialsFile;
}

/** Reads and validates a config file. */
export function loadNodeConfig(path: string): Promise<NodeConfig> {
  return loadConfig(nodeConfig, path);
}
