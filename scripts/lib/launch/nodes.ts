/**
 * Node processes (`settlenet node start`) on 127.0.0.1: their keys, configuration files and start and
 * stop, and a network of them on a local chain with a deployed scenario whose institutions and
 * regulator are registered with the nodes' peer ids (what the end-to-end tests and the benchmarks run).
 */
import type { ChildProcess } from "node:child_process";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";

import { NODE_API_ROLES, parseToken, type NodeApiRole } from "../../../core/api/auth.js";
import { createCredential, readCredentials, revokeCredential } from "../../../node/api/credentials.js";

import type { NodeConfigInput } from "../../../node/config.js";
import { writeOperatorKeystore } from "../../../core/keys.js";
import { writeDeployment } from "../../../core/protocol/deployment.js";
import { loadOrCreatePeerKey, peerIdOf } from "../../../node/p2p/keys.js";
import type { LocalChain } from "./chain.js";
import { deployScenario, type Scenario, type ScenarioOptions } from "./consortium.js";
import { logOffset, settlenet, spawnPart, waitHealthy, waitLogged, writeConfig, type ChildPart } from "./part.js";
import { freePort } from "./ports.js";

/** The libp2p peer id of the node whose peer key is `peerKeyFile` (created on first use). */
export async function nodePeerId(peerKeyFile: string): Promise<string> {
  return peerIdOf(await loadOrCreatePeerKey(peerKeyFile));
}

/** One token per role for a node's API, as the launcher keeps them for its clients. */
export type NodeClientCredentials = Record<NodeApiRole, string>;

/** Where, in a node's folder, the launcher keeps its tokens for that node (mode 0600). */
export const NODE_CLIENT_CREDENTIALS_FILE = "client-credentials.json";

/** Credentials of the nodes this process launched, by API URL (for the tests' and benchmarks' clients). */
const launched = new Map<string, NodeClientCredentials>();

/** The credentials this process issued for the node at `apiUrl` (undefined if it did not launch it). */
export function launchedCredentials(apiUrl: string): NodeClientCredentials | undefined {
  return launched.get(new URL(apiUrl).origin);
}

/**
 * One credential per role on a node (named `launcher-<role>`), issued into the node's credentials file
 * before it starts; the tokens are kept in `clientFile` (mode 0600, the launcher's, never a node's or
 * the gateway's) so a later start reuses them. A token whose credential is gone or revoked is replaced.
 */
export async function ensureNodeCredentials(credentialsFile: string, clientFile: string, apiUrl?: string): Promise<NodeClientCredentials> {
  let kept: Partial<NodeClientCredentials> = {};
  try {
    kept = JSON.parse(await readFile(clientFile, "utf8")) as Partial<NodeClientCredentials>;
  } catch {
    // None yet.
  }
  const active = new Set((await readCredentials(credentialsFile)).filter((c) => c.revokedAtMs === undefined).map((c) => c.id));
  const tokens = {} as NodeClientCredentials;
  let changed = false;
  for (const role of NODE_API_ROLES) {
    const token = kept[role];
    const id = token ? parseToken(token)?.id : undefined;
    if (token && id && active.has(id)) {
      tokens[role] = token;
      continue;
    }
    const name = `launcher-${role}`;
    await revokeCredential(credentialsFile, { idOrName: name, by: "launcher" }).catch(() => undefined);
    tokens[role] = (await createCredential(credentialsFile, { role, name, by: "launcher" })).token;
    changed = true;
  }
  if (changed) {
    await writeFile(`${clientFile}.tmp`, `${JSON.stringify(tokens, null, 2)}\n`, { mode: 0o600 });
    await rename(`${clientFile}.tmp`, clientFile);
  }
  if (apiUrl) launched.set(new URL(apiUrl).origin, tokens);
  return tokens;
}

/** Writes one token alone to `file` (mode 0600): what a process that needs only that credential is given. */
export async function writeTokenFile(file: string, token: string): Promise<void> {
  await writeFile(`${file}.tmp`, `${token}\n`, { mode: 0o600 });
  await rename(`${file}.tmp`, file);
}

/** Starts `settlenet node start --config <configFile>` as a part. */
export function spawnNode(options: { name: string; configFile: string; logFile: string; env?: NodeJS.ProcessEnv; stopTimeoutMs?: number; netns?: string }): ChildPart {
  const { configFile, ...rest } = options;
  return spawnPart({ ...rest, args: settlenet("node", "start", "--config", configFile) });
}

