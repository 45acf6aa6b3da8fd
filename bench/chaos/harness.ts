/**
 * One scenario of the fault campaign: a fresh local network (the launcher's `startNetwork`, every part
 * its own process: chain, three institution nodes, a regulator node, gateway, bank simulator), a
 * steady stream of payments through the gateway, a baseline, the fault and its heal, a steady tail,
 * then the drain and the account:
 *
 * - submitted: payments the stream started; acknowledged: authorisations answered 202;
 * - executed: submitted payments whose `pay` executed on-chain (from the relay calldata, ledger.ts);
 * - lost: acknowledged and never executed once the drain ended; executed twice: more than one
 *   executing relay of an operation; duplicate relays: relays of an operation beyond its first;
 * - seconds to recover: from the heal until the first of three consecutive seconds in which at least
 *   80% of the payments started were acknowledged and held on-chain within the baseline's own latency
 *   bound (3 × its p90, at least 5 s).
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import type { JsonRpcProvider } from "ethers";

import type { Deployment } from "../../core/protocol/deployment.js";
import { readDeployment } from "../../core/protocol/deployment.js";
import { caFileOf, startNetwork, type RunningNetwork, type StartNetworkOptions } from "../../scripts/lib/network.js";
import { providerFor } from "../../core/operator/chain.js";
import { startTcpProxy, type TcpProxy } from "../../scripts/lib/tcp-proxy.js";
import { HoldWatcher } from "../lib/chain-watch.js";
import { duplicateRelays, relayLedger } from "./ledger.js";
import { PaymentStream, type Attempt } from "./stream.js";

/** Parts of the network by the launcher's names. */
export const NODES = ["institution-1", "institution-2", "institution-3", "regulator"] as const;

export interface Timing {
  /** Steady stream before the fault. */
  baselineSeconds: number;
  /** How long a fault lasts (the chain outage, a partition, a full disk, a flood). */
  faultSeconds: number;
  /** Steady stream after the heal. */
  tailSeconds: number;
  /** Longest wait after the stream for acknowledged payments to execute. */
  drainSeconds: number;
  /** Payments started per second. */
  perSecond: number;
}

/** A further account a scenario keeps (payouts, webhook deliveries, top-ups): its own lost and doubled. */
export interface ExtraCount {
  what: string;
  total: number;
  lost: number;
  doubled: number;
  note: string;
}

export interface ScenarioContext {
  net: RunningNetwork;
  root: string;
  /** The chain, reached directly (never through a proxy). */
  provider: JsonRpcProvider;
  deployment: Deployment;
  stream: PaymentStream;
  /** When each payment was first seen held on-chain (Date.now() ms), by payment id. */
  holds: ReadonlyMap<string, number>;
  timing: Timing;
  /** Proxies each part reaches the chain through, by part name (with `chainProxies`). */
  chainProxies: Map<string, TcpProxy>;
  /** Proxies node `from` dials node `to` through, by `${from}->${to}` (with `p2pProxies`). */
  p2pProxies: Map<string, TcpProxy>;
  /** What the scenario did, for its paragraph in the report. */
  note(text: string): void;
  /** Marks the end of a fault (recovery is measured from here); `label` names it in the notes. */
  healed(label?: string): void;
  log(text: string): void;
  sleep(seconds: number): Promise<void>;
  waitFor<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs?: number): Promise<T>;
  extra(count: ExtraCount): void;
}

export interface ScenarioNetwork {
  /** Route every part's JSON-RPC through its own proxy (ScenarioContext.chainProxies). */
  chainProxies?: boolean;
  /** Route every libp2p dial between two nodes through its own proxy (ScenarioContext.p2pProxies). */
  p2pProxies?: boolean;
  /** Extra start options (bank callback URL, environment, prepare). */
  options?: (root: string) => Promise<Partial<StartNetworkOptions>>;
}

export interface Scenario {
  id: string;
  title: string;
  /** What is done, for the report (one paragraph with what the run showed). */
  description: string;
  /** A reason the scenario cannot run here (printed; the campaign then fails), or undefined. */
  unavailable?: () => string | undefined;
  network?: ScenarioNetwork;
  /** The fault lasts the whole run (nothing heals it): no recovery time. */
  noHeal?: boolean;
  /** Injects the fault and heals it (calling ctx.healed()), while the stream runs. */
  inject(ctx: ScenarioContext): Promise<void>;
  /** Cleans up what `network.options` set up (unmounts), after the network stopped. */
  cleanup?: (root: string) => Promise<void>;
}

export interface ScenarioResult {
  id: string;
  title: string;
  status: "ok" | "failed" | "not run";
  submitted: number;
  acknowledged: number;
  executed: number;
  lost: number;
  executedTwice: number;
  duplicateRelays: number;
  /** Seconds from each heal to steady payments again (null: not within the run). */
  recoverSeconds: (number | null)[];
  extras: ExtraCount[];
  notes: string[];
  /** Why it failed or could not run. */
  reason?: string;
  errors: Record<string, number>;
  seconds: number;
}

