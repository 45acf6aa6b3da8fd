/**
 * The bank simulator as its own process: `settlenet bank start --config <file>` (cli.ts) reads a
 * JSON config validated here, opens the simulator's LevelDB in `dataDir` and listens.
 *
 *   { "host": "127.0.0.1", "port": 7400, "dataDir": "bank-data",
 *     "latencyMs": { "min": 200, "max": 2000 }, "failureRate": 0.05,
 *     "callbackUrl": "http://127.0.0.1:7300/bank/callbacks", "callbackSecret": "...", "seed": "dev",
 *     "chain": { "rpcUrl": "http://127.0.0.1:8545", "deploymentFile": "deployment.json", "confirmations": 0 } }
 *
 * Without `chain` the bank refuses every payout: it pays only against a final redemption it read itself.
 */
import type { FastifyInstance } from "fastify";
import { Registry } from "prom-client";
import { z } from "zod";

import { loadConfig, parseConfig, type ConfigSpec } from "../core/config.js";
import { SettlenetError } from "../core/errors.js";
import { readTlsCredentials, resolveTlsPaths, serverUrl, tlsConfigSchema } from "../core/http/tls.js";
import type { Logger } from "pino";
import { loadOperatorWallet } from "../core/keys.js";
import { readDeployment } from "../core/protocol/deployment.js";
import { ReserveAttestor } from "./attestor.js";
import { ChainRedemptions } from "./redemptions.js";
import { buildBankSimulator } from "./simulator.js";
import { openBankStore } from "./store.js";

const DAY_MS = 24 * 60 * 60 * 1000;
const msRange = (max: number) =>
  z
    .strictObject({ min: z.number().int().min(0).max(max), max: z.number().int().min(0).max(max) })
    .refine((range) => range.min <= range.max, { message: "min must not exceed max", path: ["min"] });

export const bankConfigSchema = z
  .strictObject({
    host: z.string().min(1).default("127.0.0.1"),
    port: z.number().int().min(0).max(65_535),
    /** Serve HTTPS with this certificate (PEM, with its chain) and key; absent: plain HTTP (keep it on loopback). */
    tls: tlsConfigSchema.optional(),
    /** The simulator's LevelDB (relative paths: against the config file's folder). */
    dataDir: z.string().min(1),
    latencyMs: msRange(DAY_MS),
    /** Probability (0..1) that the bank declines a transfer. */
    failureRate: z.number().min(0).max(1),
    callbackUrl: z.url({ protocol: /^https?$/ }).optional(),
    callbackSecret: z.string().min(16, "use at least 16 characters").optional(),
    /** Backoff between callback attempts. */
    callbackRetryMs: msRange(DAY_MS).default({ min: 500, max: 60_000 }),
    /** The callers of the bank's API and their HMAC secrets: every request but /health must be signed by one. */
    clients: z.array(z.strictObject({ id: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/), secret: z.string().min(32, "use at least 32 characters") })).min(1),
    /** Replay window of signed requests. */
    requestToleranceSeconds: z.number().int().min(1).max(3_600).default(300),
    /**
     * The chain the bank reads redemptions from (payouts are paid only against a final one); absent:
     * every payout is refused. `deploymentFile` relative paths: against the config file's folder.
     */
    chain: z
      .strictObject({
        rpcUrl: z.url({ protocol: /^https?$/ }),
        deploymentFile: z.string().min(1),
        /** Blocks under the head before a redemption counts as final. */
        confirmations: z.number().int().min(0).max(1_000).default(0),
      })
      .optional(),
    /** Makes latencies and answers reproducible. */
    seed: z.string().min(1).optional(),
    /**
     * The bank as the custodian's independent reserve attestor (bank-sim/attestor.ts): it signs statements of
     * the reserve account's balance from its own books with this key (the one the registry names) and sends them.
     */
    attestor: z
      .strictObject({
        keyFile: z.string().min(1),
        keyPasswordEnv: z.string().regex(/^[A-Z_][A-Z0-9_]*$/).default("SETTLENET_ATTESTOR_KEY_PASSWORD"),
        rpcUrl: z.url({ protocol: /^https?$/ }),
        deploymentFile: z.string().min(1),
        custodian: z.string().regex(/^0x[0-9a-fA-F]{40}$/, "expected the custodian institution's address"),
        currency: z.string().regex(/^[A-Z0-9]{1,11}$/).default("CNY"),
        pollMs: z.number().int().min(100).max(DAY_MS).default(1_000),
        heartbeatMs: z.number().int().min(1_000).max(DAY_MS).default(600_000),
      })
      .optional(),
    logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  })
  .refine((config) => !config.callbackUrl || config.callbackSecret, { message: "required with callbackUrl", path: ["callbackSecret"] });

