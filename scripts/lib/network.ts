/**
 * The local Settlenet network as child processes (what `npm start`, `npm run demo` and the launcher
 * test share), launched with the launcher library (./launch/): a journaled EDR chain, three
 * institution nodes and a regulator node, the gateway and the bank simulator, each its own process
 * group with its own data directory under the root (`.settlenet/` by default) and its log in
 * `<root>/<name>/<name>.log`.
 *
 * The first start provisions everything (keys, contracts, onboarding, merchants' API keys) and writes
 * `<root>/network.json` last; a later start finds that file and resumes: the chain replays its
 * journal and the nodes and the gateway reopen their LevelDB. `reset` deletes the root first.
 */
import { spawn } from "node:child_process";
import { createHmac, randomBytes } from "node:crypto";
import { closeSync, existsSync, openSync, readFileSync } from "node:fs";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";

import type { JsonRpcProvider } from "ethers";
import { z } from "zod";

import type { BankConfigInput } from "../../bank-sim/server.js";
import type { GatewayConfigInput } from "../../gateway/config.js";
import type { NodeConfigInput } from "../../node/config.js";
import { SettlenetError } from "../../core/errors.js";
import { writeOperatorKeystore } from "../../core/keys.js";
import { CONTRACT_NAMES } from "../../core/protocol/artifacts.js";
import { readDeployment, writeDeployment } from "../../core/protocol/deployment.js";
import { bankRequestHeaders } from "../../core/bank/wire.js";
import { providerFor } from "../../core/operator/chain.js";
import { startChainProcess } from "./launch/chain.js";
import { CONSOLE_INDEX, ensureConsoleBuilt } from "./launch/console.js";
import { ensureDevCa, ensurePartCertificate, trustCaFile, type PartCertificate } from "./launch/dev-ca.js";
import { DEV_ACCOUNTS, provisionConsortium } from "./launch/consortium.js";
import { NODE_CLIENT_CREDENTIALS_FILE, ensureNodeCredentials, nodePeerId, spawnNode, writeTokenFile, type NodeClientCredentials } from "./launch/nodes.js";
import { PROJECT_ROOT, StopOrder, lastLogLine, settlenet, spawnPart, waitHealthy, writeConfig, type ChildPart } from "./launch/part.js";
import { assertPortFree, freePort } from "./launch/ports.js";

export { PROJECT_ROOT };
/** Where `npm start` keeps the network's state. */
export const DEFAULT_ROOT = join(PROJECT_ROOT, ".settlenet");

const NODE_NAMES = ["institution-1", "institution-2", "institution-3", "regulator"] as const;
const MERCHANTS = [
  { id: "tea-house", name: "West Lake Tea House", payoutAccount: "ICBC Hangzhou 6222 0212 0000 0001" },
  { id: "book-store", name: "Harbour Book Store", payoutAccount: "BOC Qingdao 6216 6100 0000 0002" },
];
const KEY_PASSWORD_ENV = "SETTLENET_KEY_PASSWORD";
const MASTER_KEY_ENV = "SETTLENET_GATEWAY_MASTER_KEY";
const CUSTODIAN_KEY_PASSWORD_ENV = "SETTLENET_CUSTODIAN_KEY_PASSWORD";
/** The node whose institution is the CNY custodian: its node runs the custodian service. */
const CUSTODIAN_NODE = "institution-1";

/**
 * Settlement cycle length of a new local network: one minute, so the demo sees a cycle closed,
 * attested by the institutions and finalized by quorum while it runs. A production network settles
 * daily (86,400 s, the node's default); every node of a network must use the same length, so the
 * length chosen at provisioning is kept in network.json and used at every later start.
 */
export const LOCAL_CYCLE_SECONDS = 60;
/**
 * AML large-value threshold of the local nodes (minor units): ¥50,000.00, the usual large-value cash
 * reporting threshold for individuals; the demo's one large payment is above it, its others far below.
 */
export const LOCAL_LARGE_VALUE_THRESHOLD = 5_000_000n;

// ------------------------------------------------------------------ ports

const portsSchema = z.strictObject({
  chain: z.number().int(),
  gateway: z.number().int(),
  bank: z.number().int(),
  nodes: z.array(z.strictObject({ api: z.number().int(), p2p: z.number().int() })).length(NODE_NAMES.length),
});
export type NetworkPorts = z.infer<typeof portsSchema>;

/** The fixed ports of `npm start`: chain 8545, node APIs 7101-7104, libp2p 7201-7204, gateway 7300, bank 7400; or all from `base`. */
export function defaultPorts(base?: number): NetworkPorts {
  if (base === undefined) {
    return { chain: 8545, gateway: 7300, bank: 7400, nodes: NODE_NAMES.map((_, i) => ({ api: 7101 + i, p2p: 7201 + i })) };
  }
  return { chain: base, gateway: base + 20, bank: base + 21, nodes: NODE_NAMES.map((_, i) => ({ api: base + 1 + i, p2p: base + 11 + i })) };
}

/** Ephemeral ports for every part (tests). */
export async function autoPorts(): Promise<NetworkPorts> {
  return { chain: await freePort(), gateway: await freePort(), bank: await freePort(), nodes: await Promise.all(NODE_NAMES.map(async () => ({ api: await freePort(), p2p: await freePort() }))) };
}

// ------------------------------------------------------------------ state