/** Runs one scenario on its own network; never throws (a scenario that cannot finish is "not run"). */
export async function runScenario(scenario: Scenario, timing: Timing, log: (line: string) => void): Promise<ScenarioResult> {
  const started = Date.now();
  const result: ScenarioResult = {
    id: scenario.id,
    title: scenario.title,
    status: "not run",
    submitted: 0,
    acknowledged: 0,
    executed: 0,
    lost: 0,
    executedTwice: 0,
    duplicateRelays: 0,
    recoverSeconds: [],
    extras: [],
    notes: [],
    errors: {},
    seconds: 0,
  };
  const unavailable = scenario.unavailable?.();
  if (unavailable) {
    result.reason = unavailable;
    log(`${scenario.id}: not run: ${unavailable}`);
    return result;
  }
  const root = await mkdtemp(join(tmpdir(), `settlenet-chaos-${scenario.id}-`));
  const proxies = new Map<string, TcpProxy>();
  const p2pProxies = new Map<string, TcpProxy>();
  let net: RunningNetwork | undefined;
  let provider: JsonRpcProvider | undefined;
  let stream: PaymentStream | undefined;
  const heals: { at: number; label: string }[] = [];
  try {
    const extraOptions = (await scenario.network?.options?.(root)) ?? {};
    const ports = await import("../../scripts/lib/network.js").then((m) => m.autoPorts());
    if (scenario.network?.chainProxies) {
      for (const part of [...NODES, "gateway", "bank"]) proxies.set(part, await startTcpProxy({ host: "127.0.0.1", port: ports.chain }));
    }
    if (scenario.network?.p2pProxies) {
      for (const [i, from] of NODES.entries()) {
        for (const [j, to] of NODES.entries()) {
          const port = ports.nodes[j]?.p2p;
          if (i !== j && port !== undefined) p2pProxies.set(`${from}->${to}`, await startTcpProxy({ host: "127.0.0.1", port }));
        }
      }
    }
    log(`${scenario.id}: starting a fresh network in ${root}`);
    net = await startNetwork({
      root,
      reset: true,
      ports,
      payers: 20,
      logLevel: "info",
      ...(proxies.size > 0 ? { rpcUrlOf: (part: string, chainUrl: string) => proxies.get(part)?.url ?? chainUrl } : {}),
      ...(p2pProxies.size > 0
        ? { p2pAddressOf: (from: string, to: string, address: string) => { const proxy = p2pProxies.get(`${from}->${to}`); return proxy ? address.replace(/\/tcp\/\d+\//, `/tcp/${proxy.port}/`) : address; } }
        : {}),
      ...extraOptions,
    });
    const running = net;
    provider = await providerFor(net.endpoints.chain);
    const deployment = await readDeployment(join(root, "deployment.json"));
    const firstBlock = (await provider.getBlockNumber()) + 1;
    const watcher = new HoldWatcher(provider, deployment.contracts.escrow, 100);
    await watcher.start();
    stream = new PaymentStream({
      gatewayUrl: net.endpoints.gateway,
      ca: await readFile(caFileOf(root), "utf8"),
      merchants: net.state.merchants.map((m) => ({ keyId: m.keyId, secret: m.secret })),
      payers: net.state.payers,
      perSecond: timing.perSecond,
      maxInFlight: timing.perSecond * 20,
    });
    const ctx: ScenarioContext = {
      net: running,
      root,
      provider,
      deployment,
      stream,
      holds: watcher.holds,
      timing,
      chainProxies: proxies,
      p2pProxies,
      note: (text) => result.notes.push(text),
      healed: (label = "healed") => {
        heals.push({ at: Date.now(), label });
        log(`${scenario.id}: ${label}`);
      },
      log: (text) => log(`${scenario.id}: ${text}`),
      sleep: (seconds) => new Promise((r) => setTimeout(r, seconds * 1000)),
      waitFor: async (what, check, timeoutMs = 120_000) => {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          try {
            const value = await check();
            if (value) return value;
          } catch {
            // not yet
          }
          if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
          await new Promise((r) => setTimeout(r, 250));
        }
      },
      extra: (count) => result.extras.push(count),
    };
    log(`${scenario.id}: network ready; ${timing.perSecond} payments/s, ${timing.baselineSeconds} s baseline`);
    stream.start();
    await ctx.sleep(timing.baselineSeconds);
    const faultStart = Date.now();
    await scenario.inject(ctx);
    if (heals.length === 0 && !scenario.noHeal) ctx.healed();
    await ctx.sleep(timing.tailSeconds);
    await stream.stop();
    const attempts = stream.attempts;
    const acked = attempts.filter((a) => a.ackedAt !== undefined && a.paymentId);
    log(`${scenario.id}: stream stopped (${attempts.length} started, ${acked.length} acknowledged); draining`);
    const drainEnd = Date.now() + timing.drainSeconds * 1000;
    while (Date.now() < drainEnd && acked.some((a) => !watcher.holds.has(a.paymentId ?? ""))) await ctx.sleep(0.5);
    await watcher.stop();
    const lastBlock = await provider.getBlockNumber();
    const ledger = await relayLedger(provider, deployment, firstBlock, lastBlock);

    result.submitted = attempts.length;
    result.acknowledged = acked.length;
    result.executed = attempts.filter((a) => a.paymentId && (ledger.executed.get(a.paymentId) ?? 0) > 0).length;
    result.lost = acked.filter((a) => (ledger.executed.get(a.paymentId ?? "") ?? 0) === 0).length;
    result.executedTwice = [...ledger.executed.values()].filter((n) => n > 1).length;
    result.duplicateRelays = duplicateRelays(ledger);
    // The watcher's view must agree with the calldata's (an execution the ledger missed would hide a loss).
    const heldNotExecuted = acked.filter((a) => watcher.holds.has(a.paymentId ?? "") && (ledger.executed.get(a.paymentId ?? "") ?? 0) === 0).length;
    if (heldNotExecuted > 0) result.notes.push(`${heldNotExecuted} payments held on-chain without an executing relay in the calldata account`);
    for (const a of attempts) if (a.error) result.errors[a.error] = (result.errors[a.error] ?? 0) + 1;
    result.recoverSeconds = recovery(attempts, watcher.holds, heals.map((h) => h.at), faultStart);
    if (heals.length > 1) result.notes.push(`recovery per fault: ${heals.map((h, i) => `${h.label} ${fmtSeconds(result.recoverSeconds[i] ?? null)}`).join("; ")}`);
    const lostExtra = result.extras.reduce((n, e) => n + e.lost, 0);
    const doubledExtra = result.extras.reduce((n, e) => n + e.doubled, 0);
    result.status = result.lost === 0 && result.executedTwice === 0 && lostExtra === 0 && doubledExtra === 0 ? "ok" : "failed";
    if (result.status === "failed") result.reason = `lost ${result.lost + lostExtra}, executed twice ${result.executedTwice + doubledExtra}`;
  } catch (error) {
    result.status = "not run";
    result.reason = (error as Error).message;
    log(`${scenario.id}: could not finish: ${(error as Error).stack ?? String(error)}`);
  } finally {
    await stream?.stop().catch(() => undefined);
    for (const proxy of [...proxies.values(), ...p2pProxies.values()]) await proxy.set("pass").catch(() => undefined);
    await net?.stop().catch((error: unknown) => log(`${scenario.id}: stopping the network: ${(error as Error).message}`));
    provider?.destroy();
    for (const proxy of [...proxies.values(), ...p2pProxies.values()]) await proxy.close();
    await scenario.cleanup?.(root).catch((error: unknown) => log(`${scenario.id}: cleanup: ${(error as Error).message}`));
    if (!process.env["SETTLENET_KEEP_E2E"]) await rm(root, { recursive: true, force: true }).catch(() => undefined);
    else log(`${scenario.id}: kept ${root}`);
  }
  result.seconds = Math.round((Date.now() - started) / 1000);
  return result;
}

/** Seconds from each heal until steady payments again (see the module comment); null if never. */
export function recovery(attempts: Attempt[], holds: Map<string, number>, heals: number[], faultStart: number): (number | null)[] {
  const latency = (a: Attempt) => {
    const hold = a.paymentId ? holds.get(a.paymentId) : undefined;
    return a.ackedAt !== undefined && hold !== undefined ? hold - a.startedAt : Infinity;
  };
  const baseline = attempts.filter((a) => a.startedAt < faultStart).map(latency).filter(Number.isFinite).sort((x, y) => x - y);
  const p90 = baseline[Math.floor(baseline.length * 0.9)] ?? 2_000;
  const bound = Math.max(5_000, 3 * p90);
  const last = attempts.at(-1)?.startedAt ?? 0;
  return heals.map((heal) => {
    for (let s = heal; s + 3_000 <= last; s += 1_000) {
      let good = true;
      for (let k = 0; k < 3 && good; k++) {
        const bucket = attempts.filter((a) => a.startedAt >= s + k * 1_000 && a.startedAt < s + (k + 1) * 1_000);
        const fine = bucket.filter((a) => latency(a) <= bound).length;
        good = bucket.length > 0 && fine >= 0.8 * bucket.length;
      }
      if (good) return Math.round((s - heal) / 1000);
    }
    return null;
  });
}

export function fmtSeconds(s: number | null): string {
  return s === null ? "not recovered" : `${s} s`;
}
