/**
 * A Settlenet network of real node processes on 127.0.0.1 for end-to-end tests, launched by the
 * launcher library (scripts/lib/launch/nodes.ts) with the tests' timings: a local chain in the test
 * process, a deployed scenario whose institutions and regulator are registered with the peer ids of
 * the nodes, and one `settlenet node start` process per node with its own data directory. Also the
 * polling and HTTP helpers the tests share.
 */
import type { ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createInterface } from "node:readline";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { bearer, tokenFor, type ClientCredentials } from "../../core/api/auth.js";
import { NodeApiClient } from "../../core/api/client.js";
import { NODE_API_ACCESS, NODE_API_ROUTES, type NodeApiOperation } from "../../core/api/routes.js";
import type { StoredOperation } from "../../core/records.js";
import type { NodeConfigInput } from "../../node/config.js";
import type { LocalChain } from "../../scripts/lib/launch/chain.js";
import type { ScenarioOptions } from "../../scripts/lib/launch/consortium.js";
import { launchNodes, launchedCredentials, writeTokenFile, type NodeHandle, type NodeNetwork, type NodeNetworkOptions } from "../../scripts/lib/launch/nodes.js";
import { StopOrder } from "../../scripts/lib/launch/part.js";
import { startTestChain } from "./chain.js";
import { startTcpProxy, type TcpProxy } from "../../scripts/lib/tcp-proxy.js";
import { waitFor } from "./wait.js";

export { waitFor };

export { freePort } from "../../scripts/lib/launch/ports.js";
export type { NodeHandle } from "../../scripts/lib/launch/nodes.js";
export { launchedCredentials } from "../../scripts/lib/launch/nodes.js";

const PASSWORD = "e2e-password";

export interface TestNetwork extends Omit<NodeNetwork, "stop"> {
  /** The proxy every node reaches the chain through (with `rpcProxy: true`). */
  rpcProxy: TcpProxy | undefined;
  /** Stops the nodes, the proxy and the chain, and deletes the folder (kept if SETTLENET_KEEP_E2E is set). */
  stop(): Promise<void>;
}

export interface NetworkOptions extends Omit<ScenarioOptions, "institutionPeerIds" | "regulatorPeerId"> {
  regulator?: boolean;
  /** Overrides merged into every node's config, over the tests' relay and indexer timings. */
  config?: Partial<NodeConfigInput>;
  /** Overrides merged into one node's config (by name: institution-0, ..., regulator), after `config`. */
  nodeConfig?: Record<string, Partial<NodeConfigInput>>;
  /** Extra environment of some nodes, by name (e.g. SETTLENET_CLOCK_OFFSET_MS). */
  nodeEnv?: NodeNetworkOptions["nodeEnv"];
  /** Route every node's rpcUrl through one TCP proxy (TestNetwork.rpcProxy), to cut the chain off. */
  rpcProxy?: boolean;
  /** A chain started elsewhere; closed by stop(). */
  chain?: LocalChain;
  /** Where each node runs: its listen address and network namespace (default 127.0.0.1, this namespace). */
  placement?: NodeNetworkOptions["placement"];
  /** Runs before any node starts (users are made here: a running node locks its database). */
  beforeStart?: NodeNetworkOptions["beforeStart"];
}

/**
 * The `url` of the first JSON log line `msg` that `child` prints on stdout: where a process started
 * on port 0 listens. Rejects if it exits first.
 */
export function loggedUrl(child: ChildProcess, msg: string): Promise<string> {
  const stdout = child.stdout;
  if (!stdout) return Promise.reject(new Error("the process's stdout is not piped"));
  return new Promise((resolveUrl, reject) => {
    const lines = createInterface({ input: stdout });
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
      lines.close();
      reject(new Error(`the process exited (${signal ?? code}) before logging "${msg}"`));
    };
    child.once("exit", onExit);
    lines.on("line", (line) => {
      let entry: { msg?: unknown; url?: unknown };
      try {
        entry = JSON.parse(line) as { msg?: unknown; url?: unknown };
      } catch {
        return;
      }
      if (entry.msg !== msg || typeof entry.url !== "string") return;
      child.off("exit", onExit);
      lines.close();
      resolveUrl(entry.url);
    });
  });
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

/** The route of the node API contract that serves `method path` (undefined: none). */
function contractRoute(method: string, path: string): NodeApiOperation | undefined {
  for (const [name, route] of Object.entries(NODE_API_ROUTES)) {
    if (route.method !== method) continue;
    const pattern = new RegExp(`^${route.url.replace(/:\w+/g, "[^/]+")}$`);
    if (pattern.test(path)) return name as NodeApiOperation;
  }
  return undefined;
}

/**
 * The Authorization header a test client sends to a node this process launched: the launcher's token
 * of a role the route allows (any of them on routes outside the contract); none for other URLs.
 */
export function nodeAuthHeaders(url: string, method = "GET"): Record<string, string> {
  const credentials = launchedCredentials(url);
  if (!credentials) return {};
  const route = contractRoute(method, new URL(url).pathname);
  const token = tokenFor(credentials, route ? NODE_API_ACCESS[route] : []);
  return token ? { authorization: bearer(token) } : {};
}

