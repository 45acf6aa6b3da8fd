/**
 * `npm run bench [-- options]`: runs the benchmarks on this machine against real processes on
 * 127.0.0.1, shows progress on stderr, prints the table on stdout and writes the results as JSON
 * (bench/results/<timestamp>.json unless --out is given). `npm run bench:doc` turns a results file
 * into docs/benchmarks.md. Each network benchmark starts a network of its own for each of its runs.
 *
 *   --quick                 short run: shorter loads, one run per network benchmark, smaller data sets
 *   --only=a,b              run only these: storage, audit, indexer, verification, gateway, gossip, relay, e2e, e2e-anvil, single-node, burst, journal, chain, gas
 *   --runs=N                runs of each network benchmark, each on a fresh network; rows show the median (default 3, quick 1)
 *   --seconds=N             load duration of gateway, gossip, e2e, e2e-anvil and single-node (default 30, 30, 60, 60, 60; quick 10, 8, 15, 15, 15)
 *   --idle-seconds=N        quiet seconds before the e2e, e2e-anvil and single-node loads, for the network's background CPU (default 10; quick 3)
 *   --micro-seconds=N       duration of each in-process rate (verification, storage; default 5, quick 2)
 *   --concurrency=N         concurrent clients of gateway, e2e, e2e-anvil and single-node (default 64)
 *   --burst=N               payments signed for the burst benchmark's pool (default 80,000; quick 40,000)
 *   --journal-payments=N    payments on the journaled chain before its restart is measured (default 5,000; quick 1,000)
 *   --relay-payments=N      backlog of pays relayed by one node (default 10,000; quick 3,000)
 *   --chain-payments=N      pays relayed straight to the chain, no nodes (default 10,000; quick 3,000)
 *   --audit-payments=N      indexed payments for audit (default 1,000,000; quick 100,000)
 *   --audit-queries=N       audit queries timed (default 2,000; quick 500)
 *   --indexer-payments=N    pays relayed and indexed for indexer (default 4,000; quick 1,000)
 *   --data-dir=DIR          where the databases go (default: the OS temp folder if it is on a disk, else
 *                           .settlenet/bench; also SETTLENET_BENCH_DIR)
 *   --out=FILE              results file
 *
 * SETTLENET_BENCH_PROFILE_DIR=DIR: the gateway writes a V8 CPU profile there when it stops.
 */
import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { loadavg } from "node:os";
import { inspect } from "node:util";
import { dirname, join, relative, resolve } from "node:path";
import { parseArgs } from "node:util";

import { runAudit } from "./benchmarks/audit.js";
import { runBurst } from "./benchmarks/burst.js";
import { runChain } from "./benchmarks/chain.js";
import { runEndToEnd } from "./benchmarks/e2e.js";
import { runGas } from "./benchmarks/gas.js";
import { runGateway } from "./benchmarks/gateway.js";
import { runGossip } from "./benchmarks/gossip.js";
import { runIndexer } from "./benchmarks/indexer.js";
import { runJournal } from "./benchmarks/journal.js";
import { runRelay } from "./benchmarks/relay.js";
import { runStorage } from "./benchmarks/storage.js";
import { runVerification } from "./benchmarks/verification.js";
import { startCluster, type Cluster, type ClusterOptions } from "./lib/cluster.js";
import { chooseDataRoot } from "./lib/data-dir.js";
import { machineInfo } from "./lib/machine.js";
import { projectRoot } from "./lib/paths.js";
import { consoleTable } from "./lib/render.js";
import { combineRuns } from "./lib/repeat.js";
import type { BenchmarkResult, RunResults } from "./lib/results.js";

const ALL = ["storage", "audit", "indexer", "verification", "gateway", "gossip", "relay", "e2e", "e2e-anvil", "single-node", "burst", "journal", "chain", "gas"] as const;
type Name = (typeof ALL)[number];

