/**
 * gossip: signed pay operations submitted to one institution node's API in batches of 100 (what a busy
 * gateway or a batching client sends), gossiped to the other three and fully validated (schema,
 * registry, nonce, risk, signature) and stored by all four. Throughput = operations accepted by all
 * four nodes per second, from the first submission until the nodes' own validation counters (GET
 * /metrics) show every operation accepted everywhere. Propagation per operation = the last peer's
 * `receivedAtMs` minus the origin's, read from the nodes' stored records for a random sample (same
 * machine, same clock). Operations are signed before the clock starts. Every operation refused (by
 * code), every batch the node did not answer (its operations, by code) and every accepted operation
 * some peer never accepted is a failure. The network is the benchmark's own, so the relay backlog it
 * leaves behind is stopped with it rather than waited for.
 */
import { cpus } from "node:os";

import type { BatchAnswer } from "../../core/api/operations.js";
import type { EscrowOperationInput } from "../../core/operations/index.js";
import { CpuMeter, cpuBottleneck, cpuPerUnit } from "../lib/cpu.js";
import type { Cluster } from "../lib/cluster.js";
import { Failures, codeOfError } from "../lib/failures.js";
import { mapLimit, nodeApi, storedOperation, validatedCount } from "../lib/node-api.js";
import { signedPay } from "../lib/ops.js";
import { Progress } from "../lib/progress.js";
import { fmt, meets, type BenchmarkResult, type Goal } from "../lib/results.js";
import { jsonSummary, summarize } from "../lib/stats.js";

const RATE: Goal = { compare: "atLeast", value: 2_000 };
const P99_MS: Goal = { compare: "atMost", value: 250 };
const BATCH = 100;
const SAMPLE = 300;

export interface GossipOptions {
  seconds: number;
  /** Batches in flight at once. */
  concurrency: number;
  /** Pre-signed operations per second of the run (the most the generator can offer). */
  poolRate: number;
}

