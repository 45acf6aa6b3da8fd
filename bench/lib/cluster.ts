/**
 * The network the system benchmarks run against, all real processes on 127.0.0.1: the chain (EDR
 * JSON-RPC, its own process), four institution nodes (`settlenet node start`, test/helpers/network.ts)
 * with the node's default relay and indexer settings, and a gateway (`settlenet gateway start`) whose
 * merchants and API keys are set up with the admin CLI, like an operator would.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

import { JsonRpcProvider } from "ethers";

import { GatewayClient, type GatewayCredentials } from "../../gateway/client/client.js";
import type { GatewayConfigInput } from "../../gateway/config.js";
import type { LocalChain } from "../../test/helpers/chain.js";
import { freePort, getJson, launchNetwork, waitFor, type TestNetwork } from "../../test/helpers/network.js";
import { CLI, projectRoot } from "./paths.js";

export interface ClusterOptions {
  merchants: number;
  payers: number;
  /** Progress lines. */
  log: (message: string) => void;
}

export interface Cluster {
  net: TestNetwork;
  gatewayUrl: string;
  /** One signed client per gateway merchant (same order as net.scenario.merchants). */
  clients: GatewayClient[];
  /** Every process of the network, for CPU accounting. */
  processes(): { name: string; pid: number | undefined }[];
  stop(): Promise<void>;
}

/** Starts the chain process; resolves once it prints its URL. */
async function startChainProcess(logFile: string): Promise<{ chain: LocalChain; child: ChildProcess }> {
  const child = spawn(process.execPath, ["--import", "tsx", join(projectRoot, "bench", "lib", "chain-process.ts")], {
    cwd: projectRoot,
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stderr?.pipe(createWriteStream(logFile));
  const url = await new Promise<string>((resolveUrl, reject) => {
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    child.once("exit", (code) => reject(new Error(`the chain process exited with ${code} (see ${logFile})`)));
    lines.once("line", (line) => resolveUrl((JSON.parse(line) as { url: string }).url));
  });
  const provider = new JsonRpcProvider(url, undefined, { pollingInterval: 100, cacheTimeout: -1 });
  const chain: LocalChain = {
    url,
    provider,
    async close() {
      provider.destroy();
      await stopChild(child);
    },
  };
  return { chain, child };
}

async function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}

/** Runs a settlenet CLI command to completion; resolves with stdout. */
function runCli(args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", CLI, ...args], { cwd: projectRoot, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString()));
    child.once("exit", (code) => (code === 0 ? resolveRun(out) : reject(new Error(`settlenet ${args.join(" ")} exited ${code}: ${err}`))));
  });
}

/** Starts chain, four institution nodes and a gateway. */
export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const { chain, child: chainChild } = await startChainProcess(join(tmpdir(), `settlenet-bench-chain-${process.pid}.log`));
  options.log(`chain listening at ${chain.url}; deploying and starting 4 institution nodes`);
  let net: TestNetwork;
  try {
    net = await launchNetwork({
      chain,
      institutions: 4,
      regulator: false,
      merchants: options.merchants,
      payers: options.payers,
      // The node's own defaults (batch 100 every 200 ms, failover 5 s, indexer poll 500 ms), not the tests' faster ones.
      config: { relay: {}, indexer: {}, logLevel: "info" },
    });
  } catch (error) {
    await chain.close();
    throw error;
  }
  let gateway: ChildProcess | undefined;
  try {
    const node = net.nodes[0];
    if (!node) throw new Error("no institution node");
    options.log("nodes ready; setting up the gateway's merchants and starting it");
    const port = await freePort();
    const env = { SETTLENET_GATEWAY_MASTER_KEY: randomBytes(32).toString("hex") };
    const config: GatewayConfigInput = {
      port,
      dataDir: join(net.dir, "gateway"),
      nodeUrl: node.apiUrl,
      rpcUrl: chain.url,
      deploymentFile: join(net.dir, "deployment.json"),
      // The benchmark measures capacity: the per-merchant request budget (a policy, default 600/min) must not cap it.
      rateLimit: { max: 1_000_000_000 },
      logLevel: "info",
    };
    const configFile = join(net.dir, "gateway.json");
    await writeFile(configFile, JSON.stringify(config, null, 2));
    const credentials: GatewayCredentials[] = [];
    for (const [i, merchant] of net.scenario.merchants.entries()) {
      const id = `shop-${i}`;
      await runCli(["gateway", "merchant", "add", "--config", configFile, "--id", id, "--private-key-env", "MERCHANT_KEY"], { ...env, MERCHANT_KEY: merchant.privateKey });
      credentials.push(JSON.parse(await runCli(["gateway", "keys", "create", "--config", configFile, "--merchant", id], env)) as GatewayCredentials);
    }
    const log = createWriteStream(join(net.dir, "gateway.log"));
    gateway = spawn(process.execPath, ["--import", "tsx", CLI, "gateway", "start", "--config", configFile], {
      cwd: projectRoot,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    gateway.stdout?.pipe(log);
    gateway.stderr?.pipe(log);
    const gatewayUrl = `http://127.0.0.1:${port}`;
    await waitFor("the gateway to listen", async () => (await getJson(`${gatewayUrl}/health`)).status === 200, 60_000);
    const gatewayProcess = gateway;
    return {
      net,
      gatewayUrl,
      clients: credentials.map((c) => new GatewayClient(gatewayUrl, c)),
      processes: () => [
        { name: "chain (EDR JSON-RPC)", pid: chainChild.pid },
        ...net.nodes.map((n) => ({ name: `node ${n.name}`, pid: n.process?.pid })),
        { name: "gateway", pid: gatewayProcess.pid },
      ],
      async stop() {
        await stopChild(gatewayProcess);
        await net.stop();
      },
    };
  } catch (error) {
    await stopChild(gateway);
    await net.stop();
    throw error;
  }
}
