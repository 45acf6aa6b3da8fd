/**
 * burst: N signed payments (pre-signed before the clock starts) submitted to one institution node's
 * API as fast as the node answers, in batches with several in flight — far more than the relay can put
 * on-chain in the same time. Counted: accepted; refused with a retryable code (admission control:
 * RELAY_BACKLOG, HTTP 503), which is the system working as designed; every other refusal or
 * unanswered batch, a failure by code. Then the chain is watched until every accepted payment is held:
 * lost = accepted but never held (after the recovery wait), executed twice = paid more than once
 * on-chain, seconds to recover = from the last answer of the burst until the last accepted payment is
 * held. During recovery one fresh payment a second probes whether new work still gets through (the
 * latency of a new payment behind the backlog). CPU per payment by role and duplicate relayed items
 * are measured over the burst and the recovery.
 */
import type { EscrowOperationInput } from "../../core/operations/index.js";
import { HoldWatcher } from "../lib/chain-watch.js";
import type { Cluster } from "../lib/cluster.js";
import { CpuMeter, cpuPerUnit, idleCores } from "../lib/cpu.js";
import { Failures, RETRYABLE_CODES, codeOfError, describeFailures } from "../lib/failures.js";
import { newSubmission, submitAll } from "../lib/submit.js";
import { nodeApi } from "../lib/node-api.js";
import { clusterPaySigner } from "../lib/ops.js";
import { Progress } from "../lib/progress.js";
import { duplicateMetric, relayedInWindow } from "../lib/relay-check.js";
import { fmt, meets, type BenchmarkResult, type Goal } from "../lib/results.js";
import { jsonSummary, summarize } from "../lib/stats.js";

const LOST: Goal = { compare: "atMost", value: 0 };
const RECOVER_SECONDS: Goal = { compare: "atMost", value: 60 };
const DUPLICATE_PERCENT: Goal = { compare: "atMost", value: 1 };
const BATCH = 100;

export interface BurstOptions {
  /** Payments in the burst. */
  payments: number;
  /** Batches in flight at once. */
  concurrency: number;
  /** Longest wait after the burst for every accepted payment to be held. */
  recoverSeconds: number;
  /** Interval of the probe payments during recovery. */
  probeEveryMs: number;
  /** Quiet seconds measured before the burst, for the processes' background CPU. */
  idleSeconds: number;
}

type Signed = { id: string; op: EscrowOperationInput };