const stateSchema = z.strictObject({
  version: z.literal(1),
  createdAt: z.string(),
  chainId: z.string(),
  deploymentFile: z.string(),
  attestedReserves: z.string(),
  /** Development secrets: the root of the keystore passwords and the gateway master key. */
  keyPassword: z.string(),
  /** "per-process": each process's keystores have their own password, derived from `keyPassword` (absent: one shared password, networks provisioned before). */
  keystorePasswords: z.literal("per-process").optional(),
  masterKey: z.string(),
  nodes: z.array(
    z.strictObject({
      name: z.string(),
      role: z.enum(["institution", "regulator"]),
      address: z.string(),
      peerId: z.string(),
      /** The address the node's libp2p and API listen on (absent: 127.0.0.1). */
      host: z.string().optional(),
    }),
  ),
  merchants: z.array(
    z.strictObject({
      id: z.string(),
      name: z.string(),
      address: z.string(),
      keyId: z.string(),
      secret: z.string(),
      /** The bank account payouts go to (absent in networks provisioned before payouts: their reference was the name). */
      payoutAccount: z.string().optional(),
    }),
  ),
  payers: z.array(z.strictObject({ address: z.string(), privateKey: z.string() })),
  arbiter: z.strictObject({ address: z.string(), privateKey: z.string() }),
  regulator: z.strictObject({ address: z.string() }),
  /** Settlement cycle length chosen at provisioning (absent: a network from before cycles were configured, which cut daily cycles). */
  cycleSeconds: z.number().int().positive().optional(),
  /** The JSON-RPC of a chain the launcher does not run (`--chain-url`); absent: its own local chain. */
  chainUrl: z.string().optional(),
});
export type NetworkState = z.infer<typeof stateSchema>;

/** The password of process `name`'s keystores (its own, derived from the root one, on networks provisioned with per-process passwords). */
export function keystorePasswordOf(state: Pick<NetworkState, "keyPassword" | "keystorePasswords"> | undefined, keyPassword: string, name: string): string {
  const perProcess = !state || state.keystorePasswords === "per-process";
  return perProcess ? createHmac("sha256", keyPassword).update(`keystore:${name}`).digest("hex") : keyPassword;
}

/** A bank client of the local network (`gateway`, `custodian` or `operator`): its id and HMAC secret, derived from the master key. */
export function bankClientOf(state: Pick<NetworkState, "masterKey">, id: "gateway" | "custodian" | "operator"): { id: string; secret: string } {
  return { id, secret: createHmac("sha256", state.masterKey).update(`settlenet bank client ${id}`).digest("hex") };
}

/** Where a running network answers. */
export interface NetworkEndpoints {
  chain: string;
  gateway: string;
  bank: string;
  nodes: { name: string; role: "institution" | "regulator"; api: string; p2p: string }[];
}

/** The node APIs, the gateway and the bank serve HTTPS with certificates of the network's development CA (see caFileOf). */
export function endpointsOf(ports: NetworkPorts, state: Pick<NetworkState, "nodes" | "chainUrl">, bankHost = "127.0.0.1"): NetworkEndpoints {
  return {
    chain: state.chainUrl ?? `http://127.0.0.1:${ports.chain}`,
    gateway: `https://127.0.0.1:${ports.gateway}`,
    bank: `https://${bankHost}:${ports.bank}`,
    nodes: state.nodes.map((node, i) => {
      const host = node.host ?? "127.0.0.1";
      return { name: node.name, role: node.role, api: `https://${host}:${ports.nodes[i]?.api}`, p2p: `/ip4/${host}/tcp/${ports.nodes[i]?.p2p}/p2p/${node.peerId}` };
    }),
  };
}

/** The development CA certificate of the network in `root`: what its clients trust (NODE_EXTRA_CA_CERTS, curl --cacert). */
export function caFileOf(root: string = DEFAULT_ROOT): string {
  return join(root, "tls", "ca.pem");
}

/** Makes this process trust the development CA of the network in `root` (for clients of a running network). */
export async function trustNetworkCa(root: string = DEFAULT_ROOT): Promise<void> {
  const file = caFileOf(root);
  if (!existsSync(file)) throw new SettlenetError("NETWORK_CA_MISSING", `${file} is missing: start the network with npm start first`, { file });
  await trustCaFile(file);
}

/** Reads `<root>/network.json` (undefined before the first complete start). */
export async function readNetworkState(root: string = DEFAULT_ROOT): Promise<NetworkState | undefined> {
  const file = join(root, "network.json");
  if (!existsSync(file)) return undefined;
  const result = stateSchema.safeParse(JSON.parse(await readFile(file, "utf8")));
  if (!result.success) throw new SettlenetError("NETWORK_STATE_INVALID", `${file} is not a Settlenet network state (start over with --reset)`, { file });
  return result.data;
}

const runtimeSchema = z.strictObject({ pid: z.number().int(), ports: portsSchema, startedAt: z.string() });

/** The launcher that runs the network in `root` now (its pid and ports), if any. */
export function runningLauncher(root: string = DEFAULT_ROOT): z.infer<typeof runtimeSchema> | undefined {
  const file = join(root, "launcher.json");
  if (!existsSync(file)) return undefined;
  const parsed = runtimeSchema.safeParse(JSON.parse(readFileSync(file, "utf8")));
  if (!parsed.success) return undefined;
  try {
    process.kill(parsed.data.pid, 0);
    return parsed.data;
  } catch {
    return undefined;
  }
}

// ------------------------------------------------------------------ the network

