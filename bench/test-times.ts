/**
 * `npx tsx bench/test-times.ts BEFORE.json AFTER.json [MORE.json ...]`: compares two mocha runs' time per test file,
 * as scripts/lib/mocha/reporter.mjs writes them with SETTLENET_TEST_TIMES=<file> (e.g.
 * `SETTLENET_TEST_TIMES=after.json npx hardhat test mocha`; `npm test` writes cache/mocha-times.json and,
 * for the files it runs alone afterwards, cache/mocha-times-alone.json). Prints every file's wall time with its
 * hooks before and after, slowest first (by the later run), the totals and the load average each run
 * ended with (the machine is shared: a busy one stretches every wait).
 */
import { readFileSync } from "node:fs";

import { z } from "zod";

const runSchema = z.strictObject({
  totalMs: z.number(),
  loadAverage: z.array(z.number()).optional(),
  files: z.record(z.string(), z.strictObject({ ms: z.number(), testMs: z.number(), tests: z.number() })),
});

type Run = z.infer<typeof runSchema>;

/** One run from several files (runs one after the other: `npm test` runs some files alone after the rest). */
function readRuns(files: string[]): Run {
  const runs = files.map((file) => runSchema.parse(JSON.parse(readFileSync(file, "utf8"))));
  return {
    totalMs: runs.reduce((sum, run) => sum + run.totalMs, 0),
    loadAverage: runs.at(-1)?.loadAverage ?? [],
    files: Object.assign({}, ...runs.map((run) => run.files)) as Run["files"],
  };
}

const [beforeArg, ...afterFiles] = process.argv.slice(2);
if (!beforeArg || afterFiles.length === 0) {
  process.stderr.write("usage: tsx bench/test-times.ts BEFORE.json[,MORE.json] AFTER.json [MORE.json ...]\n");
  process.exit(2);
}
const before = readRuns(beforeArg.split(","));
const after = readRuns(afterFiles);
const seconds = (ms: number | undefined) => (ms === undefined ? "-" : (ms / 1000).toFixed(1)).padStart(7);
const files = [...new Set([...Object.keys(before.files), ...Object.keys(after.files)])].sort(
  (a, b) => (after.files[b]?.ms ?? 0) - (after.files[a]?.ms ?? 0) || (before.files[b]?.ms ?? 0) - (before.files[a]?.ms ?? 0),
);
const lines = [`${"before".padStart(9)} ${"after".padStart(9)}  file (tests before/after)`];
for (const file of files) {
  const b = before.files[file];
  const a = after.files[file];
  lines.push(`${seconds(b?.ms)} s ${seconds(a?.ms)} s  ${file} (${b?.tests ?? 0}/${a?.tests ?? 0})`);
}
const tests = (run: Run) => Object.values(run.files).reduce((sum, f) => sum + f.tests, 0);
lines.push(`${seconds(before.totalMs)} s ${seconds(after.totalMs)} s  in all (${tests(before)}/${tests(after)} tests)`);
lines.push(`load average at the end: before ${before.loadAverage?.join(" ") ?? "?"}, after ${after.loadAverage?.join(" ") ?? "?"}`);
process.stdout.write(`${lines.join("\n")}\n`);
