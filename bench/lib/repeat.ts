/**
 * Network benchmarks repeated on fresh networks and combined: each row's value is the median of its
 * runs (not the best: a benchmark that reports its luckiest run overstates the system), its failures
 * are the sum of every run's, and its verdict is taken again on the median. CPU per role is the median
 * of each role's figure; duplicate relayed items are summed.
 */
import type { RoleCpu } from "./cpu.js";
import { fmt, meets, type BenchmarkResult, type Row } from "./results.js";

/** Median of finite numbers (the mean of the middle two for an even count); NaN for none. */
export function median(values: readonly number[]): number {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

function medianCpu(list: RoleCpu[]): RoleCpu | undefined {
  const first = list[0];
  if (!first) return undefined;
  const pick = (key: keyof RoleCpu) => {
    const values = list.map((c) => c[key]).filter((v): v is number => typeof v === "number");
    return values.length === 0 ? null : median(values);
  };
  return {
    unit: first.unit,
    units: pick("units") ?? 0,
    originNode: pick("originNode"),
    peerNode: pick("peerNode"),
    peers: first.peers,
    gateway: pick("gateway"),
    chain: pick("chain"),
    system: pick("system") ?? Number.NaN,
    loadGenerator: pick("loadGenerator") ?? Number.NaN,
    ...(list.some((c) => c.idleSystem !== undefined) ? { idleSystem: pick("idleSystem") ?? Number.NaN } : {}),
  };
}

function combineRow(rows: (Row | undefined)[], failedRuns: number): Row {
  const present = rows.filter((r): r is Row => r !== undefined);
  const base = present[0] as Row;
  const values = rows.map((r) => r?.value ?? null);
  const finite = values.filter((v): v is number => v !== null && !Number.isNaN(v));
  const value = finite.length === 0 ? null : median(finite);
  const failures: Record<string, number> = {};
  for (const r of present) for (const [code, n] of Object.entries(r.failures ?? {})) failures[code] = (failures[code] ?? 0) + n;
  const missing = values.filter((v) => v === null).length;
  if (missing > 0) failures["NO_RESULT"] = (failures["NO_RESULT"] ?? 0) + missing;
  if (failedRuns > 0) failures["RUN_FAILED"] = (failures["RUN_FAILED"] ?? 0) + failedRuns;
  // The run nearest the median speaks for the row (its notes and bottleneck).
  const nearest = present.reduce((best, r) => (Math.abs((r.value ?? Infinity) - (value ?? 0)) < Math.abs((best.value ?? Infinity) - (value ?? 0)) ? r : best), base);
  const met = base.goal ? meets(value, base.goal) : base.met === undefined ? undefined : present.every((r) => r.met === true);
  const cpu = medianCpu(present.flatMap((r) => (r.cpu ? [r.cpu] : [])));
  const dup = present.flatMap((r) => (r.duplicates ? [r.duplicates] : []));
  const metrics = dup.map((d) => d.metric);
  return {
    ...nearest,
    value,
    met,
    failures,
    notes: `median of ${rows.length} runs, each on a fresh network (${values.map((v) => (v === null ? "no result" : fmt(v))).join(" / ")} ${base.unit}); ${nearest.notes}`,
    ...(cpu ? { cpu } : {}),
    ...(dup.length > 0
      ? {
          duplicates: {
            relayed: dup.reduce((s, d) => s + d.relayed, 0),
            duplicates: dup.reduce((s, d) => s + d.duplicates, 0),
            metric: metrics.every((m) => m !== null) ? metrics.reduce((s: number, m) => s + (m ?? 0), 0) : null,
          },
        }
      : {}),
    runs: values,
  };
}

/** One result from the runs of one benchmark (rows matched by their metric). */
export function combineRuns(name: string, runs: BenchmarkResult[]): BenchmarkResult {
  const durationSeconds = runs.reduce((s, r) => s + r.durationSeconds, 0);
  if (runs.length === 1) return runs[0] as BenchmarkResult;
  const succeeded = runs.filter((r) => r.rows.length > 0);
  const failedRuns = runs.length - succeeded.length;
  const first = succeeded[0];
  const errors = runs.flatMap((r) => (r.error ? [r.error] : []));
  const loadAverageAtStart = runs[0]?.loadAverageAtStart;
  if (!first) return { name, rows: [], details: { runs: runs.map((r) => r.details) }, error: errors[0] ?? "no run completed", durationSeconds, ...(loadAverageAtStart ? { loadAverageAtStart } : {}) };
  const rows = first.rows.map((row) => combineRow([...succeeded.map((r) => r.rows.find((x) => x.metric === row.metric))], failedRuns));
  return {
    name,
    rows,
    details: { runs: runs.map((r) => ({ ...r.details, ...(r.error ? { error: r.error } : {}), loadAverageAtStart: r.loadAverageAtStart })) },
    ...(errors.length > 0 ? { error: `${errors.length} of ${runs.length} runs failed: ${errors[0]}` } : {}),
    durationSeconds,
    ...(loadAverageAtStart ? { loadAverageAtStart } : {}),
  };
}
