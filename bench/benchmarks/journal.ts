/**
 * journal: what a restart of the journaled local chain (`npm start`'s chain) costs. A network whose
 * chain journals its blocks (one institution node, no gateway) puts N signed payments on-chain in
 * relayed batches; then the network stops and the chain process is started again on its journal,
 * which it replays block by block (EDR can neither dump nor load its state, see
 * scripts/lib/launch/chain-journal.ts). Measured from /proc: the replaying process's CPU and peak
 * resident memory, against a chain process started with no journal (Hardhat and EDR loading) just
 * before and again just after (their mean: a start alone is cheaper or dearer with what the machine
 * has cached), so the difference is the replay's; the notes say how far apart the two bare starts were,
 * the noise of the figure. The replayed head block must have the hash the chain had before.
 */
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";

import { startChainProcess, type ChainProcess } from "../../scripts/lib/launch/chain.js";
import { HoldWatcher } from "../lib/chain-watch.js";
import type { Cluster } from "../lib/cluster.js";
import { cpuSecondsOf } from "../lib/cpu.js";
import { describeFailures } from "../lib/failures.js";
import { nodeApi } from "../lib/node-api.js";
import { clusterPaySigner } from "../lib/ops.js";
import { Progress } from "../lib/progress.js";
import { fmt, type BenchmarkResult } from "../lib/results.js";
import { newSubmission, submitAll } from "../lib/submit.js";

export interface JournalOptions {
  payments: number;
  /** The folder the cluster's chain journals to (ClusterOptions.chainDataDir). */
  chainDataDir: string;
  /** Longest wait for the payments to be held. */
  holdSeconds: number;
}