export type BankConfig = z.infer<typeof bankConfigSchema>;
export type BankConfigInput = z.input<typeof bankConfigSchema>;

const bankConfig: ConfigSpec<typeof bankConfigSchema> = {
  label: "bank",
  schema: bankConfigSchema,
  resolvePaths: (config, at) => ({
    ...config,
    dataDir: at(config.dataDir),
    ...(config.tls ? { tls: resolveTlsPaths(config.tls, at) } : {}),
    ...(config.chain ? { chain: { ...config.chain, deploymentFile: at(config.chain.deploymentFile) } } : {}),
    ...(config.attestor ? { attestor: { ...config.attestor, keyFile: at(config.attestor.keyFile), deploymentFile: at(config.attestor.deploymentFile) } } : {}),
  }),
};

/** Parses a config object; a relative `dataDir` is resolved against `baseDir`. */
export function parseBankConfig(raw: unknown, baseDir: string): BankConfig {
  return parseConfig(bankConfig, raw, baseDir);
}

/** Reads and validates a bank config file. */
export function loadBankConfig(path: string): Promise<BankConfig> {
  return loadConfig(bankConfig, path);
}

export interface BankServer {
  url: string;
  app: FastifyInstance;
  /** Stops answering, settling and calling back, then closes the database. */
  close(): Promise<void>;
}

/** Opens the store, builds the simulator and listens. */
export async function startBankServer(config: BankConfig, modules: { logger: Logger }): Promise<BankServer> {
  const deployment = config.chain ? await readDeployment(config.chain.deploymentFile) : undefined;
  const redemptions =
    config.chain && deployment ? ChainRedemptions.connect(config.chain.rpcUrl, BigInt(deployment.chainId), { deployment, confirmations: config.chain.confirmations }) : undefined;
  const store = await openBankStore(config.dataDir);
  let app: FastifyInstance | undefined;
  let attestor: ReserveAttestor | undefined;
  try {
    if (config.attestor) {
      const a = config.attestor;
      attestor = new ReserveAttestor(
        { deployment: await readDeployment(a.deploymentFile), rpcUrl: a.rpcUrl, custodian: a.custodian, currency: a.currency, pollMs: a.pollMs, heartbeatMs: a.heartbeatMs },
        { store, wallet: await loadOperatorWallet(a.keyFile, a.keyPasswordEnv), logger: modules.logger.child({ module: "reserve-attestor" }) },
      );
    }
    app = await buildBankSimulator(
      {
        latencyMs: config.latencyMs,
        failureRate: config.failureRate,
        callbackRetryMs: config.callbackRetryMs,
        clients: Object.fromEntries(config.clients.map((c) => [c.id, c.secret])),
        requestToleranceSeconds: config.requestToleranceSeconds,
        tls: await readTlsCredentials(config.tls),
        ...(config.seed !== undefined ? { seed: config.seed } : {}),
        ...(config.callbackUrl !== undefined ? { callbackUrl: config.callbackUrl } : {}),
        ...(config.callbackSecret !== undefined ? { callbackSecret: config.callbackSecret } : {}),
      },
      { logger: modules.logger, store, metrics: new Registry(), ...(redemptions ? { redemptions } : {}) },
    );
    await app.listen({ host: config.host, port: config.port }).catch((error: unknown) => {
      throw new SettlenetError("LISTEN_FAILED", `cannot listen on ${config.host}:${config.port}: ${(error as Error).message}`, { host: config.host, port: config.port }, { cause: error });
    });
    attestor?.start();
  } catch (error) {
    await attestor?.stop().catch(() => undefined);
    await app?.close().catch(() => undefined);
    await store.close();
    redemptions?.close();
    throw error;
  }
  const server = app;
  const address = server.server.address();
  const port = typeof address === "object" && address ? address.port : config.port;
  const url = serverUrl(config.host, port, config.tls !== undefined);
  modules.logger.info({ url, dataDir: config.dataDir, failureRate: config.failureRate, latencyMs: config.latencyMs }, "bank simulator listening");
  return {
    url,
    app: server,
    async close() {
      await attestor?.stop();
      await server.close();
      await store.close();
      redemptions?.close();
    },
  };
}
