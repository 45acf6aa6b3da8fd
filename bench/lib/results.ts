/** The results file of a benchmark run: one row per target, with its measured value and evidence. */
import type { RoleCpu } from "./cpu.js";
import type { DataRoot } from "./data-dir.js";
import type { MachineInfo } from "./machine.js";

/** Where a missed target loses, as measured (stage timings, CPU per process, a component's rate). */
export interface Bottleneck {
  /** The stage or resource that limits the result. */
  stage: string;
  /** The measurement that shows it, in words with the numbers. */
  evidence: string;
}

/** A target as a comparison, so a verdict can be taken again on a combined value (median of runs). */
export interface Goal {
  compare: "atLeast" | "atMost";
  value: number;
}

/** Duplicate relayed items in a measured window. */
export interface DuplicateItems {
  /** Escrow operations relayed on-chain (execute/executeBatch items), from the chain's blocks. */
  relayed: number;
  /** Items relayed again after a first relay, from the chain's blocks. */
  duplicates: number;
  /** The nodes' own count (settlenet_relay_duplicate_items_total summed over nodes); null when the nodes do not export it. */
  metric: number | null;
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
  /** Comparison with the target; undefined when the row has no target. A row with failures is never met. */
  met: boolean | undefined;
  /** The target as a comparison (rows measured over several runs take their verdict from it again). */
  goal?: Goal;
  /** Failures counted in this row's measurement, by code (a problem document's code, TIMEOUT, NOT_HELD, ...). */
  failures?: Record<string, number>;
  /** How it was measured / scaled down (e.g. --quick sizes). */
  notes: string;
  bottleneck?: Bottleneck;
  /** CPU milliseconds per unit of work by role, over the row's measured window. */
  cpu?: RoleCpu;
  /** Duplicate relayed items in the row's window (undefined where nothing is relayed). */
  duplicates?: DuplicateItems;
  /** The value of each run when the row is the median of several. */
  runs?: (number | null)[];
}

export interface BenchmarkResult {
  name: string;
  rows: Row[];
  /** Everything measured, for the results file (stage timings, CPU, sizes). */
  details: Record<string, unknown>;
  /** Error message if the benchmark could not complete. */
  error?: string;
  durationSeconds: number;
  /** 1, 5 and 15 minute load averages when it started (other work on the machine shows here). */
  loadAverageAtStart?: number[];
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
  /** Where the databases were written, and on which file system. */
  dataRoot?: DataRoot;
  benchmarks: BenchmarkResult[];
}

/** Total failures of a row. */
export const failureCount = (row: Pick<Row, "failures">) => Object.values(row.failures ?? {}).reduce((sum, n) => sum + n, 0);

/** Whether `value` meets `goal`. */
export function meets(value: number | null, goal: Goal): boolean {
  return goal.compare === "atLeast" ? atLeast(value, goal.value) : atMost(value, goal.value);
}

/** The row's verdict: failed (no value), missed (target not reached, or any failure), met, or – (no target). */
export function verdict(row: Row): "met" | "missed" | "failed" | "–" {
  if (row.value === null) return "failed";
  if (row.met === undefined) return "–";
  return row.met && failureCount(row) === 0 ? "met" : "missed";
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