/** A node process that can be stopped and started again over the same configuration and data. */
export interface NodeHandle {
  name: string;
  role: "institution" | "regulator";
  peerId: string;
  /** Where the node's API listens: the port it bound on its first start, kept across restarts. */
  apiUrl: string;
  /** The node's libp2p listen address, ending in /p2p/<peer id> (what other peers dial). */
  p2pAddr: string;
  configFile: string;
  dataDir: string;
  logFile: string;
  /** The launcher's tokens for this node's API, one per role. */
  credentials: NodeClientCredentials;
  /** The node's credentials file (`settlenet node credentials` edits it). */
  credentialsFile: string;
  /** The running process (undefined while stopped). */
  process: ChildProcess | undefined;
  /** Starts (or restarts) the process and waits until its API reports ready. */
  start(): Promise<void>;
  /** Sends `signal` (SIGTERM by default) and waits for the process to exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

interface HandleOptions extends Omit<NodeHandle, "process" | "start" | "stop" | "apiUrl"> {
  /** The API's host (its port is the one the node reports binding). */
  apiHost: string;
  env: NodeJS.ProcessEnv;
  netns: string | undefined;
  readyTimeoutMs: number;
  stopTimeoutMs: number;
}

function nodeHandle(options: HandleOptions): NodeHandle {
  const { env, readyTimeoutMs, stopTimeoutMs, netns, apiHost, ...described } = options;
  let part: ChildPart | undefined;
  const handle: NodeHandle = {
    ...described,
    apiUrl: "",
    process: undefined,
    async start() {
      const offset = logOffset(handle.logFile);
      part = spawnNode({ name: handle.name, configFile: handle.configFile, logFile: handle.logFile, env, stopTimeoutMs, ...(netns ? { netns } : {}) });
      handle.process = part.process;
      if (!handle.apiUrl) {
        // First start on port 0: the node reports the port it bound, which its configuration keeps
        // from now on, so that clients find it again after a restart and its not-ready stand-in
        // answers there while it catches up.
        const started = await waitLogged(part, "node started", offset, readyTimeoutMs);
        const apiUrl = new URL(String(started["api"]));
        const config = JSON.parse(await readFile(handle.configFile, "utf8")) as NodeConfigInput;
        await writeConfig(handle.configFile, { ...config, api: { ...config.api, host: apiHost, port: Number(apiUrl.port) } });
        handle.apiUrl = apiUrl.origin;
        launched.set(apiUrl.origin, handle.credentials);
      }
      await waitHealthy(part, handle.apiUrl, readyTimeoutMs);
    },
    async stop(signal: NodeJS.Signals = "SIGTERM") {
      const stopping = part;
      if (!stopping) return;
      await stopping.stop(signal);
      if (part === stopping) {
        part = undefined;
        handle.process = undefined;
      }
    },
  };
  return handle;
}

export interface NodeNetworkOptions extends Omit<ScenarioOptions, "institutionPeerIds" | "regulatorPeerId"> {
  /** Folder for the deployment file and every node's keys, configuration, data and log (one subfolder each). */
  dir: string;
  /** The chain to deploy on (its owner stops it). */
  chain: LocalChain;
  /** The JSON-RPC URL the nodes use (default the chain's; e.g. a proxy that can cut it off). */
  rpcUrl?: string;
  /** Start a regulator node too (default true). */
  regulator?: boolean;
  /** Password of the operators' keystores, given to the nodes in SETTLENET_KEY_PASSWORD. */
  keyPassword: string;
  /** Merged into every node's configuration (relay, indexer and settlement are the node's defaults unless set here). */
  config?: Partial<NodeConfigInput>;
  /** Merged into one node's configuration (by name: institution-0, ..., regulator), after `config`. */
  nodeConfig?: Record<string, Partial<NodeConfigInput>>;
  /** Extra environment of some nodes, by name (e.g. SETTLENET_CLOCK_OFFSET_MS). */
  nodeEnv?: Record<string, Record<string, string>>;
  /** How long each node may take to answer GET /health (default 60 s). */
  readyTimeoutMs?: number;
  /** How long a node may take to stop before SIGKILL (default 10 s). */
  stopTimeoutMs?: number;
  /** Where a node runs (by name): the address its libp2p and API listen on (default 127.0.0.1) and its network namespace. */
  placement?: Record<string, { host: string; netns?: string }>;
  /** Runs once every node is configured and before any starts (a node's database is locked while it runs: users are made here). */
  beforeStart?: (nodes: NodeHandle[]) => Promise<void>;
}

/** Nodes launched on a chain with a deployed scenario. */
export interface NodeNetwork {
  dir: string;
  chain: LocalChain;
  scenario: Scenario;
  nodes: NodeHandle[];
  /** The deployment file every node reads. */
  deploymentFile: string;
  /** Stops every node (SIGTERM) and waits for each; the chain is left to its owner. */
  stop(): Promise<void>;
}

