/**
 * gossip: signed pay operations submitted to one institution node's API in batches of 100 (what a busy
 * gateway or a batching client sends), gossiped to the other three and fully validated (schema,
 * registry, nonce, risk, signature) and stored by all four. Throughput = operations accepted by all
 * four nodes per second, from the first submission until the nodes' own validation counters (GET
 * /metrics) show every operation accepted everywhere. Propagation per operation = the last peer's
 * `receivedAtMs` minus the origin's, read from the nodes' stored records for a random sample (same
 * machine, same clock). Operations are signed before the clock starts.
 */
import { cpus } from "node:os";

import type { BatchAnswer } from "../../core/api/operations.js";
import type { EscrowOperationInput } from "../../core/operations/index.js";
import { CpuMeter, cpuBottleneck } from "../lib/cpu.js";
import type { Cluster } from "../lib/cluster.js";
import { mapLimit, nodeApi, storedOperation, validatedCount } from "../lib/node-api.js";
import { signedPay } from "../lib/ops.js";
import { Progress } from "../lib/progress.js";
import { atLeast, atMost, fmt, type BenchmarkResult } from "../lib/results.js";
import { jsonSummary, summarize } from "../lib/stats.js";

const TARGET_RATE = 2_000;
const TARGET_P99_MS = 250;
const BATCH = 100;
const SAMPLE = 300;

export interface GossipOptions {
  seconds: number;
  /** Batches in flight at once. */
  concurrency: number;
  /** Pre-signed operations per second of the run (the most the generator can offer). */
  poolRate: number;
  /** Longest wait for the origin to put the run's operations on-chain (so the next benchmark starts quiet). */
  drainSeconds: number;
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
  const refusals: string[] = [];
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
        let body: Partial<BatchAnswer> = {};
        try {
          body = await originApi.submitBatch(batch.map((b) => b.op));
        } catch (error) {
          // A failed submission is a measured failure of the node, not of the harness: counted, not fatal.
          if (refusals.length < 10) refusals.push(`request failed: ${(error as Error).message}`);
        }
        accepted += body.accepted ?? 0;
        refused += body.refused ?? batch.length;
        for (const r of body.results ?? []) if (r.status !== "accepted" && refusals.length < 10) refusals.push(r.code ?? "unknown");
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
  // The origin relays every accepted operation on-chain; the next benchmark must not start on its backlog.
  progress.log("waiting for the origin node to relay the run's operations on-chain");
  const drainEnd = Date.now() + options.drainSeconds * 1000;
  let executedAt: number | undefined;
  const lastIds = lastSubmitted.map((b) => b.id);
  while (Date.now() < drainEnd) {
    const statuses = await mapLimit(lastIds, 16, async (id) => (await storedOperation(origin.apiUrl, id))?.status);
    const done = statuses.filter((s) => s === "executed" || s === "failed").length;
    if (done === lastIds.length) {
      executedAt = Date.now();
      break;
    }
    progress.update(`relay backlog: ${done} / ${lastIds.length} of the last batch executed`);
    await new Promise((r) => setTimeout(r, 500));
  }
  const prop = summarize(propagation);
  const originSummary = summarize(originAccept);
  const endToAll = summarize(submitToAll);

  // CPU per operation of each node over the window (validation, storage and gossip; the origin also relays,
  // every node also indexes what the chain executed meanwhile).
  const cpuOf = (name: string) => cpuShares.find((share) => share.process === `node ${name}`)?.cpuSeconds;
  const perOperation = (seconds: number | undefined) => (seconds === undefined || accepted === 0 ? null : (seconds * 1e6) / accepted);
  const originCpu = perOperation(cpuOf(origin.name));
  const peerCpus = peers.map((p) => perOperation(cpuOf(p.name)));
  const peerCpu = peerCpus.every((v) => v !== null) ? (peerCpus as number[]).reduce((a, b) => a + b, 0) / peerCpus.length : null;

  const rateMet = complete && atLeast(rate, TARGET_RATE);
  const p99Met = atMost(prop.p99, TARGET_P99_MS);
  const cpuText = cpuShares.map((s) => `${s.process} ${fmt(s.cores, 2)} cores`).join(", ");
  const cpuVerdict = cpuBottleneck(cpuShares, cpus().length);
  const notes =
    `${fmt(accepted)} operations in batches of ${BATCH}, ${options.concurrency} batches in flight, ${options.seconds} s of submission; ` +
    (exhausted ? `the generator ran out of its ${fmt(poolSize)} pre-signed operations, so the rate is a lower bound; ` : "") +
    (complete ? "" : `NOT all accepted by every node within 180 s (origin ${counts.origin}, peers ${counts.peers.join("/")}); `) +
    `propagation sampled on ${sample.size} operations` +
    (executedAt === undefined ? `; the origin had not relayed them all on-chain ${options.drainSeconds} s later, so the next benchmark started on that backlog` : "");
  return {
    name: "gossip",
    rows: [
      {
        benchmark: "gossip",
        metric: "signed operations accepted (fully validated) by all 4 nodes",
        value: rate,
        unit: "ops/s",
        target: `≥ ${fmt(TARGET_RATE)}/s`,
        met: rateMet,
        notes,
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
        target: `≤ ${TARGET_P99_MS} ms`,
        met: p99Met,
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
      {
        benchmark: "gossip",
        metric: "CPU per operation on the origin node (API, validation, storage, gossip; relay and indexing meanwhile)",
        value: originCpu,
        unit: "µs",
        target: "",
        met: undefined,
        notes: `/proc CPU time of the process from the first submission until all 4 nodes accepted everything, over ${fmt(accepted)} operations`,
      },
      {
        benchmark: "gossip",
        metric: "CPU per operation on a peer node, mean of 3 (gossip, validation, storage; indexing meanwhile)",
        value: peerCpu,
        unit: "µs",
        target: "",
        met: undefined,
        notes: `each peer: ${peerCpus.map((v) => (v === null ? "n/a" : `${fmt(v)} µs`)).join(", ")}`,
      },
    ],
    details: {
      batch: BATCH,
      cpuMicrosecondsPerOperation: { origin: originCpu, peers: peerCpus },
      concurrency: options.concurrency,
      seconds: options.seconds,
      preSigned: poolSize,
      submitted: next,
      accepted,
      refused,
      refusals,
      generatorExhausted: exhausted,
      allAcceptedEverywhere: complete,
      completionSeconds: complete ? (doneAt - firstSubmit) / 1000 : null,
      // How fast the origin got the run's operations executed on-chain (relay + chain), for the record.
      relayedOnChainSeconds: executedAt === undefined ? null : (executedAt - firstSubmit) / 1000,
      relayedOnChainPerSecond: executedAt === undefined ? null : (accepted * 1000) / (executedAt - firstSubmit),
      offeredPerSecond: offeredRate,
      sampled: sample.size,
      missingInSample: missing,
      stagesMs: {
        "submission → origin accepted": jsonSummary(originSummary),
        "origin accepted → last peer accepted (propagation)": jsonSummary(prop),
        "submission → accepted by all 4": jsonSummary(endToAll),
      },
      cpu: cpuShares,
    },
    durationSeconds: (performance.now() - started) / 1000,
  };
}
