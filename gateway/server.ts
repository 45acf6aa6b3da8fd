/**
 * The runnable gateway: reads the deployment and the master key, opens the database, checks that the
 * stored secrets open with this master key, builds the app and listens. `stop` closes everything in
 * reverse order.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";

import type { Logger } from "pino";
import { Registry, collectDefaultMetrics } from "prom-client";

import { useNativeKeccakInEthers } from "../core/keccak.js";
import { StopStack } from "../core/lifecycle.js";
import { readTlsCredentials, serverUrl } from "../core/http/tls.js";
import { readDeployment } from "../core/protocol/deployment.js";
import { buildApp } from "./app.js";
import { createChainReader } from "./adapters/chain.js";
import type { GatewayConfig } from "./config.js";
import { loadOperatorWallet } from "../core/keys.js";
import { HttpBankAdapter } from "./adapters/bank.js";
import { merchantWallet } from "./domain/merchants.js";
import { MoneyChain } from "./adapters/money-chain.js";
import { NodeApiClient } from "../core/api/client.js";
import { secretBoxFromEnv } from "./domain/secrets.js";
import { openGatewayStorage } from "./storage/db.js";
import { checkGatewayChain } from "./startup.js";

export interface RunningGateway {
  url: string;
  stop(): Promise<void>;
}

/** The gateway's database folder inside `dataDir` (admin commands open the same one). */
export function gatewayDbDir(config: Pick<GatewayConfig, "dataDir">): string {
  return join(config.dataDir, "db");
}

/** Starts the gateway from its validated configuration. */
export async function startGateway(config: GatewayConfig, modules: { logger: Logger }): Promise<RunningGateway> {
  const { logger } = modules;
  const stack = new StopStack(logger);
  const stopAll = () => stack.stopAll();
  // ethers hashes in JavaScript otherwise (typed data, payment ids, log and receipt formatting).
  if (!useNativeKeccakInEthers()) logger.warn("the native keccak binding did not load: hashing runs in JavaScript");
  try {
    const deployment = await readDeployment(config.deploymentFile);
    const { pollingInterval } = await checkGatewayChain(config, deployment);
    const secrets = secretBoxFromEnv(config.masterKeyEnv);
    const storage = await openGatewayStorage(gatewayDbDir(config));
    stack.push(() => storage.close());
    // Fail at start, not at the first refund, if the master key is not the one the secrets were sealed with.
    for (const merchant of await storage.merchants.list()) merchantWallet(merchant, secrets);

    const chain = createChainReader(config.rpcUrl, deployment, { pollingInterval });
    stack.push(() => chain.close());
    const nodeCredential = config.nodeCredentialFile ? (await readFile(config.nodeCredentialFile, "utf8")).trim() : undefined;
    const node = new NodeApiClient({ baseUrl: config.nodeUrl, timeoutMs: config.nodeTimeoutMs, ...(nodeCredential ? { credentials: nodeCredential } : {}) });
    // Money movement: chain access (balances, permits) and the bank; mints are the custodian service's (node/custodian/), never the gateway's.
    const permitRelayer = config.permitRelayer ? await loadOperatorWallet(config.permitRelayer.keyFile, config.permitRelayer.keyPasswordEnv) : undefined;
    const moneyChain = new MoneyChain(config.rpcUrl, deployment, { permitRelayer, logger: logger.child({ module: "money-chain" }) }, { pollingInterval });
    stack.push(() => moneyChain.close());
    const bank = config.bank
      ? new HttpBankAdapter(
          {
            baseUrl: config.bank.url,
            timeoutMs: config.bank.timeoutMs,
            ...(config.bank.callbackSecret ? { callbackSecret: config.bank.callbackSecret } : {}),
            ...(config.bank.client ? { client: config.bank.client } : {}),
          },
          { logger: logger.child({ module: "bank" }) },
        )
      : undefined;
    const metrics = new Registry();
    collectDefaultMetrics({ register: metrics });
    const app = await buildApp(
      {
        deployment,
        orders: config.orders,
        rateLimit: config.rateLimit,
        addressRateLimit: config.addressRateLimit,
        checkoutRateLimit: config.checkoutRateLimit,
        publicUrl: config.publicUrl,
        topups: { maxAmount: BigInt(config.topups.maxAmount), dailyMaxAmount: BigInt(config.topups.dailyMaxAmount) },
        bodyLimit: config.bodyLimit,
        clockSkewSeconds: config.clockSkewSeconds,
        idempotencyTtlSeconds: config.idempotencyTtlSeconds,
        webhooks: config.webhooks,
        reconcile: config.reconcile,
        moneyTickMs: config.moneyTickMs,
        keeper: config.keeper,
        overdue: config.overdue,
        nodeBatch: config.nodeBatch,
        feed: config.feed,
        adminCredentialsFile: config.admin?.credentialsFile,
        dashboard: config.dashboard,
        signInRateLimit: config.dashboard.signInRateLimit,
        tls: await readTlsCredentials(config.tls),
      },
      { storage, secrets, node, chain, logger: logger.child({ module: "gateway" }), metrics, money: { chain: moneyChain, bank } },
    );
    await app.listen({ host: config.host, port: config.port });
    stack.push(() => app.close());
    // Once, at the end: what the gateway did in its life (the work counters also served at /metrics).
    stack.push(async () => logger.info({ work: workCounts(await metrics.metrics()) }, "gateway work since start"));
    const address = app.server.address();
    const port = typeof address === "object" && address ? address.port : config.port;
    const url = serverUrl(config.host, port, config.tls !== undefined);
    logger.info({ url, node: config.nodeUrl }, "gateway started");
    return { url, stop: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/** The gateway's work counters from the Prometheus text: "name{labels}" → value. */
function workCounts(text: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const line of text.split("\n")) {
    if (!/^gateway_(http|storage|node|feed|webhook_(attempts|events))_/.test(line)) continue;
    const at = line.lastIndexOf(" ");
    const value = Number(line.slice(at + 1));
    if (value !== 0) counts[line.slice(0, at)] = value;
  }
  return counts;
}
