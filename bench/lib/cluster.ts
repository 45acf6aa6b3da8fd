/**
 * The network the system benchmarks run against, all real processes on 127.0.0.1 launched by the
 * launcher library (scripts/lib/launch/): the chain (EDR JSON-RPC in memory, its own process, sealing a
 * block per transaction; or anvil, an independent EVM sealing a block every second), four
 * institution nodes (or one) with the node's default relay and indexer settings, and a gateway whose
 * merchants and API keys are set up with the admin CLI, like an operator would. Every network
 * benchmark starts its own, so none inherits another's relay backlog; the folder (every LevelDB) is
 * under the benchmarks' data folder, on a disk (data-dir.ts).
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";

import type { GatewayCredentials } from "../../gateway/client/client.js";
import type { GatewayConfigInput } from "../../gateway/config.js";
import { issueAdminCredential } from "../../gateway/domain/admin-credentials.js";
import type { NodeConfigInput } from "../../node/config.js";
import { startAnvil } from "../../scripts/lib/launch/anvil.js";
import { startChainProcess, type LocalChain } from "../../scripts/lib/launch/chain.js";
import { launchNodes, writeTokenFile, type NodeNetwork } from "../../scripts/lib/launch/nodes.js";
import { StopOrder, runSettlenet, settlenet, spawnPart, waitHealthy, waitLogged, writeConfig } from "../../scripts/lib/launch/part.js";
import type { MeasuredProcess } from "./cpu.js";
import { BenchGatewayClient, benchAgent } from "./gateway-client.js";

export interface ClusterOptions {
  /** Folder the cluster's own folder is created in (the benchmarks' data folder). */
  dataRoot: string;
  /** Institution nodes (default 4); the first is the origin, the one the gateway and the load talk to. */
  institutions?: number;
  /** Start the gateway (default true). */
  gateway?: boolean;
  /** Journal the chain's blocks in this folder (as `npm start` does); default in memory only. EDR only. */
  chainDataDir?: string;
  /**
   * The EVM: "edr" (default; the embedded chain `npm start` runs) or "anvil" (Foundry's, 1 s blocks and
   * EDR's block gas limit, so the two carry the same work per block).
   */
  chain?: "edr" | "anvil";
  merchants: number;
  payers: number;
  /** Merged into every node's configuration (default: the node's own defaults). */
  nodeConfig?: Partial<NodeConfigInput>;
  /** Progress lines. */
  log: (message: string) => void;
}

export interface Cluster {
  net: NodeNetwork;
  /** The gateway's URL ("" without a gateway). */
  gatewayUrl: string;
  /** One signed client per gateway merchant (same order as net.scenario.merchants; none without a gateway). */
  clients: BenchGatewayClient[];
  /** The gateway's Prometheus text (GET /metrics with an admin credential); "" without a gateway. */
  gatewayMetrics(): Promise<string>;
  /** Every process of the network with its role, for CPU accounting. */
  processes(): MeasuredProcess[];
  /** Stops the gateway, the nodes, then the chain, and deletes the folder (kept if SETTLENET_KEEP_E2E is set). */
  stop(): Promise<void>;
}

/** EDR's block gas limit (Hardhat's default for its simulated networks), given to anvil too. */
const BENCH_BLOCK_GAS_LIMIT = 60_000_000;

/** The chain of a cluster, named for the CPU report. */
async function startBenchChain(options: ClusterOptions, logFile: string): Promise<LocalChain & { name: string; pid: number | undefined }> {
  if (options.chain === "anvil") {
    if (options.chainDataDir) throw new Error("a journaled chain is EDR's: anvil keeps its state in memory here");
    const chain = await startAnvil({ logFile, blockTime: 1, blockGasLimit: BENCH_BLOCK_GAS_LIMIT });
    return Object.assign(chain, { name: "chain (anvil, 1 s blocks)" });
  }
  const chain = await startChainProcess({ logFile, stopTimeoutMs: 10_000, ...(options.chainDataDir ? { dataDir: options.chainDataDir } : {}) });
  return Object.assign(chain, { name: "chain (EDR JSON-RPC)", pid: chain.part.process.pid });
}