/** A 0600 file holding only `node`'s gateway token, for a gateway process's `nodeCredentialFile`. */
export async function gatewayCredentialFile(dir: string, node: NodeHandle): Promise<string> {
  const file = join(dir, `${node.name}-gateway-credential`);
  await writeTokenFile(file, node.credentials.gateway);
  return file;
}

/** fetch, with the launcher's credential for nodes this process launched. */
export function nodeFetch(url: string, init: RequestInit = {}): Promise<Response> {
  return fetch(url, { ...init, headers: { ...nodeAuthHeaders(url, init.method ?? "GET"), ...(init.headers as Record<string, string> | undefined) } });
}

export async function getJson<T = unknown>(url: string): Promise<JsonResponse<T>> {
  return jsonResponse<T>(await nodeFetch(url));
}

export async function postJson<T = unknown>(url: string, body: unknown): Promise<JsonResponse<T>> {
  return postRaw<T>(url, JSON.stringify(body));
}

/** POSTs `body` exactly as given (e.g. invalid JSON or an oversized document). */
export async function postRaw<T = unknown>(url: string, body: string, contentType = "application/json"): Promise<JsonResponse<T>> {
  return jsonResponse<T>(await nodeFetch(url, { method: "POST", headers: { "content-type": contentType }, body }));
}

/** The API client of a node, with the launcher's credentials for it (one per role). */
export function nodeApi(node: { apiUrl: string; credentials?: ClientCredentials }): NodeApiClient {
  const credentials = node.credentials ?? launchedCredentials(node.apiUrl);
  return new NodeApiClient({ baseUrl: node.apiUrl, timeoutMs: 30_000, ...(credentials ? { credentials } : {}) });
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
 * Samples a set of ids (e.g. connected peers) every `everyMs` for `durationMs`, or until `until`
 * holds (failing if it does not within `timeoutMs`), and returns, per id ever seen, the longest time it
 * stayed in the set without a gap. A refused connection can flicker up for a few milliseconds on the
 * dialler's side; one that stays is a connection.
 */
export async function presence(sample: () => Promise<string[]> | string[], until: number | (() => Promise<boolean>), everyMs = 50, timeoutMs = 60_000): Promise<Map<string, number>> {
  const longest = new Map<string, number>();
  const since = new Map<string, number>();
  const end = Date.now() + (typeof until === "number" ? until : timeoutMs);
  const done = typeof until === "number" ? async () => Date.now() >= end : until;
  for (;;) {
    const last = await done();
    if (!last && typeof until !== "number" && Date.now() > end) throw new Error(`timed out sampling presence: what ends it did not happen within ${timeoutMs} ms`);
    const now = Date.now();
    const present = new Set(await sample());
    for (const id of present) {
      const start = since.get(id) ?? now;
      since.set(id, start);
      longest.set(id, Math.max(longest.get(id) ?? 0, now - start));
    }
    for (const id of [...since.keys()]) if (!present.has(id)) since.delete(id);
    if (last) return longest;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * A condition that holds once every node of `nodes` has refused `times` more connections than now
 * (settlenet_p2p_connections_refused_total): a peer kept out has demonstrably tried each of them again,
 * when nothing else dials them meanwhile.
 */
export async function refusedAgain(nodes: NodeHandle[], times: number): Promise<() => Promise<boolean>> {
  const refused = () => Promise.all(nodes.map((node) => metricTotal(node, "settlenet_p2p_connections_refused_total")));
  const before = await refused();
  return async () => (await refused()).every((count, i) => count >= (before[i] ?? 0) + times);
}

/** A counter of `node`'s GET /metrics, summed over its labels (0 before its first increment). */
export async function metricTotal(node: NodeHandle, name: string): Promise<number> {
  const text = await nodeApi(node).metrics();
  let total = 0;
  for (const line of text.split("\n")) if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) total += Number(line.slice(line.lastIndexOf(" ") + 1));
  return total;
}

/** Launches a chain, deploys, and starts `institutions` institution nodes (+ a regulator node). */
export async function launchNetwork(options: NetworkOptions = {}): Promise<TestNetwork> {
  const order = new StopOrder();
  const dir = await mkdtemp(join(tmpdir(), "settlenet-e2e-"));
  order.stage(async () => {
    if (!process.env["SETTLENET_KEEP_E2E"]) await rm(dir, { recursive: true, force: true });
  });
  try {
    const chain = options.chain ?? (await startTestChain());
    order.stage(() => chain.close());
    const rpcProxy = options.rpcProxy ? await startTcpProxy(chain.url) : undefined;
    if (rpcProxy) order.stage(() => rpcProxy.close());
    const { chain: _chain, rpcProxy: _rpcProxy, config, ...rest } = options;
    const net = await launchNodes({
      ...rest,
      dir,
      chain,
      ...(rpcProxy ? { rpcUrl: rpcProxy.url } : {}),
      keyPassword: PASSWORD,
      config: { relay: { batchIntervalMs: 100, failoverTimeoutMs: 3_000 }, indexer: { pollIntervalMs: 200 }, ...config },
    });
    order.stage(() => net.stop());
    return {
      ...net,
      rpcProxy,
      async stop() {
        // The chain must be reachable for a clean shutdown.
        await rpcProxy?.resume();
        await order.stop();
      },
    };
  } catch (error) {
    await order.stop().catch(() => undefined);
    throw error;
  }
}
