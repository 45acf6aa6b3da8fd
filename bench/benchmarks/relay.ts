/**
 * relay: a backlog of signed pays accepted by one institution node (its API takes them in batches of
 * 500, faster than any chain executes them) and relayed on-chain by it while the other three watch.
 * Measures what relaying costs per payment, apart from the gateway and the load generator: CPU of the
 * chain and of the origin node per payment held, of each peer per payment (they validate, store and
 * watch for failover), the batch items the chain refused as already executed (duplicates: a peer
 * failing over while the origin still relays), and refusals of the node's admission control
 * (RELAY_BACKLOG), which the harness honours by waiting Retry-After and sending the batch again.
 */
import type { EscrowOperationInput } from "../../core/operations/index.js";
import { backlogRetryAfter } from "../../core/api/client.js";
import { scanChain } from "../lib/chain-scan.js";
import { HoldWatcher } from "../lib/chain-watch.js";
import { CpuMeter } from "../lib/cpu.js";
import type { Cluster } from "../lib/cluster.js";
import { nodeApi } from "../lib/node-api.js";
import { signedPay } from "../lib/ops.js";
import { Progress } from "../lib/progress.js";
import { fmt, type BenchmarkResult } from "../lib/results.js";

const BATCH = 500;

export interface RelayOptions {
  /** Pays in the backlog. */
  payments: number;
  /** Longest wait for every accepted pay to be held on-chain. */
  drainSeconds: number;
}

/** Sum of a counter over its label sets in a Prometheus text exposition. */
function counter(text: string, name: string): number {
  let total = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) total += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return total;
}

