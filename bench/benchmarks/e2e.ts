/**
 * end-to-end: escrow payments created through the gateway (POST /v1/payments), signed by the payer
 * (the returned payment id is the EIP-712 digest the payer's wallet signs), authorised (POST
 * /v1/payments/{id}/authorization → the institution node validates, stores, gossips to the other three
 * and relays in batches) and held on-chain. Closed loop with a fixed number of concurrent shoppers.
 * The hold is observed from outside: a watcher polls the chain for PaymentPaid events. Latency = API
 * call → hold seen; stages are timed per payment from the harness's clocks and the nodes' stored
 * records (receivedAtMs); CPU per process shows what limits throughput.
 */
import { cpus } from "node:os";

import { CpuMeter, cpuBottleneck } from "../lib/cpu.js";
import { HoldWatcher } from "../lib/chain-watch.js";
import type { Cluster } from "../lib/cluster.js";
import { closedLoop } from "../lib/load.js";
import { mapLimit, storedOperation } from "../lib/node-api.js";
import { signDigest } from "../lib/ops.js";
import { Progress } from "../lib/progress.js";
import { atLeast, atMost, fmt, type BenchmarkResult } from "../lib/results.js";
import { jsonSummary, summarize, type Summary } from "../lib/stats.js";

const TARGET_RATE = 1_000;
const TARGET_P99_MS = 2_000;
const SAMPLE = 500;
const DRAIN_MS = 120_000;

export interface EndToEndOptions {
  seconds: number;
  concurrency: number;
}

interface Timed {
  paymentId: string;
  /** Date.now() at: create sent, created, signed, authorization answered. */
  t0: number;
  t1: number;
  t2: number;
  t3: number;
}