export interface StartNetworkOptions {
  /** Folder for everything (default `.settlenet/` in the project). */
  root?: string;
  /** Delete the root first and provision a new network. */
  reset?: boolean;
  /** Ports (default: those of the previous start, else defaultPorts()); "auto" picks free ephemeral ports. */
  ports?: NetworkPorts | "auto";
  /** Payers to onboard on a fresh network (default 20). */
  payers?: number;
  /** CNY minted to each payer (minor units; default 10,000,000 = ¥100,000.00). */
  payerFunds?: bigint;
  /** Settlement cycle length of a new network (default LOCAL_CYCLE_SECONDS); a resumed network keeps its own. */
  cycleSeconds?: number;
  logLevel?: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
  /** Progress lines ("chain ready", ...). */
  onProgress?: (line: string) => void;
  /** Per-part start timeout (default 120 s: CPU may be contended). */
  readyTimeoutMs?: number;
  /**
   * Run on this JSON-RPC chain instead of starting a local one: a new network deploys there (or reuses
   * `deploymentFile`) and funds its keys from the governance key, the development mnemonic's first
   * account (prefunded by anvil and Hardhat). A resumed network keeps the chain it was provisioned on.
   */
  chainUrl?: string;
  /** With `chainUrl`: a deployment on that chain to onboard into instead of deploying anew. */
  deploymentFile?: string;
  /**
   * Where each node runs, in the order institution-1..3, regulator: the address its libp2p and API
   * listen on (kept in network.json) and a network namespace (`ip netns exec`, e.g. separate hosts'
   * networks on one machine). The chain must then be reachable from there: use `chainUrl`.
   */
  placement?: { host: string; netns?: string }[];
  /**
   * The address the bank simulator listens on (default 127.0.0.1). With `placement`, the custodian's
   * node must reach the bank from its namespace: an address of this host on their bridge, as the chain's.
   */
  bankHost?: string;
  /** Fault tests: the JSON-RPC URL a part (institution-1 … regulator, gateway, bank) uses instead of the chain's, e.g. a proxy that can cut it off. */
  rpcUrlOf?: (part: string, chainUrl: string) => string;
  /** Fault tests: where the bank sends its callbacks instead of the gateway's `/bank/callbacks` (e.g. a proxy in front of it). */
  bankCallbackUrl?: string;
  /** Fault tests: the libp2p address node `from` dials node `to` at instead of `address` (e.g. a proxy that can partition them). */
  p2pAddressOf?: (from: string, to: string, address: string) => string;
  /** Fault tests: environment added to a part's process, by part name. */
  partEnv?: Record<string, NodeJS.ProcessEnv>;
  /** Fault tests: called once the root exists and before any part starts (e.g. to mount a part's data folder). */
  prepare?: (root: string) => Promise<void>;
}

export interface RunningNetwork {
  root: string;
  /** True if this start provisioned a new network. */
  fresh: boolean;
  state: NetworkState;
  ports: NetworkPorts;
  endpoints: NetworkEndpoints;
  parts: ChildPart[];
  /** Resolves when a part exits while the network is meant to run (not after stop()). */
  failure: Promise<{ part: string; how: string; lastLine: string; logFile: string }>;
  /** Stops every part (gateway and bank, nodes, chain last) and waits for each process group to end. */
  stop(): Promise<void>;
  /** Fault tests: sends `signal` (default SIGKILL) to part `name` (a node, gateway or bank) and waits until it exited; not a failure. */
  kill(name: string, signal?: NodeJS.Signals): Promise<void>;
  /** Fault tests: the running process of part `name` (a node, gateway or bank), if any. */
  part(name: string): ChildPart | undefined;
  /** Fault tests: starts part `name` again over the same configuration and data (`env` added) and waits until it is healthy. */
  restart(name: string, env?: NodeJS.ProcessEnv): Promise<void>;
}

function assertBuilt(): void {
  for (const name of CONTRACT_NAMES) {
    const artifact = join(PROJECT_ROOT, "artifacts", "contracts", `${name}.sol`, `${name}.json`);
    if (!existsSync(artifact)) throw new SettlenetError("BUILD_MISSING", `the contracts are not built (${name} artifact missing): run \`npm run build\` first`, { artifact });
  }
}

/**
 * Builds the contracts if their artifacts are missing (a fresh clone), with `hardhat build`; its
 * output goes to `<root>/build.log`. A failed build is one BUILD_FAILED error.
 */
export async function ensureBuilt(root: string = DEFAULT_ROOT, progress: (line: string) => void = () => undefined): Promise<void> {
  if (!existsSync(CONSOLE_INDEX)) {
    progress("building the console (checkout and dashboard pages)");
    const consoleBuild = await ensureConsoleBuilt();
    // The gateway runs without its pages (they answer 503 CONSOLE_NOT_BUILT): say so and go on.
    if (!consoleBuild.built) progress(`the console did not build; /checkout and /dashboard will answer 503 until \`npm run console:build\` succeeds:\n${consoleBuild.output}`);
  }
  try {
    assertBuilt();
    return;
  } catch {
    // build below
  }
  progress("building the contracts (first start; about a minute)");
  await mkdir(root, { recursive: true });
  const logFile = join(root, "build.log");
  const fd = openSync(logFile, "w");
  const hardhat = join(PROJECT_ROOT, "node_modules", "hardhat", "dist", "src", "cli.js");
  const code = await new Promise<number | null>((resolveBuild) => {
    const child = spawn(process.execPath, [hardhat, "build"], { cwd: PROJECT_ROOT, stdio: ["ignore", fd, fd] });
    child.once("exit", (c) => resolveBuild(c));
    child.once("error", () => resolveBuild(-1));
  });
  closeSync(fd);
  if (code !== 0) throw new SettlenetError("BUILD_FAILED", `\`hardhat build\` failed (exit ${code}); see ${logFile}`, { logFile });
  assertBuilt();
}

