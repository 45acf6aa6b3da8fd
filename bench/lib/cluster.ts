/**
 * The network the system benchmarks run against, all real processes on 127.0.0.1 launched by the
 * launcher library (scripts/lib/launch/): the chain (EDR JSON-RPC in memory, its own process), four
 * institution nodes with the node's default relay and indexer settings, and a gateway whose merchants
 * and API keys are set up with the admin CLI, like an operator would.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { GatewayClient, type GatewayCredentials } from "../../gateway/client/client.js";
import type { GatewayConfigInput } from "../../gateway/config.js";
import { startChainProcess } from "../../scripts/lib/launch/chain.js";
import { launchNodes, type NodeNetwork } from "../../scripts/lib/launch/nodes.js";
import { StopOrder, runSettlenet, settlenet, spawnPart, waitHealthy, writeConfig } from "../../scripts/lib/launch/part.js";
import { freePort } from "../../scripts/lib/launch/ports.js";

export interface ClusterOptions {
  merchants: number;
  payers: number;
  /** Progress lines. */
  log: (message: string) => void;
}

export interface Cluster {
  net: NodeNetwork;
  gatewayUrl: string;
  /** One signed client per gateway merchant (same order as net.scenario.merchants). */
  clients: GatewayClient[];
  /** Every process of the network, for CPU accounting. */
  processes(): { name: string; pid: number | undefined }[];
  /** Stops the gateway, the nodes, then the chain, and deletes the folder (kept if SETTLENET_KEEP_E2E is set). */
  stop(): Promise<void>;
}

/** Starts chain, four institution nodes and a gateway. */
export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const order = new StopOrder();
  const dir = await mkdtemp(join(tmpdir(), "settlenet-bench-"));
  order.stage(async () => {
    if (!process.env["SETTLENET_KEEP_E2E"]) await rm(dir, { recursive: true, force: true });
  });
  try {
    const chain = await startChainProcess({ logFile: join(dir, "chain.log"), stopTimeoutMs: 10_000 });
    order.stage(() => chain.close());
    options.log(`chain listening at ${chain.url}; deploying and starting 4 institution nodes`);
    const net = await launchNodes({
      dir,
      chain,
      institutions: 4,
      regulator: false,
      merchants: options.merchants,
      payers: options.payers,
      keyPassword: randomBytes(16).toString("hex"),
      // No relay, indexer or settlement settings: the node's own defaults (batch 100 every 200 ms, failover 5 s, indexer poll 500 ms).
    });
    order.stage(() => net.stop());
    const node = net.nodes[0];
    if (!node) throw new Error("no institution node");
    options.log("nodes ready; setting up the gateway's merchants and starting it");
    const port = await freePort();
    const env = { SETTLENET_GATEWAY_MASTER_KEY: randomBytes(32).toString("hex") };
    const config: GatewayConfigInput = {
      port,
      dataDir: join(dir, "gateway"),
      nodeUrl: node.apiUrl,
      rpcUrl: chain.url,
      deploymentFile: net.deploymentFile,
      // The benchmark measures capacity: the per-merchant request budget (a policy, default 600/min) must not cap it.
      rateLimit: { max: 1_000_000_000 },
      logLevel: "info",
    };
    const configFile = join(dir, "gateway.json");
    await writeConfig(configFile, config);
    const credentials: GatewayCredentials[] = [];
    for (const [i, merchant] of net.scenario.merchants.entries()) {
      const id = `shop-${i}`;
      await runSettlenet(["gateway", "merchant", "add", "--config", configFile, "--id", id, "--private-key-env", "MERCHANT_KEY"], { ...env, MERCHANT_KEY: merchant.privateKey });
      credentials.push(JSON.parse(await runSettlenet(["gateway", "keys", "create", "--config", configFile, "--merchant", id], env)) as GatewayCredentials);
    }
    const gateway = spawnPart({ name: "gateway", args: settlenet("gateway", "start", "--config", configFile), logFile: join(dir, "gateway.log"), env, stopTimeoutMs: 10_000 });
    order.stage(() => gateway.stop());
    const gatewayUrl = `http://127.0.0.1:${port}`;
    await waitHealthy(gateway, gatewayUrl, 60_000);
    return {
      net,
      gatewayUrl,
      clients: credentials.map((c) => new GatewayClient(gatewayUrl, c)),
      processes: () => [
        { name: "chain (EDR JSON-RPC)", pid: chain.part.process.pid },
        ...net.nodes.map((n) => ({ name: `node ${n.name}`, pid: n.process?.pid })),
        { name: "gateway", pid: gateway.process.pid },
      ],
      stop: () => order.stop(),
    };
  } catch (error) {
    await order.stop().catch(() => undefined);
    throw error;
  }
}