/** Starts chain, the institution nodes and (unless told not to) a gateway. */
export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const order = new StopOrder();
  const institutions = options.institutions ?? 4;
  const dir = await mkdtemp(join(options.dataRoot, "settlenet-bench-"));
  order.stage(async () => {
    if (!process.env["SETTLENET_KEEP_E2E"]) await rm(dir, { recursive: true, force: true });
  });
  try {
    const chain = await startBenchChain(options, join(dir, "chain.log"));
    order.stage(() => chain.close());
    options.log(`chain listening at ${chain.url}; deploying and starting ${institutions} institution node${institutions === 1 ? "" : "s"}`);
    const net = await launchNodes({
      dir,
      chain,
      institutions,
      regulator: false,
      merchants: options.merchants,
      payers: options.payers,
      keyPassword: randomBytes(16).toString("hex"),
      // Unless a benchmark says otherwise, no relay, indexer or settlement settings: the node's own defaults
      // (batch 100 every 200 ms, failover 5 s, indexer poll 500 ms).
      ...(options.nodeConfig ? { config: options.nodeConfig } : {}),
    });
    order.stage(() => net.stop());
    const node = net.nodes[0];
    if (!node) throw new Error("no institution node");
    const nodeProcesses = (): MeasuredProcess[] => [
      { name: chain.name, role: "chain", pid: chain.pid },
      ...net.nodes.map((n, i): MeasuredProcess => ({ name: `node ${n.name}`, role: i === 0 ? "origin node" : "peer node", pid: n.process?.pid })),
    ];
    if (options.gateway === false) return { net, gatewayUrl: "", clients: [], gatewayMetrics: async () => "", processes: nodeProcesses, stop: () => order.stop() };
    options.log("nodes ready; setting up the gateway's merchants and starting it");
    const env = { SETTLENET_GATEWAY_MASTER_KEY: randomBytes(32).toString("hex") };
    const nodeCredentialFile = join(dir, "gateway-node-credential");
    await writeTokenFile(nodeCredentialFile, node.credentials.gateway);
    // An admin credential for the gateway's /metrics (its work counters, read around a measured window).
    const adminCredentialsFile = join(dir, "gateway-admin-credentials.json");
    const { token: adminToken } = await issueAdminCredential(adminCredentialsFile, "bench");
    const config: GatewayConfigInput = {
      // Port 0: the gateway binds one and logs its URL ("gateway started").
      port: 0,
      dataDir: join(dir, "gateway"),
      nodeUrl: node.apiUrl,
      nodeCredentialFile,
      rpcUrl: chain.url,
      deploymentFile: net.deploymentFile,
      // The benchmark measures capacity: the per-merchant request budget (a policy, default 600/min) must not cap it.
      rateLimit: { max: 1_000_000_000 },
      addressRateLimit: { max: 1_000_000_000 },
      // The benchmarks' webhook receiver listens on 127.0.0.1 over http.
      webhooks: { requireHttps: false, allowLoopback: true },
      admin: { credentialsFile: adminCredentialsFile },
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
    // SETTLENET_BENCH_PROFILE_DIR: the gateway writes a V8 CPU profile there when it stops (read it to see where its time goes).
    const profileDir = process.env["SETTLENET_BENCH_PROFILE_DIR"];
    const profile = profileDir ? { NODE_OPTIONS: `${process.env["NODE_OPTIONS"] ?? ""} --cpu-prof --cpu-prof-dir=${profileDir}`.trim() } : {};
    const gateway = spawnPart({ name: "gateway", args: settlenet("gateway", "start", "--config", configFile), logFile: join(dir, "gateway.log"), env: { ...env, ...profile }, stopTimeoutMs: 10_000 });
    order.stage(() => gateway.stop());
    const gatewayUrl = String((await waitLogged(gateway, "gateway started", 0, 60_000))["url"]);
    await waitHealthy(gateway, gatewayUrl, 60_000);
    const agent = benchAgent();
    order.stage(() => agent.close());
    return {
      net,
      gatewayUrl,
      clients: credentials.map((c) => new BenchGatewayClient(gatewayUrl, c, agent)),
      async gatewayMetrics() {
        const response = await fetch(`${gatewayUrl}/metrics`, { headers: { authorization: `Bearer ${adminToken}` } });
        if (!response.ok) throw new Error(`the gateway's /metrics answered ${response.status}`);
        return response.text();
      },
      processes: () => [...nodeProcesses(), { name: "gateway", role: "gateway", pid: gateway.process.pid }],
      stop: () => order.stop(),
    };
  } catch (error) {
    await order.stop().catch(() => undefined);
    throw error;
  }
}
