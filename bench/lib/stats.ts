/** Latency and rate statistics over measured samples (milliseconds unless the name says otherwise). */

export interface Summary {
  count: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentile of sorted `values` (`p` in 0..100); Infinity entries (never completed) count. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number;
}

/** Count, mean and percentiles of `values`. */
export function summarize(values: readonly number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  const finite = sorted.filter(Number.isFinite);
  return {
    count: sorted.length,
    mean: finite.length === 0 ? Number.NaN : finite.reduce((sum, v) => sum + v, 0) / finite.length,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted.at(-1) ?? Number.NaN,
  };
}

/** Rounds for JSON output (3 significant decimals are plenty for milliseconds and rates). */
export function round(value: number, digits = 3): number {
  if (!Number.isFinite(value)) return value;
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

/** A Summary with rounded numbers (Infinity becomes null in JSON, so it is spelled out). */
export function jsonSummary(summary: Summary): Record<string, number | string> {
  return Object.fromEntries(Object.entries(summary).map(([k, v]) => [k, Number.isFinite(v) ? round(v) : String(v)]));
}

/** Runs `fn` repeatedly for about `durationMs` (after `warmupMs`) and returns calls per second. */
export function rateOf(fn: (i: number) => void, durationMs: number, warmupMs = Math.min(500, durationMs / 4)): { perSecond: number; calls: number } {
  let i = 0;
  const warmEnd = performance.now() + warmupMs;
  while (performance.now() < warmEnd) fn(i++);
  let calls = 0;
  const start = performance.now();
  let now = start;
  // Check the clock every 64 calls: a clock read per call would be part of the measured cost.
  while (now - start < durationMs) {
    for (let k = 0; k < 64; k++) fn(i++);
    calls += 64;
    now = performance.now();
  }
  return { perSecond: (calls * 1000) / (now - start), calls };
}

/** Async version of rateOf: awaits each call. */
export async function rateOfAsync(fn: (i: number) => Promise<unknown>, durationMs: number, warmupMs = Math.min(500, durationMs / 4)): Promise<{ perSecond: number; calls: number }> {
  let i = 0;
  const warmEnd = performance.now() + warmupMs;
  while (performance.now() < warmEnd) await fn(i++);
  let calls = 0;
  const start = performance.now();
  while (performance.now() - start < durationMs) {
    await fn(i++);
    calls += 1;
  }
  return { perSecond: (calls * 1000) / (performance.now() - start), calls };
}

/**
 * Rates of several functions measured in alternating rounds: on a machine where other work comes and
 * goes, interleaving exposes every function to the same interference. The median round is the figure
 * (the best round would report the luckiest moment, not the code); the best and every round are kept
 * for the results file.
 */
export function interleavedRates(fns: Record<string, (i: number) => void>, totalMs: number, rounds = 5): Record<string, { median: number; best: number; rounds: number[] }> {
  const names = Object.keys(fns);
  const roundMs = Math.max(50, totalMs / rounds);
  const samples: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  for (let r = 0; r < rounds; r++) {
    for (const name of names) samples[name]?.push(rateOf(fns[name] as (i: number) => void, roundMs, r === 0 ? Math.min(200, roundMs) : 0).perSecond);
  }
  return Object.fromEntries(
    names.map((name) => {
      const list = samples[name] ?? [];
      const sorted = [...list].sort((a, b) => a - b);
      const mid = Math.floor(sorted.length / 2);
      const median = sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
      return [name, { median, best: sorted.at(-1) ?? 0, rounds: list.map((v) => round(v, 1)) }];
    }),
  );
}