export async function runRelay(cluster: Cluster, options: RelayOptions): Promise<BenchmarkResult> {
  const progress = new Progress("relay");
  const started = performance.now();
  const { scenario, nodes } = cluster.net;
  const [origin, ...peers] = nodes;
  if (!origin) throw new Error("no institution node");
  const deployment = scenario.deployment;
  const ctx = { chainId: BigInt(deployment.chainId), escrow: deployment.contracts.escrow };
  const token = deployment.tokens["CNY"]?.address;
  if (!token) throw new Error("no CNY token");
  const deadline = BigInt(Math.floor(Date.now() / 1000) + 3_600);
  const pool: { id: string; op: EscrowOperationInput }[] = [];
  for (let i = 0; i < options.payments; i++) {
    const payer = scenario.payers[i % scenario.payers.length] as { address: string; privateKey: string };
    const merchant = (scenario.merchants[i % scenario.merchants.length] as { address: string }).address;
    pool.push(signedPay({ payer, merchant, token, feeBps: 100 }, ctx, deadline));
  }
  progress.log(`signed ${fmt(pool.length)} pays; submitting them to ${origin.name} in batches of ${BATCH}`);

  const duplicatesBefore = await Promise.all(nodes.map(async (n) => counter(await nodeApi(n.apiUrl).metrics(), "settlenet_relay_duplicate_items_total")));
  const watcher = new HoldWatcher(scenario.chain.provider, deployment.contracts.escrow);
  await watcher.start();
  const cpu = new CpuMeter(() => cluster.processes());
  await cpu.begin();
  const firstSubmit = Date.now();
  const api = nodeApi(origin.apiUrl);
  const accepted: string[] = [];
  const refusals = new Map<string, number>();
  let backlogRefusals = 0;
  for (let at = 0; at < pool.length; ) {
    const batch = pool.slice(at, at + BATCH);
    try {
      const answer = await api.submitBatch(batch.map((b) => b.op));
      answer.results.forEach((result, i) => {
        if (result.status === "accepted") accepted.push((batch[i] as { id: string }).id.toLowerCase());
        else refusals.set(result.code, (refusals.get(result.code) ?? 0) + 1);
      });
      at += batch.length;
    } catch (error) {
      const retryAfter = backlogRetryAfter(error);
      if (retryAfter === undefined) throw error;
      // Refused before anything was stored: the same batch again once the node asks for it.
      backlogRefusals += batch.length;
      await new Promise((r) => setTimeout(r, retryAfter * 1000));
    }
    progress.update(`${fmt(accepted.length)} accepted, ${fmt(backlogRefusals)} refused RELAY_BACKLOG (sent again), ${fmt(watcher.holds.size)} held`);
  }
  const acceptedAt = Date.now();
  const drainEnd = Date.now() + options.drainSeconds * 1000;
  while (Date.now() < drainEnd && accepted.some((id) => !watcher.holds.has(id))) {
    progress.update(`${fmt(accepted.filter((id) => watcher.holds.has(id)).length)} / ${fmt(accepted.length)} held`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const heldAll = Math.max(...accepted.map((id) => watcher.holds.get(id) ?? Infinity));
  await watcher.stop();
  const cpuShares = await cpu.end();
  const scan = await scanChain(scenario.chain.provider, deployment.contracts.escrow, watcher.firstBlock, watcher.lastBlock);
  const held = accepted.filter((id) => watcher.holds.has(id)).length;
  const duplicatesAfter = await Promise.all(nodes.map(async (n) => counter(await nodeApi(n.apiUrl).metrics(), "settlenet_relay_duplicate_items_total")));
  const duplicatesByNode = Object.fromEntries(nodes.map((n, i) => [n.name, (duplicatesAfter[i] ?? 0) - (duplicatesBefore[i] ?? 0)]));

  const perPay = (process: string) => {
    const share = cpuShares.find((s) => s.process === process);
    return share && held > 0 ? (share.cpuSeconds * 1000) / held : null;
  };
  const chainMs = perPay("chain (EDR JSON-RPC)");
  const originMs = perPay(`node ${origin.name}`);
  const peerMs = peers.map((p) => perPay(`node ${p.name}`));
  const peerKnown = peerMs.filter((v): v is number => v !== null);
  const peerMean = peerKnown.length > 0 ? peerKnown.reduce((a, b) => a + b, 0) / peerKnown.length : null;
  const seconds = Number.isFinite(heldAll) ? (heldAll - firstSubmit) / 1000 : null;
  const notes =
    `${fmt(pool.length)} pays submitted to ${origin.name} in batches of ${BATCH}; ${fmt(accepted.length)} accepted, ${fmt(held)} held` +
    `${refusals.size ? `; refused: ${[...refusals].map(([code, n]) => `${code} ${n}`).join(", ")}` : ""}` +
    `; ${fmt(backlogRefusals)} refused RELAY_BACKLOG and sent again; node default relay settings`;
  return {
    name: "relay",
    rows: [
      { benchmark: "relay", metric: "chain CPU per payment held (relayed backlog)", value: chainMs, unit: "ms", target: "–", met: undefined, notes },
      { benchmark: "relay", metric: "origin node CPU per payment (accept, gossip, relay)", value: originMs, unit: "ms", target: "–", met: undefined, notes },
      { benchmark: "relay", metric: "peer node CPU per payment (validate, store, watch)", value: peerMean, unit: "ms", target: "–", met: undefined, notes: `mean of ${peers.length} peers` },
      {
        benchmark: "relay",
        metric: "duplicate batch items (already executed when relayed)",
        value: watcher.items.duplicate,
        unit: "items",
        target: "< 1% of payments",
        met: watcher.items.duplicate < held / 100,
        notes: `${fmt(watcher.items.failed)} other failed items; not held: ${fmt(accepted.length - held)}`,
      },
      { benchmark: "relay", metric: "backlog relayed on-chain", value: seconds === null ? null : held / seconds, unit: "payments/s", target: "–", met: undefined, notes: `from the first submission to the last hold; all accepted ${((acceptedAt - firstSubmit) / 1000).toFixed(1)} s after the first submission` },
    ],
    details: {
      payments: pool.length,
      accepted: accepted.length,
      held,
      refusals: Object.fromEntries(refusals),
      backlogRefusals,
      batchItems: watcher.items,
      duplicatesByNode,
      secondsToAccept: (acceptedAt - firstSubmit) / 1000,
      secondsToHoldAll: seconds,
      cpuMsPerPayment: { chain: chainMs, origin: originMs, peers: peerMs },
      cpu: cpuShares,
      // For bench/profile.ts: the window on the clock CPU profiles use.
      profileWindows: { load: { ...cpu.window, units: held } },
      chain: { blocks: scan.blocks.length, transactions: scan.relayed.transactions, gasUsed: scan.blocks.reduce((n, b) => n + b.gasUsed, 0) },
    },
    durationSeconds: (performance.now() - started) / 1000,
  };
}
