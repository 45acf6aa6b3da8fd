/**
 * `tsx bench/point-reads.ts [--keys=200000] [--reads=40000] [--rounds=3]`: CPU per key read (process CPU,
 * every thread) of a `getMany` through the store the parts use (core/storage/level.ts: synchronous point
 * reads up to `SYNC_GET_MANY` keys) against the same `getMany` through LevelDB's thread pool (the raw
 * sublevel), for groups of 1 to 100 keys, one group at a time (as a request handler reads), keys present
 * (1 KB values) and absent. The database holds `keys` keys in its memtable, as a part's database does
 * after a few minutes of load. Medians of `rounds` rounds, the two ways taking turns; a read that answers
 * a wrong value fails the run.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { randomBytes } from "node:crypto";

import { SYNC_GET_MANY, openLevelStore } from "../core/storage/level.js";

const { values } = parseArgs({ options: { keys: { type: "string", default: "200000" }, reads: { type: "string", default: "40000" }, rounds: { type: "string", default: "3" } }, strict: true });
const keyCount = Number(values.keys);
const reads = Number(values.reads);
const rounds = Number(values.rounds);

const dir = await mkdtemp(join(tmpdir(), "settlenet-bench-point-reads-"));
const store = await openLevelStore(join(dir, "db"), ["orders"] as const, { label: "bench" });
let failures = 0;
try {
  const value = { body: "x".repeat(1000) };
  const present: string[] = [];
  for (let written = 0; written < keyCount; written += 1000) {
    const ops = Array.from({ length: Math.min(1000, keyCount - written) }, () => {
      const key = randomBytes(16).toString("hex");
      present.push(key);
      return { type: "put" as const, sublevel: store.spaces.orders, key, value };
    });
    await store.ctx.write(() => store.ctx.commit(ops));
  }
  const absent = Array.from({ length: keyCount }, () => randomBytes(16).toString("hex"));

  const ways = {
    "in place (the store's getMany)": (keys: string[]) => store.spaces.orders.getMany(keys),
    "LevelDB's thread pool (the raw sublevel)": (keys: string[]) => store.raw.orders.getMany(keys),
  };
  const measure = async (read: (keys: string[]) => Promise<unknown[]>, source: string[], size: number, hit: boolean): Promise<number> => {
    const groups = Math.max(1, Math.floor(reads / size));
    const before = process.cpuUsage();
    for (let g = 0; g < groups; g++) {
      const keys = Array.from({ length: size }, (_, j) => source[((g * size + j) * 7919) % source.length] as string);
      const answers = await read(keys);
      for (const answer of answers) if ((answer !== undefined) !== hit) failures += 1;
    }
    const used = process.cpuUsage(before);
    return (used.user + used.system) / (groups * size);
  };
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

  console.log(`${keyCount.toLocaleString("en")} keys in the memtable; µs of CPU per key read, median of ${rounds} rounds (in place up to ${SYNC_GET_MANY} keys)`);
  console.log("keys per getMany | keys | in place | thread pool");
  for (const size of [1, 2, 4, 8, 32, 100]) {
    for (const hit of [true, false]) {
      const source = hit ? present : absent;
      const samples: Record<string, number[]> = {};
      for (const read of Object.values(ways)) await measure(read, source, size, hit); // warm-up
      for (let r = 0; r < rounds; r++) for (const [name, read] of Object.entries(ways)) (samples[name] ??= []).push(await measure(read, source, size, hit));
      const [inPlace, pool] = Object.keys(ways).map((name) => median(samples[name] ?? []).toFixed(1));
      console.log(`${String(size).padStart(16)} | ${hit ? "present" : "absent "} | ${inPlace?.padStart(8)} | ${pool?.padStart(11)}`);
    }
  }
  if (failures > 0) {
    console.error(`${failures} reads answered wrongly`);
    process.exitCode = 1;
  }
} finally {
  await store.close();
  await rm(dir, { recursive: true, force: true });
}
