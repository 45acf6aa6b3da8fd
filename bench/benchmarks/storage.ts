/**
 * storage: durable (synced) operation writes per second through the node's real OperationRepository
 * (`putAccepted`: one synced LevelDB batch per call, as the pipeline stores accepted operations), on
 * a fresh database in a temp directory. The headline writes one operation per synced batch (how a
 * single API submission is stored); batches of 10 and 100 (an API batch or a gossip message) are
 * measured beside it, as are single-operation writes from 64 concurrent callers (which the store may
 * group into shared synced batches), and the disk's own fsync latency is measured to show what one
 * sync costs.
 */
import { open, mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";

import { openStorage } from "../../node/storage/db.js";
import type { StoredOperation } from "../../core/records.js";
import { randomAddress, storedPay } from "../lib/fixtures.js";
import { Progress } from "../lib/progress.js";
import { atLeast, fmt, type BenchmarkResult } from "../lib/results.js";
import { jsonSummary, summarize } from "../lib/stats.js";

const TARGET = 40_000;
/** Test operations built apart, to take their building out of the CPU per operation stored. */
const FIXTURE_PROBES = 5_000;

export interface StorageOptions {
  /** Measuring time of each batch size. */
  seconds: number;
  /** Folder for the databases (the benchmarks' data folder, on a disk). */
  dataRoot: string;
}

/** Writes for `seconds`, `batch` operations per synced putAccepted; returns operations per second. */
async function measureWrites(dir: string, batch: number, seconds: number, progress: Progress) {
  const storage = await openStorage(join(dir, `db-${batch}`));
  try {
    const token = randomAddress();
    const merchants = Array.from({ length: 10 }, randomAddress);
    const payers = Array.from({ length: 100 }, randomAddress);
    let n = 0;
    const next = (): StoredOperation[] =>
      Array.from({ length: batch }, () => {
        n += 1;
        return storedPay(token, merchants[n % merchants.length] as string, payers[n % payers.length] as string, Date.now());
      });
    const latencies: number[] = [];
    let written = 0;
    let lastId = "";
    const start = performance.now();
    const stop = progress.every(500, () => `batch ${batch}: ${fmt(written)} operations written`);
    while (performance.now() - start < seconds * 1000) {
      const ops = next();
      const t = performance.now();
      await storage.operations.putAccepted(ops);
      latencies.push(performance.now() - t);
      written += ops.length;
      lastId = ops.at(-1)?.id ?? lastId;
    }
    const elapsed = (performance.now() - start) / 1000;
    stop();
    // What was acknowledged is readable (a benchmark of writes that did not happen would be worthless).
    if (!(await storage.operations.has(lastId))) throw new Error(`the last written operation ${lastId} is not stored`);
    return { batch, operations: written, seconds: elapsed, perSecond: written / elapsed, batchLatencyMs: jsonSummary(summarize(latencies)) };
  } finally {
    await storage.close();
  }
}

/**
 * The same single-operation writes from `writers` concurrent callers (API requests and gossip
 * messages arrive concurrently): each caller still waits for its own synced batch, which the store
 * may share between callers (group commit). Returns operations per second.
 */
async function measureConcurrentWrites(dir: string, writers: number, seconds: number, progress: Progress) {
  const storage = await openStorage(join(dir, `db-concurrent-${writers}`));
  try {
    const token = randomAddress();
    const merchants = Array.from({ length: 10 }, randomAddress);
    const payers = Array.from({ length: 100 }, randomAddress);
    let n = 0;
    const latencies: number[] = [];
    const acknowledged: string[] = [];
    // CPU of this process (every thread: the write sections, LevelDB's writes in the thread pool and
    // any compaction it ran meanwhile) and the keys written, over the window.
    const keysBefore = storage.syncStats().ops;
    const cpuBefore = process.cpuUsage();
    const start = performance.now();
    const stop = progress.every(500, () => `${writers} concurrent writers: ${fmt(acknowledged.length)} operations written`);
    await Promise.all(
      Array.from({ length: writers }, async () => {
        while (performance.now() - start < seconds * 1000) {
          n += 1;
          const op = storedPay(token, merchants[n % merchants.length] as string, payers[n % payers.length] as string, Date.now());
          const t = performance.now();
          await storage.operations.putAccepted([op]);
          latencies.push(performance.now() - t);
          acknowledged.push(op.id);
        }
      }),
    );
    const elapsed = (performance.now() - start) / 1000;
    const cpu = process.cpuUsage(cpuBefore);
    const keys = storage.syncStats().ops - keysBefore;
    stop();
    // Every acknowledged write is readable.
    const stored = await Promise.all(acknowledged.map((id) => storage.operations.has(id)));
    const missing = stored.filter((has) => !has).length;
    if (missing > 0) throw new Error(`${missing} acknowledged operations are not stored`);
    // Less what building the test operations cost (random ids and amounts), measured apart.
    const fixtureBefore = process.cpuUsage();
    for (let i = 0; i < FIXTURE_PROBES; i++) storedPay(token, merchants[i % merchants.length] as string, payers[i % payers.length] as string, Date.now());
    const fixture = process.cpuUsage(fixtureBefore);
    const fixtureMicros = ((fixture.user + fixture.system) / FIXTURE_PROBES) * acknowledged.length;
    const cpuMicros = Math.max(0, cpu.user + cpu.system - fixtureMicros);
    return {
      writers,
      operations: acknowledged.length,
      seconds: elapsed,
      perSecond: acknowledged.length / elapsed,
      writeLatencyMs: jsonSummary(summarize(latencies)),
      keysPerOperation: keys / acknowledged.length,
      cpuMicrosPerOperation: cpuMicros / acknowledged.length,
      cpuMicrosPerKey: keys > 0 ? cpuMicros / keys : Number.NaN,
    };
  } finally {
    await storage.close();
  }
}

/** The disk's synced-write latency: 1 KiB appended and fdatasync'ed, `count` times. */
async function fsyncLatency(dir: string, count: number) {
  const file = await open(join(dir, "fsync-probe"), "w");
  const block = Buffer.alloc(1024, 1);
  const times: number[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const t = performance.now();
      await file.write(block);
      await file.datasync();
      times.push(performance.now() - t);
    }
  } finally {
    await file.close();
  }
  return summarize(times);
}

