/** The results file of a benchmark run: one row per target, with its measured value and evidence. */
import type { MachineInfo } from "./machine.js";

/** Where a missed target loses, as measured (stage timings, CPU per process, a component's rate). */
export interface Bottleneck {
  /** The stage or resource that limits the result. */
  stage: string;
  /** The measurement that shows it, in words with the numbers. */
  evidence: string;
}

export interface Row {
  /** Benchmark name (end-to-end, gossip, verification, gateway, gas, storage, audit). */
  benchmark: string;
  /** What this row measures. */
  metric: string;
  /** Measured value, in `unit`; null when the benchmark failed. */
  value: number | null;
  unit: string;
  /** The target in words ("≥ 1,000/s"). */
  target: string;
  /** Comparison with the target; undefined when the row has no target. */
  met: boolean | undefined;
  /** How it was measured / scaled down (e.g. --quick sizes). */
  notes: string;
  bottleneck?: Bottleneck;
}

export interface BenchmarkResult {
  name: string;
  rows: Row[];
  /** Everything measured, for the results file (stage timings, CPU, sizes). */
  details: Record<string, unknown>;
  /** Error message if the benchmark could not complete. */
  error?: string;
  durationSeconds: number;
}

export interface RunResults {
  startedAt: string;
  finishedAt: string;
  /** The exact command line. */
  command: string;
  quick: boolean;
  options: Record<string, unknown>;
  machine: MachineInfo;
  /** Load averages at the end: a contended run shows here. */
  loadAverageAtEnd: number[];
  /** The commit the run measured, and whether the working tree had changes. */
  commit: { sha: string; dirty: boolean } | undefined;
  benchmarks: BenchmarkResult[];
}

/** `value` compared with an at-least target. */
export const atLeast = (value: number | null, target: number) => (value === null ? false : value >= target);
/** `value` compared with an at-most target. */
export const atMost = (value: number | null, target: number) => (value === null ? false : value <= target);

/** Formats a number for tables: thousands separators, a few decimals for small numbers. */
export function fmt(value: number | null | undefined, digits?: number): string {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  if (!Number.isFinite(value)) return "∞";
  const d = digits ?? (Number.isInteger(value) || Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2);
  return value.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });
}
