/**
 * `npm run bench:doc [-- results.json] [--out docs/benchmarks.md]`: writes docs/benchmarks.md from a
 * results file of `npm run bench` (the newest in bench/results/ when none is named).
 */
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join, relative, resolve } from "node:path";
import { parseArgs } from "node:util";

import { projectRoot } from "./lib/paths.js";
import { markdown } from "./lib/render.js";
import type { RunResults } from "./lib/results.js";

const { values, positionals } = parseArgs({ options: { out: { type: "string" } }, allowPositionals: true, strict: true });

async function newestResults(): Promise<string> {
  const dir = join(projectRoot, "bench", "results");
  const files = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith(".json")).sort();
  const last = files.at(-1);
  if (!last) throw new Error("no results file in bench/results/: run `npm run bench` first, or name one");
  return join(dir, last);
}

const file = positionals[0] ? resolve(positionals[0]) : await newestResults();
const results = JSON.parse(await readFile(file, "utf8")) as RunResults;
const out = resolve(values.out ?? join(projectRoot, "docs", "benchmarks.md"));
await writeFile(out, markdown(results, relative(projectRoot, file)));
process.stdout.write(`wrote ${relative(process.cwd(), out)} from ${relative(process.cwd(), file)}\n`);