export async function runStorage(options: StorageOptions): Promise<BenchmarkResult> {
  const progress = new Progress("storage");
  const started = performance.now();
  const dir = await mkdtemp(join(options.dataRoot, "settlenet-bench-storage-"));
  try {
    const runs = [];
    for (const batch of [1, 10, 100]) {
      const run = await measureWrites(dir, batch, options.seconds, progress);
      progress.log(`batch ${batch}: ${fmt(run.perSecond)} operations/s`);
      runs.push(run);
    }
    const concurrent = await measureConcurrentWrites(dir, 64, options.seconds, progress);
    progress.log(`64 concurrent writers, one operation each per write: ${fmt(concurrent.perSecond)} operations/s`);
    const fsync = await fsyncLatency(dir, 200);
    const single = runs[0];
    if (!single) throw new Error("no measurement");
    const value = single.perSecond;
    const met = atLeast(value, TARGET);
    const others = [
      ...runs.slice(1).map((r) => `${fmt(r.perSecond)}/s in batches of ${r.batch}`),
      `${fmt(concurrent.perSecond)}/s from ${concurrent.writers} concurrent single-operation writers (p99 ${fmt(Number(concurrent.writeLatencyMs["p99"]), 1)} ms)`,
    ].join(", ");
    // What a key costs: the end-to-end benchmark reports how many keys each role writes per payment.
    const perKey =
      `CPU of the concurrent writes (all threads of the process, building the test operations left out): ${fmt(concurrent.cpuMicrosPerOperation)} µs per operation stored, ` +
      `${fmt(concurrent.keysPerOperation, 1)} keys each, ${fmt(concurrent.cpuMicrosPerKey, 1)} µs per key written`;
    progress.log(perKey);
    return {
      name: "storage",
      rows: [
        {
          benchmark: "storage",
          metric: "durable (synced) operation writes, one operation per synced batch",
          value,
          unit: "ops/s",
          target: `≥ ${fmt(TARGET)}/s`,
          met,
          notes: `OperationRepository.putAccepted on LevelDB, ${options.seconds} s per batch size; also ${others}; ${perKey}`,
          ...(met
            ? {}
            : {
                bottleneck: {
                  stage: "synced LevelDB batch (fsync) per write",
                  evidence:
                    `one synced putAccepted takes p50 ${fmt(Number(single.batchLatencyMs["p50"]), 2)} ms; the disk's own 1 KiB write + fdatasync takes ` +
                    `p50 ${fmt(fsync.p50, 2)} ms (≤ ${fmt(1000 / fsync.p50)} syncs/s), so one operation per sync is capped by the disk; ` +
                    `${others}`,
                },
              }),
        },
      ],
      details: { runs, concurrent, fsyncLatencyMs: jsonSummary(fsync) },
      durationSeconds: (performance.now() - started) / 1000,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