export async function runGossip(cluster: Cluster, options: GossipOptions): Promise<BenchmarkResult> {
  const progress = new Progress("gossip");
  const started = performance.now();
  const { scenario, nodes } = cluster.net;
  const [origin, ...peers] = nodes;
  if (!origin || peers.length !== 3) throw new Error("the gossip benchmark needs 4 institution nodes");
  const deployment = scenario.deployment;
  const ctx = { chainId: BigInt(deployment.chainId), escrow: deployment.contracts.escrow };
  const token = deployment.tokens["CNY"]?.address;
  if (!token) throw new Error("no CNY token");

  const poolSize = Math.ceil(options.seconds * options.poolRate);
  const deadline = BigInt(Math.floor(Date.now() / 1000) + 3_600);
  const pool: { id: string; op: EscrowOperationInput }[] = [];
  for (let i = 0; i < poolSize; i++) {
    const payer = scenario.payers[i % scenario.payers.length] as { address: string; privateKey: string };
    const merchant = (scenario.merchants[i % scenario.merchants.length] as { address: string }).address;
    pool.push(signedPay({ payer, merchant, token, feeBps: 100 }, ctx, deadline));
    if (i % 5_000 === 0) progress.update(`signing operations: ${fmt(i)} / ${fmt(poolSize)}`);
  }
  progress.log(`signed ${fmt(poolSize)} operations; submitting batches of ${BATCH} to ${origin.name} for ${options.seconds} s`);

  const before = {
    origin: await validatedCount(origin.apiUrl, "api", "accept"),
    peers: await Promise.all(peers.map((p) => validatedCount(p.apiUrl, "gossip", "accept"))),
  };
  const submittedAt = new Map<string, number>();
  let next = 0;
  let accepted = 0;
  let refused = 0;
  const failures = new Failures();
  const originApi = nodeApi(origin.apiUrl);
  const cpu = new CpuMeter(() => cluster.processes());
  await cpu.begin();
  const firstSubmit = Date.now();
  const endAt = performance.now() + options.seconds * 1000;
  let exhausted = false;
  const stopProgress = progress.every(500, () => `${fmt(accepted)} accepted by ${origin.name} (${fmt((accepted * 1000) / Math.max(1, Date.now() - firstSubmit))}/s)`);
  await Promise.all(
    Array.from({ length: options.concurrency }, async () => {
      while (performance.now() < endAt) {
        if (next >= pool.length) {
          exhausted = true;
          return;
        }
        const batch = pool.slice(next, next + BATCH);
        next += batch.length;
        const at = Date.now();
        for (const item of batch) submittedAt.set(item.id, at);
        let body: BatchAnswer | undefined;
        try {
          body = await originApi.submitBatch(batch.map((b) => b.op));
        } catch (error) {
          // A failed submission is a measured failure of the node, not of the harness: counted, not fatal.
          failures.add(codeOfError(error), (error as Error).message, batch.length);
        }
        accepted += body?.accepted ?? 0;
        refused += body?.refused ?? batch.length;
        for (const r of body?.results ?? []) if (r.status !== "accepted") failures.add(r.code, r.problem.title);
      }
    }),
  );
  stopProgress();
  const lastSubmitted = pool.slice(Math.max(0, next - BATCH), next);
  progress.log(`submitted ${fmt(next)} operations (${fmt(accepted)} accepted, ${refused} refused); waiting until all 4 nodes accepted them`);

  // Done when every node's own counter shows every accepted operation.
  let doneAt = 0;
  const waitEnd = Date.now() + 180_000;
  let counts = { origin: 0, peers: [0, 0, 0] };
  while (Date.now() < waitEnd) {
    counts = {
      origin: (await validatedCount(origin.apiUrl, "api", "accept")) - before.origin,
      peers: (await Promise.all(peers.map((p) => validatedCount(p.apiUrl, "gossip", "accept")))).map((n, i) => n - (before.peers[i] ?? 0)),
    };
    if (counts.origin >= accepted && counts.peers.every((n) => n >= accepted)) {
      doneAt = Date.now();
      break;
    }
    progress.update(`accepted by peers: ${counts.peers.map((n) => fmt(n)).join(" / ")} of ${fmt(accepted)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const cpuShares = await cpu.end();
  const complete = doneAt > 0;
  if (!complete) {
    const missingAtPeers = Math.max(0, ...counts.peers.map((n) => accepted - n), accepted - counts.origin);
    failures.add("NOT_ACCEPTED_EVERYWHERE", `origin ${counts.origin}, peers ${counts.peers.join("/")} of ${accepted} after 180 s`, missingAtPeers);
  }
  const rate = complete ? (accepted * 1000) / (doneAt - firstSubmit) : null;
  const offeredRate = (next * 1000) / (options.seconds * 1000);

  // Propagation from the nodes' stored records: a random sample plus the last batch submitted.
  const ids = [...submittedAt.keys()];
  const sample = new Set(lastSubmitted.map((b) => b.id));
  while (sample.size < Math.min(ids.length, SAMPLE + lastSubmitted.length)) sample.add(ids[Math.floor(Math.random() * ids.length)] as string);
  progress.log(`reading ${sample.size} sampled operations from all 4 nodes`);
  // A node counts an operation as accepted just before its synced write: re-read a missing record a few times.
  const read = async (apiUrl: string, id: string) => {
    for (let attempt = 0; ; attempt++) {
      const stored = await storedOperation(apiUrl, id);
      if (stored || attempt >= 10) return stored;
      await new Promise((r) => setTimeout(r, 500));
    }
  };
  const records = await mapLimit([...sample], 16, async (id) => ({ id, stored: await Promise.all(nodes.map((n) => read(n.apiUrl, id))) }));
  const propagation: number[] = [];
  const originAccept: number[] = [];
  const submitToAll: number[] = [];
  let missing = 0;
  for (const { id, stored } of records) {
    const [o, ...p] = stored;
    if (!o || p.some((x) => !x)) {
      missing += 1;
      propagation.push(Infinity);
      submitToAll.push(Infinity);
      continue;
    }
    const last = Math.max(...p.map((x) => (x as { receivedAtMs: number }).receivedAtMs));
    propagation.push(last - o.receivedAtMs);
    originAccept.push(o.receivedAtMs - (submittedAt.get(id) ?? o.receivedAtMs));
    submitToAll.push(Math.max(last, o.receivedAtMs) - (submittedAt.get(id) ?? o.receivedAtMs));
  }
  const prop = summarize(propagation);
  const originSummary = summarize(originAccept);
  const endToAll = summarize(submitToAll);

  const failed = failures.byCode();
  const ok = failures.total === 0;
  const rateMet = complete && meets(rate, RATE) && ok;
  const p99Met = meets(prop.p99, P99_MS) && ok;
  const perOperation = cpuPerUnit(cpuShares, accepted, "operation");
  const cpuText = cpuShares.map((s) => `${s.process} ${fmt(s.cores, 2)} cores`).join(", ");
  const cpuVerdict = cpuBottleneck(cpuShares, cpus().length, cpu.otherCores);
  const notes =
    `${fmt(accepted)} operations in batches of ${BATCH}, ${options.concurrency} batches in flight, ${options.seconds} s of submission; ` +
    (exhausted ? `the generator ran out of its ${fmt(poolSize)} pre-signed operations, so the rate is a lower bound; ` : "") +
    (complete ? "" : `NOT all accepted by every node within 180 s (origin ${counts.origin}, peers ${counts.peers.join("/")}); `) +
    `propagation sampled on ${sample.size} operations; the nodes' admission control lifted (the relay backlog is left behind by design); CPU per operation over submission until accepted by all ${nodes.length} (the origin's relay keeps working after)`;
  return {
    name: "gossip",
    rows: [
      {
        benchmark: "gossip",
        metric: "signed operations accepted (fully validated) by all 4 nodes",
        value: rate,
        unit: "ops/s",
        target: `≥ ${fmt(RATE.value)}/s`,
        met: rateMet,
        goal: RATE,
        failures: failed,
        notes,
        cpu: perOperation,
        ...(rateMet
          ? {}
          : {
              bottleneck: {
                stage: cpuVerdict.stage,
                evidence: `${cpuVerdict.evidence}; offered ${fmt(offeredRate)} ops/s; origin accepted p50 ${fmt(originSummary.p50)} ms after submission, peers p50 ${fmt(prop.p50)} ms after the origin`,
              },
            }),
      },
      {
        benchmark: "gossip",
        metric: "p99 propagation (origin accepted → last of the 3 peers accepted)",
        value: prop.p99,
        unit: "ms",
        target: `≤ ${P99_MS.value} ms`,
        met: p99Met,
        goal: P99_MS,
        failures: failed,
        notes: `p50 ${fmt(prop.p50)} ms; submission → accepted by all 4: p50 ${fmt(endToAll.p50)} ms, p99 ${fmt(endToAll.p99)} ms${missing ? `; ${missing} sampled operations missing on some node` : ""}`,
        ...(p99Met
          ? {}
          : {
              bottleneck: {
                stage: "peer validation queue under load (gossip path)",
                evidence: `propagation p50 ${fmt(prop.p50)} / p99 ${fmt(prop.p99)} ms while the origin accepted p50 ${fmt(originSummary.p50)} / p99 ${fmt(originSummary.p99)} ms after submission; CPU: ${cpuText}`,
              },
            }),
      },
    ],
    details: {
      batch: BATCH,
      concurrency: options.concurrency,
      seconds: options.seconds,
      preSigned: poolSize,
      submitted: next,
      accepted,
      refused,
      failures: failed,
      failureExamples: failures.examples,
      generatorExhausted: exhausted,
      allAcceptedEverywhere: complete,
      completionSeconds: complete ? (doneAt - firstSubmit) / 1000 : null,
      offeredPerSecond: offeredRate,
      sampled: sample.size,
      missingInSample: missing,
      stagesMs: {
        "submission → origin accepted": jsonSummary(originSummary),
        "origin accepted → last peer accepted (propagation)": jsonSummary(prop),
        "submission → accepted by all 4": jsonSummary(endToAll),
      },
      cpu: cpuShares,
      machineCores: { busy: cpu.machineCores, otherWork: cpu.otherCores },
      cpuMsPerOperation: perOperation,
    },
    durationSeconds: (performance.now() - started) / 1000,
  };
}