/** Peak resident memory of `pid` in MiB (VmHWM), undefined once it is gone. */
async function peakRssMiB(pid: number | undefined): Promise<number | undefined> {
  if (pid === undefined) return undefined;
  try {
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(await readFile(`/proc/${pid}/status`, "utf8"));
    return match ? Number(match[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

interface Start {
  wallSeconds: number;
  cpuSeconds: number | undefined;
  peakRssMiB: number | undefined;
  replayedBlocks: number;
  chain: ChainProcess;
}

async function startMeasured(logFile: string, dataDir?: string): Promise<Start> {
  const t = performance.now();
  const chain = await startChainProcess({ logFile, readyTimeoutMs: 3_600_000, stopTimeoutMs: 10_000, ...(dataDir ? { dataDir } : {}) });
  const wallSeconds = (performance.now() - t) / 1000;
  const pid = chain.part.process.pid;
  return { wallSeconds, cpuSeconds: pid === undefined ? undefined : await cpuSecondsOf(pid), peakRssMiB: await peakRssMiB(pid), replayedBlocks: chain.replayedBlocks, chain };
}

export async function runJournal(cluster: Cluster, options: JournalOptions): Promise<BenchmarkResult> {
  const progress = new Progress("journal");
  const started = performance.now();
  const { scenario, nodes } = cluster.net;
  const origin = nodes[0];
  if (!origin) throw new Error("no institution node");
  const escrow = scenario.deployment.contracts.escrow;
  const sign = clusterPaySigner(scenario);
  const ops = Array.from({ length: options.payments }, (_, i) => sign(i));
  const watcher = new HoldWatcher(scenario.chain.provider, escrow);
  await watcher.start();
  progress.log(`putting ${fmt(ops.length)} payments on the journaled chain through ${origin.name}`);
  // Submitted as a client would: what the node refuses with a retryable code (admission control) goes
  // again once what it accepted is held; only what is refused otherwise, or never held, fails.
  const submission = newSubmission();
  const failures = submission.failures;
  const holdEnd = Date.now() + options.holdSeconds * 1000;
  const unheld = () => [...submission.accepted].filter((id) => !watcher.holds.has(id)).length;
  let pending = ops;
  let rounds = 0;
  while (pending.length > 0) {
    rounds += 1;
    const round = await submitAll(nodeApi(origin.apiUrl), pending, { batch: 100, concurrency: 4 });
    for (const id of round.accepted) submission.accepted.add(id);
    failures.merge(round.failures);
    submission.retryable.merge(round.retryable);
    pending = pending.filter((op) => !round.accepted.has(op.id.toLowerCase()));
    while (Date.now() < holdEnd && unheld() > 0) {
      progress.update(`${fmt(submission.accepted.size - unheld())} / ${fmt(submission.accepted.size)} held${pending.length > 0 ? `, ${fmt(pending.length)} to submit again` : ""}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    if (round.retryable.total === 0 || round.failures.total > 0 || Date.now() >= holdEnd) break;
    // Nothing taken this round: give the node a moment before asking again.
    if (round.accepted.size === 0) await new Promise((r) => setTimeout(r, 1_000));
  }
  await watcher.stop();
  if (pending.length > 0 && failures.total === 0) failures.add("NOT_ACCEPTED", "still refused with a retryable code when the wait ended", pending.length);
  failures.add("NOT_HELD", "accepted but not held before the restart", unheld());
  const provider = scenario.chain.provider;
  const height = await provider.getBlockNumber();
  const headHash = (await provider.getBlock(height))?.hash ?? "";
  const journalFile = join(options.chainDataDir, "journal.jsonl");
  progress.log(`stopping the network at block ${height}; starting the chain again on its journal`);
  await cluster.stop();
  const journalBytes = (await stat(journalFile)).size;

  // A chain with no journal before and after: what starting Hardhat and EDR costs by itself, and how
  // much that varies from one start to the next.
  const bare = async (n: number) => {
    const fresh = await startMeasured(join(options.chainDataDir, `fresh-${n}.log`));
    await fresh.chain.close();
    return fresh;
  };
  const freshBefore = await bare(1);
  const replay = await startMeasured(join(options.chainDataDir, "replay.log"), options.chainDataDir);
  let replayedHash: string;
  try {
    replayedHash = (await replay.chain.provider.getBlock(height))?.hash ?? "";
  } finally {
    await replay.chain.close();
  }
  const freshAfter = await bare(2);
  const fresh = {
    wallSeconds: (freshBefore.wallSeconds + freshAfter.wallSeconds) / 2,
    cpuSeconds: freshBefore.cpuSeconds !== undefined && freshAfter.cpuSeconds !== undefined ? (freshBefore.cpuSeconds + freshAfter.cpuSeconds) / 2 : undefined,
    peakRssMiB: Math.max(freshBefore.peakRssMiB ?? 0, freshAfter.peakRssMiB ?? 0) || undefined,
  };
  const cpuSpread = freshBefore.cpuSeconds !== undefined && freshAfter.cpuSeconds !== undefined ? Math.abs(freshBefore.cpuSeconds - freshAfter.cpuSeconds) : undefined;
  if (replayedHash !== headHash) failures.add("CHAIN_REPLAY_DIVERGED", `block ${height}: ${replayedHash} after the replay, ${headHash} before`);
  if (replay.replayedBlocks < height) failures.add("NOT_REPLAYED", `${replay.replayedBlocks} of ${height} blocks replayed`, height - replay.replayedBlocks);

  const held = watcher.holds.size;
  const cpuSeconds = replay.cpuSeconds !== undefined && fresh.cpuSeconds !== undefined ? replay.cpuSeconds - fresh.cpuSeconds : null;
  const wallSeconds = replay.wallSeconds - fresh.wallSeconds;
  const perPayment = cpuSeconds === null || held === 0 ? null : (cpuSeconds * 1000) / held;
  const cpuNote =
    cpuSeconds === null || cpuSpread === undefined
      ? "CPU n/a"
      : `${fmt(cpuSeconds, 2)} s of CPU beyond the mean of two bare starts ${fmt(cpuSpread, 2)} s apart${cpuSeconds > cpuSpread ? "" : ", within their spread: more payments would measure it"}`;
  const failed = failures.byCode();
  const mib = (v: number | undefined) => (v === undefined ? "n/a" : `${fmt(v, 0)} MiB`);
  progress.log(`replayed ${replay.replayedBlocks} blocks in ${fmt(wallSeconds, 1)} s (${cpuNote}); ${describeFailures(failed)}`);
  return {
    name: "journal",
    rows: [
      {
        benchmark: "journal",
        metric: "chain restart: CPU to replay the journal, per payment it holds",
        value: perPayment,
        unit: "ms",
        target: "–",
        met: undefined,
        failures: failed,
        notes:
          `${fmt(replay.replayedBlocks)} blocks with ${fmt(held)} payments (${fmt(journalBytes / 2 ** 20, 1)} MiB of journal) replayed in ${fmt(wallSeconds, 1)} s beyond a bare chain start ` +
          `(${cpuNote}); peak resident memory ${mib(replay.peakRssMiB)} replaying vs ${mib(fresh.peakRssMiB)} for a chain with no journal ` +
          `(EDR keeps every block and the state in memory; the journal itself is streamed); head block hash ${replayedHash === headHash ? "identical" : "DIFFERENT"} after the replay; the payments went to the node in ${fmt(rounds)} round${rounds === 1 ? "" : "s"}, ${fmt(submission.retryable.total)} refused with a retryable code (admission control) and submitted again once the accepted ones were held`,
      },
    ],
    details: {
      payments: ops.length,
      accepted: submission.accepted.size,
      refusedRetryable: submission.retryable.byCode(),
      rounds,
      held,
      failures: failed,
      failureExamples: failures.examples,
      height,
      journalBytes,
      fresh: [freshBefore, freshAfter].map((f) => ({ wallSeconds: f.wallSeconds, cpuSeconds: f.cpuSeconds, peakRssMiB: f.peakRssMiB })),
      freshCpuSpreadSeconds: cpuSpread,
      replay: { wallSeconds: replay.wallSeconds, cpuSeconds: replay.cpuSeconds, peakRssMiB: replay.peakRssMiB, replayedBlocks: replay.replayedBlocks },
      replayCpuSeconds: cpuSeconds,
      replayWallSeconds: wallSeconds,
    },
    durationSeconds: (performance.now() - started) / 1000,
  };
}