/** Deploys a scenario on `chain` and starts `institutions` institution nodes (+ a regulator node), each API on the port it binds (port 0). */
export async function launchNodes(options: NodeNetworkOptions): Promise<NodeNetwork> {
  const { dir, chain } = options;
  const nInstitutions = options.institutions ?? 3;
  const names = [...Array.from({ length: nInstitutions }, (_, i) => `institution-${i}`), ...(options.regulator === false ? [] : ["regulator"])];
  // Peer keys first: their ids are registered on-chain.
  const prepared = await Promise.all(
    names.map(async (name) => {
      const nodeDir = join(dir, name);
      await mkdir(nodeDir, { recursive: true });
      const peerKeyFile = join(nodeDir, "peer.key");
      // Chosen before any node starts: each node's bootstrap list names every other node's libp2p
      // address, and is static configuration (it also decides whether a node syncs pending operations
      // from peers and keeps unpublished gossip for them), so these ports cannot be reported after
      // the fact. The API ports need no such thing: each node binds port 0 and reports it.
      return { name, nodeDir, peerKeyFile, peerId: await nodePeerId(peerKeyFile), p2pPort: await freePort() };
    }),
  );
  const regulatorPeer = prepared.find((p) => p.name === "regulator");
  const scenario = await deployScenario(chain, {
    ...options,
    institutions: nInstitutions,
    institutionPeerIds: prepared.filter((p) => p.name.startsWith("institution")).map((p) => p.peerId),
    ...(regulatorPeer ? { regulatorPeerId: regulatorPeer.peerId } : {}),
  });
  const deploymentFile = join(dir, "deployment.json");
  await writeDeployment(deploymentFile, scenario.deployment);

  const hostOf = (name: string) => options.placement?.[name]?.host ?? "127.0.0.1";
  const addr = (p: (typeof prepared)[number]) => `/ip4/${hostOf(p.name)}/tcp/${p.p2pPort}/p2p/${p.peerId}`;
  const nodes: NodeHandle[] = [];
  for (const [index, p] of prepared.entries()) {
    const role = p.name === "regulator" ? "regulator" : "institution";
    const wallet = role === "regulator" ? scenario.regulator : scenario.institutions[index];
    if (!wallet) throw new Error(`no key for ${p.name}`);
    const keyFile = join(p.nodeDir, "operator.json");
    await writeOperatorKeystore(keyFile, wallet.privateKey, options.keyPassword, true);
    const config: NodeConfigInput = {
      role,
      keyFile,
      peerKeyFile: p.peerKeyFile,
      listen: [`/ip4/${hostOf(p.name)}/tcp/${p.p2pPort}`],
      bootstrap: prepared.filter((other) => other !== p).map(addr),
      rpcUrl: options.rpcUrl ?? chain.url,
      deploymentFile,
      dataDir: join(p.nodeDir, "data"),
      logLevel: "info",
      ...options.config,
      ...options.nodeConfig?.[p.name],
      api: { ...options.config?.api, ...options.nodeConfig?.[p.name]?.api, host: hostOf(p.name), port: 0 },
    };
    const configFile = join(p.nodeDir, "node.json");
    await writeConfig(configFile, config);
    const credentialsFile = resolve(p.nodeDir, config.api.credentialsFile ?? "credentials.json");
    await mkdir(dirname(credentialsFile), { recursive: true });
    const credentials = await ensureNodeCredentials(credentialsFile, join(p.nodeDir, NODE_CLIENT_CREDENTIALS_FILE));
    nodes.push(
      nodeHandle({
        name: p.name,
        role,
        peerId: p.peerId,
        apiHost: hostOf(p.name),
        credentials,
        credentialsFile,
        p2pAddr: addr(p),
        configFile,
        dataDir: join(p.nodeDir, "data"),
        logFile: join(p.nodeDir, "node.log"),
        env: { ...options.nodeEnv?.[p.name], SETTLENET_KEY_PASSWORD: options.keyPassword },
        readyTimeoutMs: options.readyTimeoutMs ?? 60_000,
        stopTimeoutMs: options.stopTimeoutMs ?? 10_000,
        netns: options.placement?.[p.name]?.netns,
      }),
    );
  }
  const stop = async () => {
    await Promise.all(nodes.map((n) => n.stop()));
  };
  try {
    await options.beforeStart?.(nodes);
    await Promise.all(nodes.map((n) => n.start()));
  } catch (error) {
    await stop();
    throw error;
  }
  return { dir, chain, scenario, nodes, deploymentFile, stop };
}