export async function runEndToEnd(cluster: Cluster, options: EndToEndOptions): Promise<BenchmarkResult> {
  const progress = new Progress("end-to-end");
  const started = performance.now();
  const { scenario, nodes } = cluster.net;
  const [origin, ...peers] = nodes;
  if (!origin) throw new Error("no institution node");
  const payers = scenario.payers;
  const watcher = new HoldWatcher(scenario.chain.provider, scenario.deployment.contracts.escrow);
  await watcher.start();
  const run = `e${Date.now().toString(36)}`;
  const timed: Timed[] = [];
  const cpu = new CpuMeter(() => cluster.processes());
  await cpu.begin();
  const loadStart = Date.now();
  const load = await closedLoop(
    { concurrency: options.concurrency, durationMs: options.seconds * 1000 },
    async (seq) => {
      const client = cluster.clients[seq % cluster.clients.length];
      const payer = payers[seq % payers.length];
      if (!client || !payer) throw new Error("no client or payer");
      const t0 = Date.now();
      const created = await client.post<{ id: string; paymentId: string }>("/v1/payments", {
        amount: "100",
        currency: "CNY",
        merchantOrderId: `${run}-${seq}`,
        payer: payer.address,
      });
      if (created.status !== 201) throw new Error(`create answered ${created.status}: ${JSON.stringify(created.body).slice(0, 200)}`);
      const t1 = Date.now();
      const signature = signDigest(created.body.paymentId, payer.privateKey);
      const t2 = Date.now();
      const authorized = await client.post(`/v1/payments/${created.body.id}/authorization`, { signature });
      if (authorized.status !== 202) throw new Error(`authorization answered ${authorized.status}: ${JSON.stringify(authorized.body).slice(0, 200)}`);
      timed.push({ paymentId: created.body.paymentId.toLowerCase(), t0, t1, t2, t3: Date.now() });
    },
    (r) => progress.update(`${fmt(r.completed)} authorised, ${fmt(timed.filter((t) => watcher.holds.has(t.paymentId)).length)} of them held on-chain, ${r.failed} failed`),
  );
  const loadEnd = Date.now();
  progress.log(`${fmt(timed.length)} payments authorised in ${options.seconds} s (${load.failed} failed); waiting for their holds`);

  const drainEnd = Date.now() + DRAIN_MS;
  while (Date.now() < drainEnd && timed.some((t) => !watcher.holds.has(t.paymentId))) {
    progress.update(`${fmt(timed.filter((t) => watcher.holds.has(t.paymentId)).length)} / ${fmt(timed.length)} held`);
    await new Promise((r) => setTimeout(r, 200));
  }
  watcher.stop();
  const cpuShares = await cpu.end();

  // Sustained rate: holds seen after the first tenth of the run (ramp-up) until the load stopped.
  const windowStart = loadStart + (loadEnd - loadStart) / 10;
  const heldInWindow = timed.filter((t) => {
    const at = watcher.holds.get(t.paymentId);
    return at !== undefined && at >= windowStart && at <= loadEnd;
  }).length;
  const rate = (heldInWindow * 1000) / (loadEnd - windowStart);
  const latencies = timed.map((t) => {
    const at = watcher.holds.get(t.paymentId);
    return at === undefined ? Infinity : at - t.t0;
  });
  const unheld = latencies.filter((l) => !Number.isFinite(l)).length;
  const latency = summarize(latencies);

  // Stages from a random sample, with the nodes' own acceptance times.
  const sample = [...timed].sort(() => Math.random() - 0.5).slice(0, SAMPLE);
  progress.log(`reading ${sample.length} sampled payments from all 4 nodes`);
  const stored = await mapLimit(sample, 16, async (t) => ({ t, records: await Promise.all(nodes.map((n) => storedOperation(n.apiUrl, t.paymentId))) }));
  const stage: Record<string, number[]> = {
    "gateway create (POST /v1/payments)": [],
    "payer signs": [],
    "authorize → origin node accepted (gateway checks and node sync, node validation)": [],
    "origin accepted → authorize answered (node store + gossip publish, gateway update)": [],
    "relay and chain (authorize answered → hold seen in a block)": [],
  };
  const gossip: number[] = [];
  for (const { t, records } of stored) {
    const [o, ...p] = records;
    const hold = watcher.holds.get(t.paymentId);
    stage["gateway create (POST /v1/payments)"]?.push(t.t1 - t.t0);
    stage["payer signs"]?.push(t.t2 - t.t1);
    if (o) {
      stage["authorize → origin node accepted (gateway checks and node sync, node validation)"]?.push(o.receivedAtMs - t.t2);
      stage["origin accepted → authorize answered (node store + gossip publish, gateway update)"]?.push(t.t3 - o.receivedAtMs);
      gossip.push(p.every((x) => x) ? Math.max(...p.map((x) => (x as { receivedAtMs: number }).receivedAtMs)) - o.receivedAtMs : Infinity);
    }
    stage["relay and chain (authorize answered → hold seen in a block)"]?.push(hold === undefined ? Infinity : hold - t.t3);
  }
  const stages: Record<string, Summary> = Object.fromEntries(Object.entries(stage).map(([k, v]) => [k, summarize(v)]));
  const gossipSummary = summarize(gossip);
  const slowest = Object.entries(stages).sort((a, b) => b[1].p99 - a[1].p99)[0];
  const stageText = Object.entries(stages)
    .map(([k, s]) => `${k} p50 ${fmt(s.p50)} / p99 ${fmt(s.p99)} ms`)
    .join("; ");
  const windowBlocks = watcher.blocks.filter((b) => b.seenAtMs >= windowStart && b.seenAtMs <= loadEnd);
  const cpuVerdict = cpuBottleneck(cpuShares, cpus().length);

  const rateMet = atLeast(rate, TARGET_RATE);
  const p99Met = atMost(latency.p99, TARGET_P99_MS) && unheld === 0;
  const notes =
    `${options.concurrency} concurrent shoppers (create → sign → authorise), ${options.seconds} s; ${fmt(timed.length)} authorised, ` +
    `${load.failed} failed${unheld ? `, ${unheld} not held within ${DRAIN_MS / 1000} s after the load (counted as ∞ latency)` : ""}; ` +
    `4 institution nodes, node default relay settings (batches of up to 100 every 200 ms)`;
  return {
    name: "end-to-end",
    rows: [
      {
        benchmark: "end-to-end",
        metric: "escrow payments created, signed and held on-chain, sustained",
        value: rate,
        unit: "payments/s",
        target: `≥ ${fmt(TARGET_RATE)}/s`,
        met: rateMet,
        notes,
        ...(rateMet
          ? {}
          : {
              bottleneck: {
                stage: cpuVerdict.stage,
                evidence: `${cpuVerdict.evidence}; per payment: ${stageText}`,
              },
            }),
      },
      {
        benchmark: "end-to-end",
        metric: "p99 latency, API call → on-chain hold",
        value: latency.p99,
        unit: "ms",
        target: `≤ ${fmt(TARGET_P99_MS)} ms`,
        met: p99Met,
        notes: `p50 ${fmt(latency.p50)} ms over ${fmt(latency.count)} payments; gossip to the other 3 nodes p50 ${fmt(gossipSummary.p50)} / p99 ${fmt(gossipSummary.p99)} ms (in parallel with the relay)`,
        ...(p99Met || !slowest ? {} : { bottleneck: { stage: slowest[0], evidence: stageText } }),
      },
    ],
    details: {
      concurrency: options.concurrency,
      seconds: options.seconds,
      authorised: timed.length,
      failed: load.failed,
      errors: load.errors,
      heldInWindow,
      windowSeconds: (loadEnd - windowStart) / 1000,
      unheld,
      latencyMs: jsonSummary(latency),
      stagesMs: Object.fromEntries(Object.entries(stages).map(([k, s]) => [k, jsonSummary(s)])),
      gossipToPeersMs: jsonSummary(gossipSummary),
      sampled: sample.length,
      chain: {
        blocksInWindow: windowBlocks.length,
        transactionsInWindow: windowBlocks.reduce((n, b) => n + b.transactions, 0),
        gasPerSecondInWindow: windowBlocks.reduce((n, b) => n + b.gasUsed, 0) / ((loadEnd - windowStart) / 1000),
      },
      cpu: cpuShares,
      // Batch items the chain refused during the run: as already executed (relayed twice), or otherwise.
      batchItems: { duplicate: watcher.items.duplicate, failed: watcher.items.failed },
      peers: peers.length,
    },
    durationSeconds: (performance.now() - started) / 1000,
  };
}