export async function runBurst(cluster: Cluster, options: BurstOptions): Promise<BenchmarkResult> {
  const progress = new Progress("burst");
  const started = performance.now();
  const { scenario, nodes } = cluster.net;
  const origin = nodes[0];
  if (!origin) throw new Error("no institution node");
  const escrow = scenario.deployment.contracts.escrow;
  const sign = clusterPaySigner(scenario);
  const burst: Signed[] = [];
  for (let i = 0; i < options.payments; i++) {
    burst.push(sign(i));
    if (i % 5_000 === 0) progress.update(`signing: ${fmt(i)} / ${fmt(options.payments)}`);
  }
  const probes = Array.from({ length: Math.ceil((options.recoverSeconds * 1000) / options.probeEveryMs) + 1 }, (_, i) => sign(options.payments + i));
  progress.log(`signed ${fmt(burst.length)} payments; submitting them to ${origin.name} in batches of ${BATCH}, ${options.concurrency} in flight`);

  const api = nodeApi(origin.apiUrl);
  const idle = await idleCores(() => cluster.processes(), options.idleSeconds);
  const watcher = new HoldWatcher(scenario.chain.provider, escrow);
  await watcher.start();
  const metricBefore = await duplicateMetric(nodes);
  const submission = newSubmission();
  const { accepted, retryable, failures } = submission;
  const cpu = new CpuMeter(() => cluster.processes());
  await cpu.begin();

  const burstStart = Date.now();
  const stopProgress = progress.every(500, () => `${fmt(submission.submitted)} submitted, ${fmt(accepted.size)} accepted, ${fmt(retryable.total)} refused retryable, ${fmt(watcher.holds.size)} held`);
  await submitAll(api, burst, { batch: BATCH, concurrency: options.concurrency }, submission);
  const burstEnd = Date.now();
  stopProgress();
  progress.log(
    `burst of ${fmt(burst.length)} in ${fmt((burstEnd - burstStart) / 1000, 1)} s: ${fmt(accepted.size)} accepted, ${fmt(retryable.total)} refused retryable, ${describeFailures(failures.byCode())}; waiting until every accepted payment is held`,
  );

  // Recovery: watch the holds, and send one fresh payment per interval to see whether new work gets through.
  const probeSent = new Map<string, number>();
  const probeRetryable = new Failures();
  let probeIndex = 0;
  const probeTimer = setInterval(() => {
    const probe = probes[probeIndex++];
    if (!probe) return;
    const at = Date.now();
    api.submit(probe.op).then(
      (r) => {
        if (r.accepted) probeSent.set(r.id.toLowerCase(), at);
        else (RETRYABLE_CODES.has(r.problem.code) ? probeRetryable : failures).add(`${r.problem.code} (probe)`, r.problem.title);
      },
      (error: unknown) => {
        const code = codeOfError(error);
        (RETRYABLE_CODES.has(code) ? probeRetryable : failures).add(`${code} (probe)`, (error as Error).message);
      },
    );
  }, options.probeEveryMs);
  const allHeld = () => {
    for (const id of accepted) if (!watcher.holds.has(id)) return false;
    return true;
  };
  const recoverEnd = burstEnd + options.recoverSeconds * 1000;
  while (Date.now() < recoverEnd && !allHeld()) {
    progress.update(`${fmt([...accepted].filter((id) => watcher.holds.has(id)).length)} / ${fmt(accepted.size)} accepted payments held, ${fmt((Date.now() - burstEnd) / 1000, 0)} s after the burst`);
    await new Promise((r) => setTimeout(r, 250));
  }
  clearInterval(probeTimer);
  // Probes still in flight or accepted late get a short while to land; their latency is what it is.
  const probeWaitEnd = Date.now() + 10_000;
  while (Date.now() < probeWaitEnd && [...probeSent.keys()].some((id) => !watcher.holds.has(id))) await new Promise((r) => setTimeout(r, 250));
  await watcher.stop();
  const cpuShares = await cpu.end();

  const heldTimes = [...accepted].map((id) => watcher.holds.get(id));
  const lost = heldTimes.filter((t) => t === undefined).length;
  const executedTwice = watcher.executedTwice();
  const lastHold = heldTimes.reduce((last: number, t) => (t !== undefined && t > last ? t : last), burstEnd);
  const recovered = lost === 0;
  const secondsToRecover = recovered ? (lastHold - burstEnd) / 1000 : null;
  failures.add("NOT_HELD", `${lost} accepted payments not held ${options.recoverSeconds} s after the burst`, lost);
  failures.add("EXECUTED_TWICE", "a payment paid more than once on-chain", executedTwice);
  const probeLatency = summarize([...probeSent.entries()].map(([id, at]) => (watcher.holds.has(id) ? (watcher.holds.get(id) as number) - at : Infinity)));
  const held = heldTimes.length - lost + [...probeSent.keys()].filter((id) => watcher.holds.has(id)).length;
  progress.log(`reading the chain's blocks ${watcher.firstBlock}..${watcher.lastBlock} for relayed items`);
  const { duplicates, scan } = await relayedInWindow({ provider: scenario.chain.provider, escrow, nodes }, { from: watcher.firstBlock, to: watcher.lastBlock, metricBefore });
  const perPayment = cpuPerUnit(cpuShares, held, "payment", { cores: idle, windowSeconds: cpu.seconds });
  const failed = failures.byCode();
  const refusedRetryable = retryable.byCode();
  const ok = failures.total === 0;
  const burstSeconds = (burstEnd - burstStart) / 1000;
  const probeText =
    probeSent.size === 0
      ? "no probe payment was accepted during recovery"
      : `${probeSent.size} fresh payments sent one per ${fmt(options.probeEveryMs / 1000, 1)} s during recovery were held p50 ${fmt(probeLatency.p50)} / p99 ${fmt(probeLatency.p99)} ms after submission` +
        (probeRetryable.total > 0 ? ` (${probeRetryable.total} more refused retryable)` : "");
  const refusedText = retryable.total === 0 ? "none refused with a retryable code" : `${fmt(retryable.total)} refused retryable (${Object.entries(refusedRetryable).map(([c, n]) => `${fmt(n)} ${c}`).join(", ")})`;
  const notes =
    `${fmt(burst.length)} pre-signed payments to ${origin.name} in batches of ${BATCH}, ${options.concurrency} in flight, answered within ${fmt(burstSeconds, 1)} s ` +
    `(${fmt(burst.length / Math.max(burstSeconds, 0.001))}/s offered); ${fmt(accepted.size)} accepted, ${refusedText}; ${nodes.length} institution nodes, chain and gateway`;
  const lostValue = lost + executedTwice;
  const duplicatePercent = duplicates.relayed > 0 ? (100 * duplicates.duplicates) / duplicates.relayed : 0;
  const recoverMet = recovered && meets(secondsToRecover, RECOVER_SECONDS) && ok;
  return {
    name: "burst",
    rows: [
      {
        benchmark: "burst",
        metric: `${fmt(burst.length)} payments submitted as fast as the node answers: accepted`,
        value: accepted.size,
        unit: "payments",
        target: "–",
        met: undefined,
        failures: failed,
        notes,
      },
      {
        benchmark: "burst",
        metric: "accepted payments lost (never executed) or executed twice",
        value: lostValue,
        unit: "payments",
        target: "= 0",
        met: meets(lostValue, LOST) && ok,
        goal: LOST,
        failures: failed,
        notes: `${fmt(lost)} lost (not held ${options.recoverSeconds} s after the burst), ${fmt(executedTwice)} executed twice, of ${fmt(accepted.size)} accepted`,
      },
      {
        benchmark: "burst",
        metric: "seconds from the burst's end until every accepted payment is executed",
        value: secondsToRecover,
        unit: "s",
        target: `≤ ${RECOVER_SECONDS.value} s`,
        met: recoverMet,
        goal: RECOVER_SECONDS,
        failures: failed,
        notes: `${recovered ? "" : `NOT every accepted payment was held within ${options.recoverSeconds} s; `}${probeText}; CPU per payment over the burst and the recovery (${fmt(cpu.seconds, 1)} s) for the ${fmt(held)} payments held`,
        cpu: perPayment,
        duplicates,
        ...(recoverMet
          ? {}
          : {
              bottleneck: {
                stage: "relay and chain behind the backlog",
                evidence: `${fmt(duplicates.duplicates)} duplicate relayed items of ${fmt(duplicates.relayed)}; ${probeText}; CPU: ${cpuShares.map((s) => `${s.process} ${fmt(s.cores, 2)} cores`).join(", ")}`,
              },
            }),
      },
      {
        benchmark: "burst",
        metric: "duplicate relayed items (share of escrow items sent on-chain)",
        value: duplicatePercent,
        unit: "%",
        target: `≤ ${DUPLICATE_PERCENT.value}%`,
        met: meets(duplicatePercent, DUPLICATE_PERCENT) && ok,
        goal: DUPLICATE_PERCENT,
        failures: failed,
        notes: `${fmt(duplicates.duplicates)} of ${fmt(duplicates.relayed)} items in ${fmt(scan.relayed.transactions)} escrow transactions over the burst and the recovery, from the blocks' calldata (each costs gas and chain time; only the first relay of an operation can execute); nodes' ${duplicates.metric === null ? "settlenet_relay_duplicate_items_total n/a (not exported)" : `settlenet_relay_duplicate_items_total ${fmt(duplicates.metric)}`}`,
      },
    ],
    details: {
      payments: burst.length,
      duplicatePercent,
      batch: BATCH,
      concurrency: options.concurrency,
      burstSeconds,
      accepted: accepted.size,
      refusedRetryable,
      failures: failed,
      failureExamples: failures.examples,
      lost,
      executedTwice,
      secondsToRecover,
      recoverSeconds: options.recoverSeconds,
      probes: { accepted: probeSent.size, refusedRetryable: probeRetryable.byCode(), latencyMs: jsonSummary(probeLatency) },
      chain: { blocks: scan.blocks.length, relayed: scan.relayed },
      duplicates,
      cpu: cpuShares,
      machineCores: { busy: cpu.machineCores, otherWork: cpu.otherCores },
      cpuWindowSeconds: cpu.seconds,
      cpuMsPerPayment: perPayment,
      idleCores: idle,
    },
    durationSeconds: (performance.now() - started) / 1000,
  };
}