/** Starts (or resumes) the local network and waits until every part is healthy. */
export async function startNetwork(options: StartNetworkOptions = {}): Promise<RunningNetwork> {
  const root = resolve(options.root ?? DEFAULT_ROOT);
  const progress = options.onProgress ?? (() => undefined);
  const readyTimeoutMs = options.readyTimeoutMs ?? 120_000;
  assertBuilt();
  const other = runningLauncher(root);
  if (other && other.pid !== process.pid) {
    throw new SettlenetError("NETWORK_RUNNING", `a network is already running from ${root} (launcher pid ${other.pid}, gateway https://127.0.0.1:${other.ports.gateway}); stop it with Ctrl-C first`, { pid: other.pid });
  }
  if (options.reset) await rm(root, { recursive: true, force: true });
  let state = await readNetworkState(root);
  if (!state) await rm(root, { recursive: true, force: true }); // a half-provisioned folder: start over
  await mkdir(root, { recursive: true });
  const fresh = !state;
  await options.prepare?.(root);

  // The ports of the previous start are kept (ports.json), so endpoints stay where the user saw them.
  const portsFile = join(root, "ports.json");
  const lastPorts = existsSync(portsFile) ? portsSchema.safeParse(JSON.parse(readFileSync(portsFile, "utf8"))) : undefined;
  const ports = options.ports === "auto" ? await autoPorts() : (options.ports ?? (lastPorts?.success ? lastPorts.data : defaultPorts()));
  const chainUrlOption = options.chainUrl ?? state?.chainUrl;
  if (state?.chainUrl && options.chainUrl && options.chainUrl !== state.chainUrl) {
    throw new SettlenetError("CHAIN_URL_DIFFERS", `the network in ${root} runs on ${state.chainUrl}, not ${options.chainUrl}; start over with --reset to use another chain`, { root });
  }
  if (state && !state.chainUrl && options.chainUrl) throw new SettlenetError("CHAIN_URL_DIFFERS", `the network in ${root} runs on its own local chain; start over with --reset to use ${options.chainUrl}`, { root });
  if (options.deploymentFile && (!options.chainUrl || state)) throw new SettlenetError("USAGE", "--deployment is for provisioning a new network on --chain-url");
  const portList: [number, string][] = [
    ...(chainUrlOption ? [] : ([[ports.chain, "chain JSON-RPC"]] as [number, string][])),
    [ports.gateway, "gateway"],
    [ports.bank, "bank simulator"],
    ...ports.nodes.flatMap((p, i): [number, string][] => [
      [p.api, `${NODE_NAMES[i]} API`],
      [p.p2p, `${NODE_NAMES[i]} libp2p`],
    ]),
  ];
  for (const [port, what] of portList) await assertPortFree(port, what);
  await writeFile(portsFile, JSON.stringify(ports, null, 2));
  await writeFile(join(root, "launcher.json"), JSON.stringify({ pid: process.pid, ports, startedAt: new Date().toISOString() }, null, 2));

  const parts: ChildPart[] = [];
  // The running process of each restartable part (a fault test may kill and restart it), how to start
  // it again, and the parts stopped on purpose (their exit is no failure).
  const live = new Map<string, ChildPart>();
  const respawn = new Map<string, { start: (env: NodeJS.ProcessEnv) => ChildPart; url: string }>();
  const deliberate = new Set<ChildPart>();
  const stopLive = (name: string) => () => live.get(name)?.stop() ?? Promise.resolve();
  // Stopped in reverse: the gateway and the bank, then the nodes, then the chain, then launcher.json.
  const order = new StopOrder();
  order.stage(async () => {
    const runtime = runningLauncher(root);
    if (runtime?.pid === process.pid) await rm(join(root, "launcher.json"), { force: true });
  });
  let stopping = false;
  const stopAll = async () => {
    stopping = true;
    await order.stop();
  };

  try {
    const logLevel = options.logLevel ?? "info";
    const dirOf = (name: string) => join(root, name);
    for (const name of ["chain", "gateway", "bank", ...NODE_NAMES]) await mkdir(dirOf(name), { recursive: true });
    const keyPassword = state?.keyPassword ?? randomBytes(16).toString("hex");
    const masterKey = state?.masterKey ?? randomBytes(32).toString("hex");
    // Each process gets only its own secrets: a node its keystore's password, the gateway its keystores'
    // password and the master key, the bank its reserve attestor keystore's password. Passwords are derived per process from the root one.
    const passwordOf = (name: string) => keystorePasswordOf(state, keyPassword, name);
    // HTTPS between every part: each serving process its own certificate, every client trusting the CA.
    const ca = await ensureDevCa(join(root, "tls"));
    await trustCaFile(ca.caFile);
    const trust = { NODE_EXTRA_CA_CERTS: ca.caFile };
    // Each process gets only its own secrets: the custodian key's password goes to the custodian's node alone.
    const envOf = (name: string): NodeJS.ProcessEnv => ({
      ...options.partEnv?.[name],
      ...trust,
      [KEY_PASSWORD_ENV]: passwordOf(name),
      ...(name === "gateway" ? { [MASTER_KEY_ENV]: masterKey } : {}),
      ...(name === CUSTODIAN_NODE ? { [CUSTODIAN_KEY_PASSWORD_ENV]: passwordOf("custodian") } : {}),
    });
    const certificateOf = (name: string, host = "127.0.0.1"): Promise<PartCertificate> =>
      ensurePartCertificate(ca, join(dirOf(name), "tls"), name, host === "127.0.0.1" ? [host, "localhost"] : [host]);
    // The operator's admin credential for the gateway's admin API (its token in a 0600 file, the gateway keeping only its hash).
    const adminCredentialsFile = join(dirOf("gateway"), "admin-credentials.json");
    const adminTokenFile = join(dirOf("gateway"), "admin-token");
    if (!existsSync(adminTokenFile)) {
      const { issueAdminCredential } = await import("../../gateway/domain/admin-credentials.js");
      await rm(adminCredentialsFile, { force: true });
      const { token } = await issueAdminCredential(adminCredentialsFile, "operator");
      await writeFile(adminTokenFile, `${token}\n`, { mode: 0o600 });
    }

    // Peer keys first: their ids are registered on-chain.
    const peerIds: string[] = [];
    for (const name of NODE_NAMES) peerIds.push(await nodePeerId(join(dirOf(name), "peer.key")));

    let chainUrl: string;
    let provider: JsonRpcProvider;
    if (chainUrlOption) {
      // Someone else's chain: checked and polled at a rate suited to its block time, never stopped here.
      chainUrl = chainUrlOption;
      provider = await providerFor(chainUrl);
      const external = provider;
      order.stage(async () => external.destroy());
      progress(`using the chain at ${chainUrl} (chain id ${(await provider.getNetwork()).chainId})`);
    } else {
      chainUrl = `http://127.0.0.1:${ports.chain}`;
      const chain = await startChainProcess({ port: ports.chain, dataDir: join(dirOf("chain"), "data"), logFile: join(dirOf("chain"), "chain.log"), readyTimeoutMs });
      parts.push(chain.part);
      order.stage(() => chain.close());
      progress(`chain ready at ${chainUrl}${fresh ? "" : " (journal replayed)"}`);
      provider = chain.provider;
    }

    const rpcOf = (part: string) => options.rpcUrlOf?.(part, chainUrl) ?? chainUrl;
    const deploymentFile = join(root, "deployment.json");
    if (!state) {
      const payers = options.payers ?? 20;
      const { deployment, attestedReserves } = await provisionConsortium(provider, {
        institutionPeerIds: peerIds.slice(0, 3),
        regulatorPeerId: peerIds[3] ?? "",
        merchants: MERCHANTS.map((m) => ({ name: m.name, payoutAccount: m.payoutAccount })),
        payers,
        payerFunds: options.payerFunds ?? 10_000_000n,
        merchantFeeBps: 100,
        ...(options.deploymentFile ? { deployment: await readDeployment(options.deploymentFile) } : {}),
        onStep: progress,
      });
      await writeDeployment(deploymentFile, deployment);
      const nodes = NODE_NAMES.map((name, i) => ({
        name,
        role: name === "regulator" ? ("regulator" as const) : ("institution" as const),
        address: (name === "regulator" ? DEV_ACCOUNTS.regulator() : DEV_ACCOUNTS.institution(i)).address,
        peerId: peerIds[i] ?? "",
        ...(options.placement?.[i] ? { host: options.placement[i].host } : {}),
      }));
      for (const [i, name] of NODE_NAMES.entries()) {
        const wallet = name === "regulator" ? DEV_ACCOUNTS.regulator() : DEV_ACCOUNTS.institution(i);
        await writeOperatorKeystore(join(dirOf(name), "operator.json"), wallet.privateKey, passwordOf(name), true);
      }
      const merchants = await provisionGatewayMerchants(gatewayConfig(), masterKey);
      state = {
        version: 1,
        createdAt: new Date().toISOString(),
        chainId: deployment.chainId,
        deploymentFile: "deployment.json",
        attestedReserves: attestedReserves.toString(),
        keyPassword,
        keystorePasswords: "per-process",
        masterKey,
        nodes,
        merchants,
        payers: Array.from({ length: payers }, (_, i) => ({ address: DEV_ACCOUNTS.payer(i).address, privateKey: DEV_ACCOUNTS.payer(i).privateKey })),
        arbiter: { address: DEV_ACCOUNTS.arbiter().address, privateKey: DEV_ACCOUNTS.arbiter().privateKey },
        regulator: { address: DEV_ACCOUNTS.regulator().address },
        cycleSeconds: options.cycleSeconds ?? LOCAL_CYCLE_SECONDS,
        ...(chainUrlOption ? { chainUrl: chainUrlOption } : {}),
      };
      // Written last and atomically: its presence means "provisioned", so a start interrupted before it starts over.
      await writeFile(join(root, "network.json.tmp"), JSON.stringify(state, null, 2), { mode: 0o600 });
      await rename(join(root, "network.json.tmp"), join(root, "network.json"));
      progress("network provisioned (state in network.json)");
    } else {
      const deployment = JSON.parse(await readFile(deploymentFile, "utf8")) as { contracts: { registry: string } };
      if ((await provider.getCode(deployment.contracts.registry)) === "0x") {
        const why = state.chainUrl ? `the chain at ${state.chainUrl} was reset or is another chain` : `its journal in ${dirOf("chain")} is gone or was reset`;
        throw new SettlenetError("CHAIN_STATE_LOST", `the chain has no contracts at the deployed addresses (${why}); start over with --reset`, { root });
      }
    }
    const provisioned = state;
    const endpoints = endpointsOf(ports, provisioned, options.bankHost);
    // The CNY custodian's custodian key (apart from institution 1's operator key) belongs to the custodian
    // service beside institution 1's node, never to the gateway: it mints against the deposits and payout
    // rejections it reads from the bank, capped by the reserves the bank attests. A gateway folder of an
    // earlier network still holding it is cleared. The gateway keeps only the permit relayer's key, which
    // pays the gas of merchants' permits to the escrow. Written once.
    const custodianKeyFile = join(dirOf(CUSTODIAN_NODE), "custodian.json");
    const relayerKeyFile = join(dirOf("gateway"), "permit-relayer.json");
    if (!existsSync(custodianKeyFile)) await writeOperatorKeystore(custodianKeyFile, DEV_ACCOUNTS.custodian().privateKey, passwordOf("custodian"), true);
    await rm(join(dirOf("gateway"), "custodian.json"), { force: true });
    if (!existsSync(relayerKeyFile)) await writeOperatorKeystore(relayerKeyFile, DEV_ACCOUNTS.permitRelayer().privateKey, passwordOf("gateway"), true);
    // One dashboard owner per merchant (also in a network provisioned before the dashboard), before the gateway holds its database.
    await ensureDashboardOwners(gatewayConfig(), masterKey, root, provisioned.merchants);
    // Shared by the bank simulator (signs its callbacks) and the gateway (verifies them); derived, so nothing more to keep.
    const bankCallbackSecret = createHmac("sha256", masterKey).update("settlenet bank callbacks").digest("hex");
    // The bank's callers, each with its own HMAC secret (derived likewise): the gateway, and the launcher itself (opening reserves, the demo's checks).
    const bankClients = (["gateway", "custodian", "operator"] as const).map((id) => bankClientOf({ masterKey }, id));
    const cycleSeconds = provisioned.cycleSeconds ?? 86_400;

    function gatewayConfig(): GatewayConfigInput & { dataDir: string } {
      return {
        port: ports.gateway,
        dataDir: join(dirOf("gateway"), "data"),
        nodeUrl: `https://${options.placement?.[0]?.host ?? state?.nodes[0]?.host ?? "127.0.0.1"}:${ports.nodes[0]?.api}`,
        // Only its own node's gateway credential (written below, before the gateway starts).
        nodeCredentialFile: "node-credential",
        rpcUrl: rpcOf("gateway"),
        deploymentFile,
        masterKeyEnv: MASTER_KEY_ENV,
        // A local network driven by one demo client: the per-merchant budget is not the point here.
        rateLimit: { max: 100_000, timeWindowMs: 60_000 },
        addressRateLimit: { max: 1_000_000, timeWindowMs: 60_000 },
        // Merchants' development receivers listen on http://127.0.0.1 (private and link-local stay refused).
        webhooks: { requireHttps: false, allowLoopback: true },
        admin: { credentialsFile: adminCredentialsFile },
        logLevel,
      };
    }

    // Configuration files are regenerated at every start from the state and the ports; each node's API
    // credentials are issued once (kept across starts) and the launcher keeps their tokens beside it.
    const nodeTokens: NodeClientCredentials[] = [];
    const nodeParts = await Promise.all(
      NODE_NAMES.map(async (name, i) => {
        const config: NodeConfigInput = {
          role: name === "regulator" ? "regulator" : "institution",
          keyFile: "operator.json",
          keyPasswordEnv: KEY_PASSWORD_ENV,
          peerKeyFile: "peer.key",
          listen: [`/ip4/${provisioned.nodes[i]?.host ?? "127.0.0.1"}/tcp/${ports.nodes[i]?.p2p}`],
          bootstrap: endpoints.nodes.filter((_, j) => j !== i).map((n) => options.p2pAddressOf?.(name, n.name, n.p2p) ?? n.p2p),
          rpcUrl: rpcOf(name),
          deploymentFile: "../deployment.json",
          dataDir: "data",
          api: { host: provisioned.nodes[i]?.host ?? "127.0.0.1", port: ports.nodes[i]?.api ?? 0, tls: await certificateOf(name, provisioned.nodes[i]?.host) },
          relay: { batchIntervalMs: 100, failoverTimeoutMs: 5_000 },
          indexer: { pollIntervalMs: 250 },
          settlement: { cycleSeconds, tickMs: 1_000, finalizeFailoverMs: 5_000, rebroadcastMs: 5_000 },
          compliance: { aml: { largeValue: { threshold: LOCAL_LARGE_VALUE_THRESHOLD.toString() } } },
          ...(name === CUSTODIAN_NODE
            ? { custodian: { keyFile: "custodian.json", keyPasswordEnv: CUSTODIAN_KEY_PASSWORD_ENV, bank: { url: endpoints.bank, client: bankClientOf({ masterKey }, "custodian") }, pollIntervalMs: 500 } }
            : {}),
          logLevel,
        };
        const configFile = join(dirOf(name), "node.json");
        await writeConfig(configFile, config);
        await ensureConsoleUsers(root, name, configFile);
        if (name !== "regulator") await ensureOperatorUser(root, name, configFile);
        nodeTokens[i] = await ensureNodeCredentials(join(dirOf(name), "credentials.json"), join(dirOf(name), NODE_CLIENT_CREDENTIALS_FILE));
        const netns = options.placement?.[i]?.netns;
        const start = (env: NodeJS.ProcessEnv) => spawnNode({ name, configFile, logFile: join(dirOf(name), `${name}.log`), env: { ...envOf(name), ...env }, ...(netns ? { netns } : {}) });
        respawn.set(name, { start, url: endpoints.nodes[i]?.api ?? "" });
        const part = start({});
        live.set(name, part);
        return part;
      }),
    );
    parts.push(...nodeParts);
    order.stage(...NODE_NAMES.map(stopLive));
    await Promise.all(nodeParts.map((part, i) => waitHealthy(part, endpoints.nodes[i]?.api ?? "", readyTimeoutMs)));
    progress(`${nodeParts.length} nodes ready`);

    const bankConfig: BankConfigInput = {
      host: options.bankHost ?? "127.0.0.1",
      port: ports.bank,
      dataDir: "data",
      latencyMs: { min: 200, max: 1_500 },
      failureRate: 0,
      seed: "settlenet-dev",
      callbackUrl: options.bankCallbackUrl ?? `${endpoints.gateway}/bank/callbacks`,
      callbackSecret: bankCallbackSecret,
      clients: bankClients,
      tls: await certificateOf("bank", options.bankHost),
      // The bank pays a payout only against the merchant's redemption, final on this chain, which it reads itself.
      chain: { rpcUrl: rpcOf("bank"), deploymentFile, confirmations: 0 },
      logLevel,
    };
    // The bank is the custodian's independent reserve attestor: its own key, which the registry names.
    const attestorKeyFile = join(dirOf("bank"), "attestor.json");
    if (!existsSync(attestorKeyFile)) await writeOperatorKeystore(attestorKeyFile, DEV_ACCOUNTS.reserveAttestor().privateKey, passwordOf("bank"), true);
    bankConfig.attestor = {
      keyFile: "attestor.json",
      keyPasswordEnv: KEY_PASSWORD_ENV,
      rpcUrl: rpcOf("bank"),
      deploymentFile: "../deployment.json",
      custodian: DEV_ACCOUNTS.institution(0).address,
      currency: "CNY",
      pollMs: 1_000,
      heartbeatMs: 60_000,
    };
    await writeConfig(join(dirOf("bank"), "bank.json"), bankConfig);
    const startBank = (env: NodeJS.ProcessEnv) => spawnPart({ name: "bank", args: settlenet("bank", "start", "--config", join(dirOf("bank"), "bank.json")), logFile: join(dirOf("bank"), "bank.log"), env: { ...envOf("bank"), ...env } });
    respawn.set("bank", { start: startBank, url: endpoints.bank });
    const bank = startBank({});
    live.set("bank", bank);
    parts.push(bank);
    const services = order.stage(stopLive("bank"));
    const gwConfigFile = join(dirOf("gateway"), "gateway.json");
    const gwConfig: GatewayConfigInput = {
      ...gatewayConfig(),
      permitRelayer: { keyFile: relayerKeyFile, keyPasswordEnv: KEY_PASSWORD_ENV },
      bank: { url: endpoints.bank, callbackSecret: bankCallbackSecret, client: bankClients[0] },
      tls: await certificateOf("gateway"),
    };
    await writeConfig(gwConfigFile, gwConfig);
    const gatewayToken = nodeTokens[0]?.gateway;
    if (!gatewayToken) throw new SettlenetError("INTERNAL", "no gateway credential was issued on institution-1");
    await writeTokenFile(join(dirOf("gateway"), "node-credential"), gatewayToken);
    const startGateway = (env: NodeJS.ProcessEnv) => spawnPart({ name: "gateway", args: settlenet("gateway", "start", "--config", gwConfigFile), logFile: join(dirOf("gateway"), "gateway.log"), env: { ...envOf("gateway"), ...env } });
    respawn.set("gateway", { start: startGateway, url: endpoints.gateway });
    const gateway = startGateway({});
    live.set("gateway", gateway);
    parts.push(gateway);
    services.add(stopLive("gateway"));
    await Promise.all([waitHealthy(bank, endpoints.bank, readyTimeoutMs), waitHealthy(gateway, endpoints.gateway, readyTimeoutMs)]);
    progress("gateway and bank simulator ready");
    await openBankReserves(endpoints.bank, provisioned, bankClientOf(provisioned, "operator"));

    const failure = new Promise<{ part: string; how: string; lastLine: string; logFile: string }>((resolveFailure) => {
      for (const part of parts) {
        void part.exited.then((how) => {
          if (!stopping && !deliberate.has(part)) resolveFailure({ part: part.name, how, lastLine: lastLogLine(part.logFile), logFile: part.logFile });
        });
      }
    });
    const kill = async (name: string, signal: NodeJS.Signals = "SIGKILL") => {
      const part = live.get(name);
      if (!part) throw new SettlenetError("USAGE", `no running part named ${name}`);
      deliberate.add(part);
      await part.stop(signal);
    };
    const restart = async (name: string, env: NodeJS.ProcessEnv = {}) => {
      const how = respawn.get(name);
      if (!how) throw new SettlenetError("USAGE", `no part named ${name} can be restarted`);
      const before = live.get(name);
      if (before) {
        deliberate.add(before);
        await before.stop();
      }
      const part = how.start(env);
      live.set(name, part);
      await waitHealthy(part, how.url, readyTimeoutMs);
    };
    return { root, fresh, state: provisioned, ports, endpoints, parts, failure, stop: stopAll, kill, restart, part: (name: string) => live.get(name) };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/**
 * The reserves the custodian attested at provisioning (what backs the payers' CNY) sit in its reserve
 * account at the bank: one opening deposit, so payouts (which the bank pays from that account) are
 * covered. The bank keys transfers by reference, so repeating this at every start changes nothing.
 */
async function openBankReserves(bankUrl: string, state: NetworkState, client: { id: string; secret: string }): Promise<void> {
  const body = JSON.stringify({ reference: "opening-reserves", account: "Custodian reserve opening balance", amount: state.attestedReserves, currency: "CNY" });
  const headers = { "content-type": "application/json", ...bankRequestHeaders(client, "POST", "/v1/deposits", body) };
  const response = await fetch(`${bankUrl}/v1/deposits`, { method: "POST", headers, body, signal: AbortSignal.timeout(10_000) });
  if (response.status !== 200 && response.status !== 201) {
    throw new SettlenetError("BANK_RESERVES_FAILED", `the bank simulator refused the custodian's opening reserves deposit (${response.status})`, { status: response.status });
  }
}

/** Where the launcher keeps a merchant's dashboard owner: e-mail, password and TOTP secret (mode 0600). */
export function dashboardOwnerFile(root: string, merchantId: string): string {
  return join(root, "gateway", "dashboard", `${merchantId}.json`);
}

/** The e-mail address of a local merchant's dashboard owner. */
export function dashboardOwnerEmail(merchantId: string): string {
  return `owner@${merchantId}.example`;
}

/** How each merchant's dashboard owner signs in: its e-mail, and where its password and TOTP secret are (never the secrets). */
export function dashboardSignIn(root: string, gatewayUrl: string, merchants: readonly { id: string }[]): string[] {
  const [first] = merchants;
  return [
    `Merchant dashboard ${gatewayUrl}/dashboard (the browser must trust the development CA): sign in with the e-mail, the password from the owner's file (mode 0600) and the current TOTP code`,
    ...merchants.map((m) => `  ${m.id.padEnd(12)} ${dashboardOwnerEmail(m.id).padEnd(28)} ${dashboardOwnerFile(root, m.id)}`),
    `  code: npm run settlenet -- gateway totp --secret-file ${dashboardOwnerFile(root, first?.id ?? "tea-house")}`,
  ];
}

/** The people who sign in to the node consoles the launcher provisions: who, on which node, with which key. */
const CONSOLE_PEOPLE = [
  { role: "regulator", node: "regulator", email: "regulator@settlenet.example", key: () => DEV_ACCOUNTS.regulator() },
  { role: "arbiter", node: "institution-1", email: "arbiter@settlenet.example", key: () => DEV_ACCOUNTS.arbiter() },
] as const;

/** Where the launcher keeps a console user's sign-in (e-mail, password, TOTP secret, keystore password; mode 0600). */
export function consoleUserFile(root: string, role: string): string {
  return join(root, "consoles", `${role}.json`);
}

/** How the regulator and the arbiter sign in to their consoles (never the secrets themselves). */
export function consoleSignIn(root: string, nodes: readonly { name: string; api: string }[]): string[] {
  return [
    "Node consoles (the browser must trust the development CA): sign in with the e-mail, the password from the user's file (mode 0600) and the current TOTP code; the same file names the keystore that signs freezes or resolutions in the page, and its password",
    ...CONSOLE_PEOPLE.map((p) => `  ${p.role.padEnd(10)} ${`${nodes.find((n) => n.name === p.node)?.api ?? ""}/console/`.padEnd(36)} ${p.email.padEnd(28)} ${consoleUserFile(root, p.role)}`),
    `  code: npm run settlenet -- gateway totp --secret-file ${consoleUserFile(root, "regulator")}`,
  ];
}

/** Where the launcher keeps an institution node's console operator: e-mail, password and TOTP secret (mode 0600). */
export function operatorUserFile(root: string, node: string): string {
  return join(root, "consoles", `operator-${node}.json`);
}

/** The e-mail address of an institution node's console operator. */
export const operatorEmail = (node: string) => `operator@${node}.settlenet.example`;

/** How each institution's operator signs in to the institution console (never the secrets themselves). */
export function institutionConsoleSignIn(root: string, nodes: readonly { name: string; role: string; api: string }[]): string[] {
  const institutions = nodes.filter((n) => n.role === "institution");
  return [
    "Institution consoles (the browser must trust the development CA): sign in with the e-mail, the password from the operator's file (mode 0600) and the current TOTP code",
    ...institutions.map((n) => `  ${n.name.padEnd(14)} ${`${n.api}/console/`.padEnd(36)} ${operatorEmail(n.name).padEnd(38)} ${operatorUserFile(root, n.name)}`),
    `  code: npm run settlenet -- gateway totp --secret-file ${operatorUserFile(root, institutions[0]?.name ?? "institution-0")}`,
  ];
}

/**
 * Creates a node user for a console in the node's database (before the node runs) with a random
 * password, and writes its sign-in (e-mail, password, TOTP secret, and `extra`) to a 0600 file, as for
 * dashboard owners: no banner prints them and no other process gets them in its environment.
 */
async function createConsoleUser(file: string, configFile: string, email: string, role: string, extra: Record<string, string> = {}): Promise<void> {
  const { userCommand } = await import("../../node/api/admin-cli.js");
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const password = randomBytes(18).toString("base64url");
  const passwordFile = `${file}.password`;
  await writeFile(passwordFile, password, { mode: 0o600 });
  let created = "";
  try {
    await userCommand(["create", "--config", configFile, "--email", email, "--role", role, "--password-file", passwordFile], (line) => (created += line));
  } finally {
    await rm(passwordFile, { force: true });
  }
  const { otpauthUri } = JSON.parse(created) as { otpauthUri: string };
  const totpSecret = new URL(otpauthUri).searchParams.get("secret");
  await writeFile(`${file}.tmp`, JSON.stringify({ email, password, totpSecret, otpauthUri, ...extra }, null, 2), { mode: 0o600 });
  await rename(`${file}.tmp`, file);
}

/**
 * The regulator's and the arbiter's console users that have no file yet, each with a keystore of its
 * own signing key under another random password (named in its file), for signing in the page.
 */
async function ensureConsoleUsers(root: string, name: string, configFile: string): Promise<void> {
  for (const person of CONSOLE_PEOPLE.filter((p) => p.node === name)) {
    const file = consoleUserFile(root, person.role);
    if (existsSync(file)) continue;
    await mkdir(join(root, "consoles"), { recursive: true, mode: 0o700 });
    const keystoreFile = join(root, "consoles", `${person.role}-key.json`);
    const keystorePassword = randomBytes(18).toString("base64url");
    await writeOperatorKeystore(keystoreFile, person.key().privateKey, keystorePassword, true);
    await createConsoleUser(file, configFile, person.email, person.role, { keystoreFile, keystorePassword });
  }
}

/** An institution node's console operator, if it has no file yet. */
async function ensureOperatorUser(root: string, node: string, configFile: string): Promise<void> {
  const file = operatorUserFile(root, node);
  if (!existsSync(file)) await createConsoleUser(file, configFile, operatorEmail(node), "operator");
}

/**
 * Creates each merchant's dashboard owner that has no file yet, with a random password, and writes
 * its sign-in (e-mail, password, TOTP secret) to a 0600 file: no banner prints them and no other
 * process gets them in its environment. An owner whose file was deleted is left as it is.
 */
async function ensureDashboardOwners(config: { dataDir: string }, masterKey: string, root: string, merchants: readonly { id: string }[]): Promise<void> {
  const missing = merchants.filter((m) => !existsSync(dashboardOwnerFile(root, m.id)));
  if (missing.length === 0) return;
  const { openGatewayStorage } = await import("../../gateway/storage/db.js");
  const { gatewayDbDir } = await import("../../gateway/server.js");
  const { createOwner } = await import("../../gateway/domain/users.js");
  const { SecretBox, parseMasterKey } = await import("../../gateway/domain/secrets.js");
  const storage = await openGatewayStorage(gatewayDbDir(config));
  try {
    const modules = { storage, secrets: new SecretBox(parseMasterKey(masterKey)), now: Date.now };
    await mkdir(join(root, "gateway", "dashboard"), { recursive: true, mode: 0o700 });
    for (const merchant of missing) {
      const email = dashboardOwnerEmail(merchant.id);
      if (await storage.users.byEmail(email)) continue;
      const password = randomBytes(18).toString("base64url");
      const owner = await createOwner(merchant.id, { email, password }, { actor: "local:launcher", role: "admin" }, modules, { invitationTtlSeconds: 3600 });
      if (!("totpSecret" in owner)) continue;
      const file = dashboardOwnerFile(root, merchant.id);
      await writeFile(`${file}.tmp`, JSON.stringify({ email, password, totpSecret: owner.totpSecret, otpauthUri: owner.otpauthUri }, null, 2), { mode: 0o600 });
      await rename(`${file}.tmp`, file);
    }
  } finally {
    await storage.close();
  }
}

/** Adds the merchants to the gateway's database (before the gateway runs: LevelDB is single-process) with one API key each. */
async function provisionGatewayMerchants(config: { dataDir: string }, masterKey: string): Promise<NetworkState["merchants"]> {
  const { openGatewayStorage } = await import("../../gateway/storage/db.js");
  const { gatewayDbDir } = await import("../../gateway/server.js");
  const { addMerchant, createApiKey } = await import("../../gateway/domain/merchants.js");
  const { SecretBox, parseMasterKey } = await import("../../gateway/domain/secrets.js");
  const storage = await openGatewayStorage(gatewayDbDir(config));
  try {
    const modules = { storage, secrets: new SecretBox(parseMasterKey(masterKey)) };
    const merchants: NetworkState["merchants"] = [];
    for (const [i, merchant] of MERCHANTS.entries()) {
      const added = await addMerchant({ id: merchant.id, name: merchant.name, privateKey: DEV_ACCOUNTS.merchant(i).privateKey }, modules);
      const key = await createApiKey(merchant.id, modules);
      merchants.push({ id: merchant.id, name: merchant.name, address: added.address, keyId: key.keyId, secret: key.secret, payoutAccount: merchant.payoutAccount });
    }
    return merchants;
  } finally {
    await storage.close();
  }
}
