/**
 * `npx tsx bench/profile.ts --results=<results.json> [--benchmark=end-to-end] [--window=load|idle]
 * [--top=25] <profile folder>`: reads the V8 CPU profiles (`.cpuprofile`) that the network's processes
 * wrote during a benchmark run started with `NODE_OPTIONS="--cpu-prof --cpu-prof-dir=<folder>"`, keeps
 * the samples inside the benchmark's measured window (the results file gives it on the same monotonic
 * clock the profiles use, and each process's pid and role) and prints, per process, where its main
 * thread spent its CPU: self time by module, by function, attributed to the nearest function of
 * the project on the stack (so time inside a library counts for the project code that called it), and
 * inclusive (everything a project function called, to split a process's time by entry point), and by
 * activity (each sample charged once, to the outermost project function on its stack: an async function
 * resumed after an await starts a stack of its own, so its continuation counts for it), in microseconds
 * per unit of work (payment held). A sample counts for at most one sampling interval: on
 * a busy machine a thread waits for a core between samples, and that wait is not its CPU.
 *
 *   NODE_OPTIONS="--cpu-prof --cpu-prof-dir=/tmp/prof" npm run bench -- --quick --only=e2e --out=/tmp/prof/results.json
 *   npx tsx bench/profile.ts --results=/tmp/prof/results.json /tmp/prof
 *
 * Worker threads write profiles of their own (their file names carry a thread id other than 0). Frames in
 * bundled code (the settlenet CLI the nodes and the gateway run from) are named by their TypeScript
 * source through the bundle's source maps; the bundle must still be in cache/settlenet-cli.
 */
import { readdir, readFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { parseArgs } from "node:util";

import { projectRoot } from "./lib/paths.js";
import type { RunResults } from "./lib/results.js";
import { summarizeProfile, withSourcePositions, type CpuProfile } from "./lib/profile.js";
import { SourceMaps } from "./lib/source-map.js";

const { values, positionals } = parseArgs({
  options: {
    results: { type: "string" },
    benchmark: { type: "string", default: "end-to-end" },
    window: { type: "string", default: "load" },
    top: { type: "string", default: "25" },
  },
  allowPositionals: true,
  strict: true,
});
const dir = positionals[0];
if (!dir || !values.results) throw new Error("usage: bench/profile.ts --results=<results.json> [--benchmark=end-to-end] [--window=load|idle] [--top=25] <profile folder>");
const top = Number(values.top);

interface Share {
  process: string;
  role: string;
  pid?: number;
  cpuSeconds: number;
}
const results = JSON.parse(await readFile(values.results, "utf8")) as RunResults;
const benchmark = results.benchmarks.find((b) => b.name === values.benchmark);
if (!benchmark) throw new Error(`no benchmark ${values.benchmark} in ${values.results} (${results.benchmarks.map((b) => b.name).join(", ")})`);
const details = benchmark.details as { cpu?: Share[]; held?: number; profileWindows?: Record<string, { startUs: number; endUs: number; units?: number }> };
const window = details.profileWindows?.[values.window];
if (!window) throw new Error(`the results have no ${values.window} window for ${values.benchmark} (run with a bench that records profileWindows)`);
const units = window.units ?? details.held ?? 0;
const processes = new Map((details.cpu ?? []).filter((s) => s.pid !== undefined).map((s) => [s.pid as number, s]));

const files = (await readdir(dir)).filter((f) => f.endsWith(".cpuprofile"));
const fmt = (us: number) => (units > 0 ? (us / units).toFixed(1).padStart(8) : `${(us / 1000).toFixed(1)} ms`.padStart(10));
// The nodes and the gateway run from the bundled CLI: its source maps name the TypeScript behind each frame.
const sourceMaps = new SourceMaps();
const root = projectRoot.endsWith("/") ? projectRoot : `${projectRoot}/`;
process.stdout.write(`${values.benchmark}, ${values.window} window ${((window.endUs - window.startUs) / 1e6).toFixed(1)} s, ${units} units; figures in µs per unit (main thread samples)\n`);
for (const file of files.sort()) {
  // CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile
  const [, , , pidText, thread] = file.split(".");
  const share = processes.get(Number(pidText));
  if (!share) continue;
  const profile = withSourcePositions(JSON.parse(await readFile(join(dir, file), "utf8")) as CpuProfile, (position) => sourceMaps.resolve(position));
  const summary = summarizeProfile(profile, { fromUs: window.startUs, toUs: window.endUs, projectRoot: root });
  if (summary.busyUs === 0) continue;
  const label = `${share.process} (${share.role}${thread === "0" ? "" : `, worker thread ${thread}`}), /proc CPU ${(share.cpuSeconds * 1000).toFixed(0)} ms`;
  process.stdout.write(`\n== ${label}: sampled busy ${fmt(summary.busyUs).trim()} per unit, garbage collection ${fmt(summary.gcUs).trim()}\n`);
  process.stdout.write("-- self time by module\n");
  for (const [name, us] of summary.byModule.slice(0, top)) process.stdout.write(`${fmt(us)}  ${name}\n`);
  process.stdout.write("-- self time by function\n");
  for (const [name, us] of summary.byFunction.slice(0, top)) process.stdout.write(`${fmt(us)}  ${name}\n`);
  process.stdout.write("-- attributed to the nearest project function on the stack (library time included)\n");
  for (const [name, us] of summary.byProjectFunction.slice(0, top)) process.stdout.write(`${fmt(us)}  ${name}\n`);
  process.stdout.write("-- inclusive: samples with the project function anywhere on the stack\n");
  for (const [name, us] of summary.byProjectInclusive.slice(0, top)) process.stdout.write(`${fmt(us)}  ${name}\n`);
  process.stdout.write("-- by activity: charged to the outermost project function on the stack\n");
  for (const [name, us] of summary.byProjectRoot.slice(0, top)) process.stdout.write(`${fmt(us)}  ${name}\n`);
}
process.stdout.write(`\nprofiles: ${relative(process.cwd(), dir) || "."}\n`);