const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    only: { type: "string" },
    runs: { type: "string" },
    seconds: { type: "string" },
    "idle-seconds": { type: "string" },
    "micro-seconds": { type: "string" },
    concurrency: { type: "string" },
    burst: { type: "string" },
    "journal-payments": { type: "string" },
    "relay-payments": { type: "string" },
    "chain-payments": { type: "string" },
    "audit-payments": { type: "string" },
    "audit-queries": { type: "string" },
    "data-dir": { type: "string" },
    "indexer-payments": { type: "string" },
    out: { type: "string" },
    "node-config": { type: "string" },
  },
  strict: true,
});

function positive(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, got ${raw}`);
  return n;
}

const quick = values.quick === true;
const only = values.only === undefined ? [...ALL] : values.only.split(",").map((s) => s.trim());
for (const name of only) if (!(ALL as readonly string[]).includes(name)) throw new Error(`--only: unknown benchmark ${name} (known: ${ALL.join(", ")})`);
const seconds = values.seconds === undefined ? undefined : positive("seconds", values.seconds, 1);
const dataRoot = chooseDataRoot(values["data-dir"]);
const options = {
  quick,
  only,
  runs: Math.floor(positive("runs", values.runs, quick ? 1 : 3)),
  gatewaySeconds: seconds ?? (quick ? 10 : 30),
  gossipSeconds: seconds ?? (quick ? 8 : 30),
  e2eSeconds: seconds ?? (quick ? 15 : 60),
  e2eDrainSeconds: quick ? 60 : 120,
  idleSeconds: positive("idle-seconds", values["idle-seconds"], quick ? 3 : 10),
  microSeconds: positive("micro-seconds", values["micro-seconds"], quick ? 2 : 5),
  concurrency: Math.floor(positive("concurrency", values.concurrency, 64)),
  burstPayments: Math.floor(positive("burst", values.burst, quick ? 40_000 : 80_000)),
  burstBaselineSeconds: quick ? 6 : 10,
  burstSeconds: quick ? 10 : 30,
  burstRecoverSeconds: 60,
  journalPayments: Math.floor(positive("journal-payments", values["journal-payments"], quick ? 1_000 : 5_000)),
  relayPayments: Math.floor(positive("relay-payments", values["relay-payments"], quick ? 3_000 : 10_000)),
  chainPayments: Math.floor(positive("chain-payments", values["chain-payments"], quick ? 3_000 : 10_000)),
  auditPayments: Math.floor(positive("audit-payments", values["audit-payments"], quick ? 100_000 : 1_000_000)),
  auditQueries: Math.floor(positive("audit-queries", values["audit-queries"], quick ? 500 : 2_000)),
  dataDir: dataRoot.path,
  indexerPayments: Math.floor(positive("indexer-payments", values["indexer-payments"], quick ? 1_000 : 4_000)),
};
/** Merged into every network benchmark's node configuration (A/B runs of one setting; the results record the command). */
const nodeConfigOverride = values["node-config"] === undefined ? undefined : (JSON.parse(values["node-config"]) as NonNullable<ClusterOptions["nodeConfig"]>);
const startedAt = new Date();
const outFile = resolve(values.out ?? join(projectRoot, "bench", "results", `${startedAt.toISOString().replaceAll(":", "-")}.json`));
const wants = (name: Name) => only.includes(name);

function commit(): RunResults["commit"] {
  try {
    const sha = execFileSync("git", ["rev-parse", "HEAD"], { cwd: projectRoot, encoding: "utf8" }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain"], { cwd: projectRoot, encoding: "utf8" }).trim() !== "";
    return { sha, dirty };
  } catch {
    return undefined;
  }
}

// Taken before anything runs: the commit (and the state of the working tree) is what the run measures.
const measured = commit();
const machine = machineInfo();
const benchmarks: BenchmarkResult[] = [];
const load = () => loadavg().map((v) => Math.round(v * 100) / 100);
const failedRow = (name: string, error: unknown, t: number, loadAverageAtStart: number[]): BenchmarkResult => ({
  name,
  rows: [],
  details: {},
  error: (error as Error).message,
  durationSeconds: (performance.now() - t) / 1000,
  loadAverageAtStart,
});

/** Runs one benchmark; a failure becomes a failed row, never stops the others. */
async function step(name: string, fn: () => Promise<BenchmarkResult>): Promise<void> {
  const t = performance.now();
  const loadAverageAtStart = load();
  process.stderr.write(`\n== ${name} (load ${loadAverageAtStart.join(" ")})\n`);
  try {
    benchmarks.push({ ...(await fn()), loadAverageAtStart });
  } catch (error) {
    process.stderr.write(`${name} failed: ${(error as Error).stack ?? String(error)}${(error as Error).cause ? `\ncaused by: ${inspect((error as Error).cause, { depth: 4 })}` : ""}\n`);
    benchmarks.push(failedRow(name, error, t, loadAverageAtStart));
  }
}

let running: Cluster | undefined;
process.once("SIGINT", () => {
  process.stderr.write("\ninterrupted: stopping the network\n");
  void (running?.stop() ?? Promise.resolve()).finally(() => process.exit(130));
});

/**
 * Runs a network benchmark `runs` times, each on a network started for it (so no run inherits another
 * benchmark's relay backlog, and the network is stopped right after), and combines the runs (medians).
 */
async function network(name: string, cluster: Partial<ClusterOptions>, fn: (c: Cluster) => Promise<BenchmarkResult>, runs = options.runs): Promise<void> {
  const results: BenchmarkResult[] = [];
  for (let run = 1; run <= runs; run++) {
    const t = performance.now();
    const loadAverageAtStart = load();
    const institutions = cluster.institutions ?? 4;
    process.stderr.write(
      `\n== ${name}${runs > 1 ? ` (run ${run} of ${runs})` : ""}: a fresh network, chain + ${institutions} institution node${institutions === 1 ? "" : "s"}${cluster.gateway === false ? "" : " + gateway"} (load ${loadAverageAtStart.join(" ")})\n`,
    );
    try {
      const nodeConfig = nodeConfigOverride || cluster.nodeConfig ? { ...nodeConfigOverride, ...cluster.nodeConfig } : undefined;
      running = await startCluster({ merchants: 2, payers: 16, dataRoot: dataRoot.path, log: (m) => process.stderr.write(`${m}\n`), ...cluster, ...(nodeConfig ? { nodeConfig } : {}) });
    } catch (error) {
      process.stderr.write(`the network did not start: ${(error as Error).stack ?? String(error)}\n`);
      results.push(failedRow(name, new Error(`network did not start: ${(error as Error).message}`), t, loadAverageAtStart));
      continue;
    }
    try {
      results.push({ ...(await fn(running)), loadAverageAtStart });
    } catch (error) {
      process.stderr.write(`${name} failed: ${(error as Error).stack ?? String(error)}\n`);
      results.push(failedRow(name, error, t, loadAverageAtStart));
    } finally {
      process.stderr.write("stopping the network\n");
      await running.stop().catch((error: unknown) => process.stderr.write(`stopping the network failed: ${(error as Error).message}\n`));
      running = undefined;
    }
  }
  benchmarks.push(combineRuns(name, results));
}

process.stderr.write(
  `settlenet benchmarks${quick ? " (quick)" : ""} on ${machine.cpuModel}, ${machine.cores} cores, load ${machine.loadAverage.join(" ")}; ` +
    `databases in ${dataRoot.path} (${dataRoot.filesystem})\n`,
);
if (dataRoot.inMemory) process.stderr.write(`WARNING: ${dataRoot.path} is on ${dataRoot.filesystem} (memory): durable-write figures will overstate a disk\n`);
if (wants("storage")) await step("storage", () => runStorage({ seconds: options.microSeconds, dataRoot: dataRoot.path }));
if (wants("audit")) await step("audit", () => runAudit({ payments: options.auditPayments, queries: options.auditQueries, dataRoot: dataRoot.path }));
if (wants("indexer")) await step("indexer", () => runIndexer({ payments: options.indexerPayments, batch: 100, dataRoot: dataRoot.path }));
// In-process rates: the network only provides the registry the validation reads, so one run on a small one.
if (wants("verification")) await network("verification", { institutions: 1, gateway: false }, (c) => runVerification(c, { seconds: options.microSeconds, dataRoot: dataRoot.path }), 1);
if (wants("gateway")) await network("gateway", {}, (c) => runGateway(c, { seconds: options.gatewaySeconds, concurrency: options.concurrency }));
// The gossip benchmark offers more than the relay can put on-chain and leaves the backlog behind by design:
// admission control (which refuses API work while the relay lags) would measure the relay, not gossip.
const GOSSIP_ADMISSION = { relay: { maxLagMs: 3_600_000, maxQueueGas: Number.MAX_SAFE_INTEGER } };
if (wants("gossip")) await network("gossip", { gateway: false, nodeConfig: GOSSIP_ADMISSION }, (c) => runGossip(c, { seconds: options.gossipSeconds, concurrency: 4, poolRate: 3_000 }));
if (wants("relay")) await network("relay", { gateway: false }, (c) => runRelay(c, { payments: options.relayPayments, drainSeconds: quick ? 120 : 300 }));
if (wants("e2e"))
  await network("end-to-end", {}, (c) => runEndToEnd(c, { name: "end-to-end", seconds: options.e2eSeconds, concurrency: options.concurrency, drainSeconds: options.e2eDrainSeconds, idleSeconds: options.idleSeconds }));
// The same on Foundry's anvil instead of EDR: the chain's share of the CPU depends on the EVM.
if (wants("e2e-anvil"))
  await network("end-to-end on anvil", { chain: "anvil" }, (c) =>
    runEndToEnd(c, { name: "end-to-end on anvil", seconds: options.e2eSeconds, concurrency: options.concurrency, drainSeconds: options.e2eDrainSeconds, idleSeconds: options.idleSeconds }),
  );
if (wants("single-node"))
  await network("single node", { institutions: 1 }, (c) => runEndToEnd(c, { name: "single node", seconds: options.e2eSeconds, concurrency: options.concurrency, drainSeconds: options.e2eDrainSeconds, idleSeconds: options.idleSeconds }));
if (wants("burst"))
  await network("burst", {}, (c) =>
    runBurst(c, {
      baselineSeconds: options.burstBaselineSeconds,
      burstSeconds: options.burstSeconds,
      factor: 10,
      concurrency: 8,
      maxInFlight: 64,
      recoverSeconds: options.burstRecoverSeconds,
      fullRateShare: 0.9,
      rateWindowSeconds: 5,
      payments: options.burstPayments,
      idleSeconds: options.idleSeconds,
    }),
  );
if (wants("journal")) {
  const chainDataDir = await mkdtemp(join(dataRoot.path, "settlenet-bench-journal-"));
  try {
    await network("journal", { institutions: 1, gateway: false, chainDataDir }, (c) => runJournal(c, { payments: options.journalPayments, chainDataDir, holdSeconds: 300 }), 1);
  } finally {
    await rm(chainDataDir, { recursive: true, force: true });
  }
}
if (wants("chain")) await step("chain", () => runChain({ payments: options.chainPayments, batch: 100, inFlight: 4, dataRoot: dataRoot.path }));
if (wants("gas")) await step("gas", () => runGas());

const results: RunResults = {
  startedAt: startedAt.toISOString(),
  finishedAt: new Date().toISOString(),
  command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`,
  quick,
  options,
  machine,
  loadAverageAtEnd: loadavg().map((v) => Math.round(v * 100) / 100),
  commit: measured,
  dataRoot,
  benchmarks,
};
await mkdir(dirname(outFile), { recursive: true });
await writeFile(outFile, `${JSON.stringify(results, null, 2)}\n`);
process.stdout.write(`\n${consoleTable(results)}\n\nresults: ${relative(process.cwd(), outFile)}\n`);
