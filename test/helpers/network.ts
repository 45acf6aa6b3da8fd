/**
 * Runs a Settlenet network of real node processes on 127.0.0.1 for end-to-end tests: a local chain,
 * a deployed scenario whose institutions and regulator are registered with the peer ids of the nodes,
 * and one `settlenet node start` process per node with its own data directory.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { NodeApiClient } from "../../core/api/client.js";
import type { StoredOperation } from "../../core/records.js";
import type { NodeConfigInput } from "../../node/config.js";
import { writeOperatorKeystore } from "../../core/keys.js";
import { loadOrCreatePeerKey, peerIdOf } from "../../node/p2p/keys.js";
import { writeDeployment } from "../../core/protocol/deployment.js";
import { deployScenario, startChain, type LocalChain, type Scenario, type ScenarioOptions } from "./chain.js";
import { startTcpProxy, type TcpProxy } from "./tcp-proxy.js";

const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const PASSWORD = "e2e-password";

export interface NodeHandle {
  name: string;
  role: "institution" | "regulator";
  peerId: string;
  apiUrl: string;
  /** The node's libp2p listen address, ending in /p2p/<peer id> (what other peers dial). */
  p2pAddr: string;
  configFile: string;
  dataDir: string;
  logFile: string;
  process: ChildProcess | undefined;
  /** Starts (or restarts) the process and waits until its API reports ready. */
  start(): Promise<void>;
  /** Sends `signal` and waits for the process to exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export interface TestNetwork {
  dir: string;
  chain: LocalChain;
  scenario: Scenario;
  nodes: NodeHandle[];
  /** The proxy every node reaches the chain through (with `rpcProxy: true`). */
  rpcProxy: TcpProxy | undefined;
  stop(): Promise<void>;
}

export interface NetworkOptions extends Omit<ScenarioOptions, "institutionPeerIds" | "regulatorPeerId"> {
  regulator?: boolean;
  /** Overrides merged into every node's config. */
  config?: Partial<NodeConfigInput>;
  /** Overrides merged into one node's config (by name: institution-0, ..., regulator), after `config`. */
  nodeConfig?: Record<string, Partial<NodeConfigInput>>;
  /** Route every node's rpcUrl through one TCP proxy (TestNetwork.rpcProxy), to cut the chain off. */
  rpcProxy?: boolean;
  /** A chain started elsewhere (e.g. in its own process by the benchmarks); closed by stop(). */
  chain?: LocalChain;
}

/** A free TCP port on 127.0.0.1 (closed again before use; fine for tests). */
export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

/** Polls `check` until it returns a truthy value or `timeoutMs` passes. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 30_000, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${lastError ? `: ${(lastError as Error).message}` : ""}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** An HTTP answer: status, media type (without parameters) and the parsed JSON body. */
export interface JsonResponse<T> {
  status: number;
  contentType: string | undefined;
  body: T;
}

async function jsonResponse<T>(response: Response): Promise<JsonResponse<T>> {
  const contentType = response.headers.get("content-type")?.split(";")[0]?.trim();
  return { status: response.status, contentType, body: (await response.json()) as T };
}

export async function getJson<T = unknown>(url: string): Promise<JsonResponse<T>> {
  return jsonResponse<T>(await fetch(url));
}

export async function postJson<T = unknown>(url: string, body: unknown): Promise<JsonResponse<T>> {
  return postRaw<T>(url, JSON.stringify(body));
}

/** POSTs `body` exactly as given (e.g. invalid JSON or an oversized document). */
export async function postRaw<T = unknown>(url: string, body: string, contentType = "application/json"): Promise<JsonResponse<T>> {
  return jsonResponse<T>(await fetch(url, { method: "POST", headers: { "content-type": contentType }, body }));
}

/** The API client of a node. */
export function nodeApi(node: { apiUrl: string }): NodeApiClient {
  return new NodeApiClient({ baseUrl: node.apiUrl, timeoutMs: 30_000 });
}

/** Waits until every node in `nodes` stores operation `id` with `status`; returns their records. */
export async function waitForOperation(nodes: NodeHandle[], id: string, status = "executed", timeoutMs = 30_000): Promise<StoredOperation[]> {
  return Promise.all(
    nodes.map((node) =>
      waitFor(`${node.name} to report ${id} ${status}`, async () => {
        const stored = await nodeApi(node).operation(id);
        return stored?.status === status ? stored : undefined;
      }, timeoutMs),
    ),
  );
}

/** Peer ids a node reports connected (GET /v1/peers). */
export async function peersOf(node: NodeHandle): Promise<string[]> {
  return (await nodeApi(node).peers()).map((peer) => peer.peerId);
}

/**
 * Samples a set of ids (e.g. connected peers) every `everyMs` for `durationMs` and returns, per id
 * ever seen, the longest time it stayed in the set without a gap. A refused connection can flicker
 * up for a few milliseconds on the dialler's side; one that stays is a connection.
 */
