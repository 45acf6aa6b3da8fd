/**
 * gateway: `POST /v1/payments` against the gateway process (HMAC-signed by the merchant client, zod
 * validation, the merchant's registry record, the order written to LevelDB in a synced batch), closed
 * loop with a fixed number of concurrent clients. Every answer but 201 is a failure counted by its
 * code. Beside it, the same process's unauthenticated `GET /health` rate (the HTTP floor) and the CPU
 * each process used per request, so a miss shows where the time goes.
 */
import { cpus } from "node:os";

import { CpuMeter, cpuBottleneck, cpuPerUnit } from "../lib/cpu.js";
import type { Cluster } from "../lib/cluster.js";
import { Failures, codeOfAnswer, codeOfError, describeFailures } from "../lib/failures.js";
import { closedLoop } from "../lib/load.js";
import { Progress } from "../lib/progress.js";
import { fmt, meets, type BenchmarkResult, type Goal } from "../lib/results.js";
import { jsonSummary, summarize } from "../lib/stats.js";

const RATE: Goal = { compare: "atLeast", value: 3_000 };
const P99_MS: Goal = { compare: "atMost", value: 50 };

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
  const failures = new Failures();
  const cpu = new CpuMeter(() => cluster.processes());
  await cpu.begin();
  const load = await closedLoop(
    { concurrency: options.concurrency, durationMs: options.seconds * 1000 },
    async (seq) => {
      const client = cluster.clients[seq % cluster.clients.length];
      const payer = payers[seq % payers.length];
      if (!client || !payer) throw new Error("no client or payer");
      const t = performance.now();
      let res;
      try {
        res = await client.post("/v1/payments", { amount: "100", currency: "CNY", merchantOrderId: `${run}-${seq}`, description: "benchmark order", payer: payer.address });
      } catch (error) {
        failures.add(codeOfError(error), (error as Error).message);
        throw error;
      }
      latencies.push(performance.now() - t);
      if (res.status !== 201) {
        failures.add(codeOfAnswer(res.status, res.body), `POST /v1/payments answered ${res.status}: ${JSON.stringify(res.body).slice(0, 200)}`);
        throw new Error(`POST /v1/payments answered ${res.status}`);
      }
    },
    (r) => progress.update(`${fmt(r.completed)} created, ${fmt((r.completed * 1000) / Math.max(1, r.elapsedMs))}/s, ${r.failed} failed`),
  );
  const cpuShares = await cpu.end();
  const created = load.completed;
  const rate = (created * 1000) / load.elapsedMs;
  const summary = summarize(latencies);
  progress.log(`${fmt(rate)} req/s, p99 ${fmt(summary.p99, 1)} ms, ${describeFailures(failures.byCode())}`);

  // The HTTP floor of the same process: no auth, no body, no storage.
  const health = await closedLoop({ concurrency: options.concurrency, durationMs: Math.min(3_000, options.seconds * 1000) }, async () => {
    const res = await fetch(`${cluster.gatewayUrl}/health`);
    await res.arrayBuffer();
  });
  const healthRate = (health.completed * 1000) / health.elapsedMs;

  const failed = failures.byCode();
  const ok = failures.total === 0;
  const rateMet = meets(rate, RATE) && ok;
  const p99Met = meets(summary.p99, P99_MS) && ok;
  const cpuVerdict = cpuBottleneck(cpuShares, cpus().length, cpu.otherCores);
  const bottleneck = {
    stage: cpuVerdict.stage,
    evidence: `${cpuVerdict.evidence}; the same gateway answers unauthenticated GET /health at ${fmt(healthRate)} req/s`,
  };
  const perRequest = cpuPerUnit(cpuShares, created, "request");
  const notes = `${options.concurrency} concurrent clients, ${options.seconds} s, ${fmt(created)} created`;
  return {
    name: "gateway",
    rows: [
      {
        benchmark: "gateway",
        metric: "POST /v1/payments (HMAC auth, validation, durable write) throughput",
        value: rate,
        unit: "req/s",
        target: `≥ ${fmt(RATE.value)}/s`,
        met: rateMet,
        goal: RATE,
        failures: failed,
        notes,
        cpu: perRequest,
        ...(rateMet ? {} : { bottleneck }),
      },
      {
        benchmark: "gateway",
        metric: "POST /v1/payments p99 latency",
        value: summary.p99,
        unit: "ms",
        target: `≤ ${P99_MS.value} ms`,
        met: p99Met,
        goal: P99_MS,
        failures: failed,
        notes: `p50 ${fmt(summary.p50, 1)} ms at ${options.concurrency} concurrent clients (answered requests; failures are counted, not timed)`,
        ...(p99Met ? {} : { bottleneck }),
      },
    ],
    details: {
      concurrency: options.concurrency,
      seconds: options.seconds,
      created,
      failures: failed,
      failureExamples: failures.examples,
      latencyMs: jsonSummary(summary),
      healthPerSecond: healthRate,
      cpu: cpuShares,
      machineCores: { busy: cpu.machineCores, otherWork: cpu.otherCores },
      // For bench/profile.ts --benchmark=gateway: the measured window on the clock CPU profiles use.
      profileWindows: { load: { ...cpu.window, units: created } },
      cpuMsPerRequest: perRequest,
    },
    durationSeconds: (performance.now() - started) / 1000,
  };
}
