/**
 * gateway: `POST /v1/payments` against the gateway process (HMAC-signed by the merchant client, zod
 * validation, the merchant's registry record read from the chain, the order written to LevelDB in a
 * synced batch), closed loop with a fixed number of concurrent clients. Beside it, the same process's
 * unauthenticated `GET /health` rate (the HTTP floor) and the CPU each process used, so a miss shows
 * where the time goes.
 */
import { cpus } from "node:os";

import { CpuMeter, cpuBottleneck } from "../lib/cpu.js";
import type { Cluster } from "../lib/cluster.js";
import { closedLoop } from "../lib/load.js";
import { Progress } from "../lib/progress.js";
import { atLeast, atMost, fmt, type BenchmarkResult } from "../lib/results.js";
import { jsonSummary, summarize } from "../lib/stats.js";

const TARGET_RATE = 3_000;
const TARGET_P99_MS = 50;

export interface GatewayOptions {
  seconds: number;
  concurrency: number;
}

export async function runGateway(cluster: Cluster, options: GatewayOptions): Promise<BenchmarkResult> {
  const progress = new Progress("gateway");
  const started = performance.now();
  const payers = cluster.net.scenario.payers;
  const run = `g${Date.now().toString(36)}`;
  const latencies: number[] = [];
  const statuses = new Map<number, number>();
  const cpu = new CpuMeter(() => cluster.processes());
  await cpu.begin();
  const load = await closedLoop(
    { concurrency: options.concurrency, durationMs: options.seconds * 1000 },
    async (seq) => {
      const client = cluster.clients[seq % cluster.clients.length];
      const payer = payers[seq % payers.length];
      if (!client || !payer) throw new Error("no client or payer");
      const t = performance.now();
      const res = await client.post("/v1/payments", { amount: "100", currency: "CNY", merchantOrderId: `${run}-${seq}`, description: "benchmark order", payer: payer.address });
      latencies.push(performance.now() - t);
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      if (res.status !== 201) throw new Error(`POST /v1/payments answered ${res.status}: ${JSON.stringify(res.body).slice(0, 200)}`);
    },
    (r) => progress.update(`${fmt(r.completed)} created, ${fmt((r.completed * 1000) / Math.max(1, r.elapsedMs))}/s, ${r.failed} failed`),
  );
  const cpuShares = await cpu.end();
  const created = load.completed;
  const rate = (created * 1000) / load.elapsedMs;
  const summary = summarize(latencies);
  progress.log(`${fmt(rate)} req/s, p99 ${fmt(summary.p99, 1)} ms`);

  // The HTTP floor of the same process: no auth, no body, no storage.
  const health = await closedLoop({ concurrency: options.concurrency, durationMs: Math.min(3_000, options.seconds * 1000) }, async () => {
    const res = await fetch(`${cluster.gatewayUrl}/health`);
    await res.arrayBuffer();
  });
  const healthRate = (health.completed * 1000) / health.elapsedMs;

  const rateMet = atLeast(rate, TARGET_RATE) && load.failed === 0;
  const p99Met = atMost(summary.p99, TARGET_P99_MS);
  const cpuVerdict = cpuBottleneck(cpuShares, cpus().length);
  const bottleneck = {
    stage: cpuVerdict.stage,
    evidence: `${cpuVerdict.evidence}; the same gateway answers unauthenticated GET /health at ${fmt(healthRate)} req/s`,
  };
  const notes = `${options.concurrency} concurrent clients, ${options.seconds} s, ${created} created, ${load.failed} failed`;
  return {
    name: "gateway",
    rows: [
      { benchmark: "gateway", metric: "POST /v1/payments (HMAC auth, validation, durable write) throughput", value: rate, unit: "req/s", target: `≥ ${fmt(TARGET_RATE)}/s`, met: rateMet, notes, ...(rateMet ? {} : { bottleneck }) },
      { benchmark: "gateway", metric: "POST /v1/payments p99 latency", value: summary.p99, unit: "ms", target: `≤ ${TARGET_P99_MS} ms`, met: p99Met, notes: `p50 ${fmt(summary.p50, 1)} ms at ${options.concurrency} concurrent clients`, ...(p99Met ? {} : { bottleneck }) },
    ],
    details: {
      concurrency: options.concurrency,
      seconds: options.seconds,
      created,
      failed: load.failed,
      errors: load.errors,
      statuses: Object.fromEntries(statuses),
      latencyMs: jsonSummary(summary),
      healthPerSecond: healthRate,
      cpu: cpuShares,
    },
    durationSeconds: (performance.now() - started) / 1000,
  };
}