export async function presence(sample: () => Promise<string[]> | string[], durationMs: number, everyMs = 50): Promise<Map<string, number>> {
  const longest = new Map<string, number>();
  const since = new Map<string, number>();
  const end = Date.now() + durationMs;
  while (Date.now() < end) {
    const now = Date.now();
    const present = new Set(await sample());
    for (const id of present) {
      const start = since.get(id) ?? now;
      since.set(id, start);
      longest.set(id, Math.max(longest.get(id) ?? 0, now - start));
    }
    for (const id of [...since.keys()]) if (!present.has(id)) since.delete(id);
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return longest;
}

/** Launches a chain, deploys, and starts `institutions` institution nodes (+ a regulator node). */
export async function launchNetwork(options: NetworkOptions = {}): Promise<TestNetwork> {
  const dir = await mkdtemp(join(tmpdir(), "settlenet-e2e-"));
  const nInstitutions = options.institutions ?? 3;
  const names = [...Array.from({ length: nInstitutions }, (_, i) => `institution-${i}`), ...(options.regulator === false ? [] : ["regulator"])];
  const prepared = await Promise.all(
    names.map(async (name) => {
      const nodeDir = join(dir, name);
      await mkdir(nodeDir, { recursive: true });
      const peerKeyFile = join(nodeDir, "peer.key");
      const peerId = peerIdOf(await loadOrCreatePeerKey(peerKeyFile));
      return { name, nodeDir, peerKeyFile, peerId, p2pPort: await freePort(), apiPort: await freePort() };
    }),
  );
  const chain = options.chain ?? (await startChain());
  const institutionPeerIds = prepared.filter((p) => p.name.startsWith("institution")).map((p) => p.peerId);
  const regulatorPeer = prepared.find((p) => p.name === "regulator");
  const scenario = await deployScenario(chain, {
    ...options,
    institutions: nInstitutions,
    institutionPeerIds,
    ...(regulatorPeer ? { regulatorPeerId: regulatorPeer.peerId } : {}),
  });
  const rpcProxy = options.rpcProxy ? await startTcpProxy(chain.url) : undefined;
  const deploymentFile = join(dir, "deployment.json");
  await writeDeployment(deploymentFile, scenario.deployment);

  const addr = (p: (typeof prepared)[number]) => `/ip4/127.0.0.1/tcp/${p.p2pPort}/p2p/${p.peerId}`;
  const nodes: NodeHandle[] = [];
  for (const [index, p] of prepared.entries()) {
    const role = p.name === "regulator" ? "regulator" : "institution";
    const wallet = role === "regulator" ? scenario.regulator : scenario.institutions[index];
    if (!wallet) throw new Error(`no key for ${p.name}`);
    const keyFile = join(p.nodeDir, "operator.json");
    await writeOperatorKeystore(keyFile, wallet.privateKey, PASSWORD, true);
    const config: NodeConfigInput = {
      role,
      keyFile,
      peerKeyFile: p.peerKeyFile,
      listen: [`/ip4/127.0.0.1/tcp/${p.p2pPort}`],
      bootstrap: prepared.filter((other) => other !== p).map(addr),
      rpcUrl: rpcProxy?.url ?? chain.url,
      deploymentFile,
      dataDir: join(p.nodeDir, "data"),
      api: { host: "127.0.0.1", port: p.apiPort },
      relay: { batchIntervalMs: 100, failoverTimeoutMs: 3_000 },
      indexer: { pollIntervalMs: 200 },
      logLevel: "info",
      ...options.config,
      ...options.nodeConfig?.[p.name],
    };
    const configFile = join(p.nodeDir, "node.json");
    await writeFile(configFile, JSON.stringify(config, null, 2));
    nodes.push(makeHandle(p.name, role, p.peerId, `http://127.0.0.1:${p.apiPort}`, addr(p), configFile, join(p.nodeDir, "data"), join(p.nodeDir, "node.log")));
  }
  const network: TestNetwork = {
    dir,
    chain,
    scenario,
    nodes,
    rpcProxy,
    async stop() {
      // The chain must be reachable for a clean shutdown.
      await rpcProxy?.resume();
      await Promise.all(nodes.map((n) => n.stop("SIGTERM")));
      await rpcProxy?.close();
      await chain.close();
      if (!process.env["SETTLENET_KEEP_E2E"]) await rm(dir, { recursive: true, force: true });
    },
  };
  try {
    await Promise.all(nodes.map((n) => n.start()));
  } catch (error) {
    await network.stop().catch(() => undefined);
    throw error;
  }
  return network;
}

function makeHandle(name: string, role: "institution" | "regulator", peerId: string, apiUrl: string, p2pAddr: string, configFile: string, dataDir: string, logFile: string): NodeHandle {
  const handle: NodeHandle = {
    name,
    role,
    peerId,
    apiUrl,
    p2pAddr,
    configFile,
    dataDir,
    logFile,
    process: undefined,
    async start() {
      const log = createWriteStream(logFile, { flags: "a" });
      const child = spawn(process.execPath, ["--import", "tsx", join(projectRoot, "scripts", "settlenet.ts"), "node", "start", "--config", configFile], {
        cwd: projectRoot,
        env: { ...process.env, SETTLENET_KEY_PASSWORD: PASSWORD },
        stdio: ["ignore", "pipe", "pipe"],
      });
      child.stdout?.pipe(log);
      child.stderr?.pipe(log);
      handle.process = child;
      let exited: string | undefined;
      child.once("exit", (code, signal) => {
        exited = `exited with ${code ?? signal}`;
      });
      await waitFor(`${name} to become ready (see ${logFile})`, async () => {
        if (exited) throw new Error(`${name} ${exited}`);
        return (await nodeApi(handle).health()).ready;
      }, 60_000);
    },
    async stop(signal: NodeJS.Signals = "SIGTERM") {
      const child = handle.process;
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((r) => child.once("exit", () => r()));
      child.kill(signal);
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
      handle.process = undefined;
    },
  };
  return handle;
}
