/**
 * `npm run bench [-- options]`: runs the benchmarks of issue 7 on this machine against real processes
 * on 127.0.0.1, shows progress on stderr, prints the table on stdout and writes the results as JSON
 * (bench/results/<timestamp>.json unless --out is given). `npm run bench:doc` turns a results file
 * into docs/benchmarks.md.
 *
 *   --quick                 short run (under 5 minutes): shorter loads, 100,000 indexed payments for audit
 *   --only=a,b              run only these: storage, audit, verification, gateway, gossip, relay, e2e, gas
 *   --seconds=N             load duration of gateway, gossip and e2e (default 30, 30, 60; quick 10, 8, 15)
 *   --micro-seconds=N       duration of each in-process rate (verification, storage; default 5, quick 2)
 *   --concurrency=N         concurrent clients of gateway and e2e (default 64)
 *   --relay-payments=N      backlog of pays relayed by one node (default 10,000; quick 3,000)
 *   --audit-payments=N      indexed payments for audit (default 1,000,000; quick 100,000)
 *   --audit-queries=N       audit queries timed (default 2,000; quick 500)
 *   --out=FILE              results file
 */
import { execFileSync } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { loadavg } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { parseArgs } from "node:util";

import { runAudit } from "./benchmarks/audit.js";
import { runEndToEnd } from "./benchmarks/e2e.js";
import { runGas } from "./benchmarks/gas.js";
import { runGateway } from "./benchmarks/gateway.js";
import { runGossip } from "./benchmarks/gossip.js";
import { runRelay } from "./benchmarks/relay.js";
import { runStorage } from "./benchmarks/storage.js";
import { runVerification } from "./benchmarks/verification.js";
import { startCluster, type Cluster } from "./lib/cluster.js";
import { machineInfo } from "./lib/machine.js";
import { projectRoot } from "./lib/paths.js";
import { consoleTable } from "./lib/render.js";
import type { BenchmarkResult, RunResults } from "./lib/results.js";

const ALL = ["storage", "audit", "verification", "gateway", "gossip", "relay", "e2e", "gas"] as const;
type Name = (typeof ALL)[number];

const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    only: { type: "string" },
    seconds: { type: "string" },
    "micro-seconds": { type: "string" },
    concurrency: { type: "string" },
    "relay-payments": { type: "string" },
    "audit-payments": { type: "string" },
    "audit-queries": { type: "string" },
    out: { type: "string" },
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
const options = {
  quick,
  only,
  gatewaySeconds: seconds ?? (quick ? 10 : 30),
  gossipSeconds: seconds ?? (quick ? 8 : 30),
  e2eSeconds: seconds ?? (quick ? 15 : 60),
  microSeconds: positive("micro-seconds", values["micro-seconds"], quick ? 2 : 5),
  concurrency: Math.floor(positive("concurrency", values.concurrency, 64)),
  relayPayments: Math.floor(positive("relay-payments", values["relay-payments"], quick ? 3_000 : 10_000)),
  auditPayments: Math.floor(positive("audit-payments", values["audit-payments"], quick ? 100_000 : 1_000_000)),
  auditQueries: Math.floor(positive("audit-queries", values["audit-queries"], quick ? 500 : 2_000)),
};
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

const machine = machineInfo();
const benchmarks: BenchmarkResult[] = [];
/** Runs one benchmark; a failure becomes a failed row, never stops the others. */
async function step(name: string, fn: () => Promise<BenchmarkResult>): Promise<void> {
  const t = performance.now();
  process.stderr.write(`\n== ${name}\n`);
  try {
    benchmarks.push(await fn());
  } catch (error) {
    process.stderr.write(`${name} failed: ${(error as Error).stack ?? String(error)}\n`);
    benchmarks.push({ name, rows: [], details: {}, error: (error as Error).message, durationSeconds: (performance.now() - t) / 1000 });
  }
}

process.stderr.write(`settlenet benchmarks${quick ? " (quick)" : ""} on ${machine.cpuModel}, ${machine.cores} cores, load ${machine.loadAverage.join(" ")}\n`);
if (wants("storage")) await step("storage", () => runStorage({ seconds: options.microSeconds }));
if (wants("audit")) await step("audit", () => runAudit({ payments: options.auditPayments, queries: options.auditQueries }));

const clusterBenchmarks: Name[] = ["verification", "gateway", "gossip", "relay", "e2e"];
if (clusterBenchmarks.some(wants)) {
  let cluster: Cluster | undefined;
  process.stderr.write("\n== network: chain, 4 institution nodes, gateway\n");
  try {
    cluster = await startCluster({ merchants: 2, payers: 16, log: (m) => process.stderr.write(`${m}\n`) });
  } catch (error) {
    process.stderr.write(`the network did not start: ${(error as Error).stack ?? String(error)}\n`);
    for (const name of clusterBenchmarks.filter(wants)) benchmarks.push({ name, rows: [], details: {}, error: `network did not start: ${(error as Error).message}`, durationSeconds: 0 });
  }
  if (cluster) {
    const c = cluster;
    const stop = () => {
      void c.stop().finally(() => process.exit(130));
    };
    process.once("SIGINT", stop);
    try {
      if (wants("verification")) await step("verification", () => runVerification(c, { seconds: options.microSeconds }));
      if (wants("gateway")) await step("gateway", () => runGateway(c, { seconds: options.gatewaySeconds, concurrency: options.concurrency }));
      if (wants("gossip")) await step("gossip", () => runGossip(c, { seconds: options.gossipSeconds, concurrency: 4, poolRate: 3_000, drainSeconds: quick ? 60 : 300 }));
      if (wants("relay")) await step("relay", () => runRelay(c, { payments: options.relayPayments, drainSeconds: quick ? 120 : 300 }));
      if (wants("e2e")) await step("end-to-end", () => runEndToEnd(c, { seconds: options.e2eSeconds, concurrency: options.concurrency }));
    } finally {
      process.removeListener("SIGINT", stop);
      process.stderr.write("stopping the network\n");
      await c.stop();
    }
  }
}
if (wants("gas")) await step("gas", () => runGas());

const results: RunResults = {
  startedAt: startedAt.toISOString(),
  finishedAt: new Date().toISOString(),
  command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`,
  quick,
  options,
  machine,
  loadAverageAtEnd: loadavg().map((v) => Math.round(v * 100) / 100),
  commit: commit(),
  benchmarks,
};
await mkdir(dirname(outFile), { recursive: true });
await writeFile(outFile, `${JSON.stringify(results, null, 2)}\n`);
process.stdout.write(`\n${consoleTable(results)}\n\nresults: ${relative(process.cwd(), outFile)}\n`);
