/**
 * CPU time used by each process of a run (Linux /proc/<pid>/stat utime + stime, which include every
 * thread of the process), sampled before and after a measured window, and turned into milliseconds of
 * CPU per unit of work (payment, request, operation) for each role of the network. The load
 * generator (this harness process) is measured with process.cpuUsage and reported apart: it is not
 * part of the system under test, but it shares the machine's cores.
 */
import { readFile } from "node:fs/promises";

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** The roles of a network's processes. */
export type Role = "origin node" | "peer node" | "gateway" | "chain";

/** A process of the system under test. */
export interface MeasuredProcess {
  name: string;
  role: Role;
  pid: number | undefined;
}

/** CPU seconds used so far by `pid` (undefined off Linux or once the process is gone). */
export async function cpuSecondsOf(pid: number): Promise<number | undefined> {
  try {
    return parseProcStat(await readFile(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return undefined;
  }
}

/** utime + stime of a /proc/<pid>/stat line, in seconds. */
export function parseProcStat(stat: string): number {
  // Fields after the command name (which may contain spaces and parentheses) start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error(`not a /proc/<pid>/stat line: ${stat.slice(0, 80)}`);
  return (utime + stime) / TICKS_PER_SECOND;
}

/** CPU seconds the whole machine spent busy so far (first line of /proc/stat: everything but idle and iowait). */
export function parseMachineStat(text: string): number {
  const line = text.split("\n").find((l) => l.startsWith("cpu "));
  if (!line) throw new Error("no cpu line in /proc/stat");
  const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  return ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) / TICKS_PER_SECOND;
}

async function machineBusySeconds(): Promise<number | undefined> {
  try {
    return parseMachineStat(await readFile("/proc/stat", "utf8"));
  } catch {
    return undefined;
  }
}

export interface CpuShare {
  process: string;
  role: Role | "load generator";
  /** Its process id (CPU profiles are named after it). */
  pid?: number;
  /** CPU seconds used during the window. */
  cpuSeconds: number;
  /** Cores kept busy on average (cpuSeconds / window seconds). */
  cores: number;
}

export const LOAD_GENERATOR = "load generator (this harness process)";

/** A measured window on the monotonic clock, in µs: the clock of process.hrtime and of V8's CPU profiles (bench/profile.ts). */
export interface MonotonicWindow {
  startUs: number;
  endUs: number;
}

export const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);

/** Samples the network's processes and this harness over a window. */
export class CpuMeter {
  private start = new Map<string, number>();
  private startHarness = process.cpuUsage();
  private startedAt = performance.now();
  private startMachine: number | undefined;
  /** Window length of the last end(), in seconds. */
  seconds = 0;
  /** The last window (begin() to end()) on the monotonic clock. */
  window: MonotonicWindow = { startUs: 0, endUs: 0 };
  /** Cores the whole machine kept busy during the last window (undefined off Linux). */
  machineCores: number | undefined;
  /** Of those, cores busy with work that is neither the network nor this harness (other users of the machine). */
  otherCores: number | undefined;

  constructor(private readonly processes: () => MeasuredProcess[]) {}

  /** Starts the window. */
  async begin(): Promise<void> {
    this.start.clear();
    for (const { name, pid } of this.processes()) {
      const used = pid === undefined ? undefined : await cpuSecondsOf(pid);
      if (used !== undefined) this.start.set(name, used);
    }
    this.startMachine = await machineBusySeconds();
    this.startHarness = process.cpuUsage();
    this.startedAt = performance.now();
    this.window = { startUs: monotonicUs(), endUs: 0 };
  }

  /** Ends the window: CPU use per process, busiest first, the load generator among them. */
  async end(): Promise<CpuShare[]> {
    const harness = process.cpuUsage(this.startHarness);
    const seconds = (performance.now() - this.startedAt) / 1000;
    this.seconds = seconds;
    this.window = { ...this.window, endUs: monotonicUs() };
    const shares: CpuShare[] = [];
    for (const { name, role, pid } of this.processes()) {
      const before = this.start.get(name);
      const after = pid === undefined ? undefined : await cpuSecondsOf(pid);
      if (before === undefined || after === undefined) continue;
      shares.push({ process: name, role, ...(pid === undefined ? {} : { pid }), cpuSeconds: round(after - before), cores: round((after - before) / seconds) });
    }
    const harnessSeconds = (harness.user + harness.system) / 1e6;
    shares.push({ process: LOAD_GENERATOR, role: "load generator", pid: process.pid, cpuSeconds: round(harnessSeconds), cores: round(harnessSeconds / seconds) });
    const machineAfter = await machineBusySeconds();
    this.machineCores = this.startMachine === undefined || machineAfter === undefined ? undefined : round((machineAfter - this.startMachine) / seconds);
    const ours = shares.reduce((sum, s) => sum + s.cores, 0);
    this.otherCores = this.machineCores === undefined ? undefined : round(Math.max(0, this.machineCores - ours));
    return shares.sort((a, b) => b.cpuSeconds - a.cpuSeconds);
  }
}

const round = (v: number) => Math.round(v * 1000) / 1000;

/** Milliseconds of CPU per unit of work, by role; null where the network has no process of that role. */
export interface RoleCpu {
  /** What one unit is: payment, request, operation. */
  unit: string;
  /** Units of work done in the window. */
  units: number;
  originNode: number | null;
  /** Per peer node (the mean over the peers). */
  peerNode: number | null;
  peers: number;
  gateway: number | null;
  chain: number | null;
  /** Every process of the system under test (all nodes, gateway, chain); the load generator is not in it. */
  system: number;
  /** This harness: signing, HTTP clients, the chain watcher. */
  loadGenerator: number;
  /**
   * Of `system`, what the same processes spend with no load at all (timers, polls, gossip heartbeats),
   * measured just before the window and scaled to its length: at a low rate it is a large share of
   * each unit's figure, at a high rate it vanishes. Undefined when not measured.
   */
  idleSystem?: number;
}

/**
 * Cores the network's processes keep busy with no load, over `seconds` of quiet (a measurement window,
 * not a wait for anything); `onWindow` gets the window.
 */
export async function idleCores(
  processes: () => MeasuredProcess[],
  seconds: number,
  onWindow?: (window: MonotonicWindow) => void,
  onShares?: (shares: CpuShare[]) => void,
): Promise<number> {
  const meter = new CpuMeter(processes);
  await meter.begin();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const shares = await meter.end();
  onWindow?.(meter.window);
  onShares?.(shares);
  return shares.filter((s) => s.role !== "load generator").reduce((sum, s) => sum + s.cpuSeconds, 0) / meter.seconds;
}

/** CPU milliseconds per unit of work for each role, from the shares of one window. */
export function cpuPerUnit(shares: CpuShare[], units: number, unit: string, idle?: { cores: number; windowSeconds: number }): RoleCpu {
  const ms = (seconds: number) => (units > 0 ? (seconds * 1000) / units : Number.NaN);
  const of = (role: CpuShare["role"]) => shares.filter((s) => s.role === role);
  const sum = (list: CpuShare[]) => list.reduce((total, s) => total + s.cpuSeconds, 0);
  const perRole = (role: Role) => (of(role).length === 0 ? null : ms(sum(of(role)) / of(role).length));
  const peers = of("peer node").length;
  return {
    unit,
    units,
    originNode: perRole("origin node"),
    peerNode: perRole("peer node"),
    peers,
    gateway: perRole("gateway"),
    chain: perRole("chain"),
    system: ms(sum(shares.filter((s) => s.role !== "load generator"))),
    loadGenerator: ms(sum(of("load generator"))),
    ...(idle ? { idleSystem: ms(idle.cores * idle.windowSeconds) } : {}),
  };
}

/**
 * The throughput bottleneck the CPU shares point at: the busiest process when the run's processes kept
 * most of the machine's cores busy, otherwise waiting (synced writes, RPC round trips, batching timers).
 */
export function cpuBottleneck(shares: CpuShare[], cores: number, otherCores?: number): { stage: string; evidence: string } {
  const used = shares.reduce((sum, s) => sum + s.cores, 0);
  const generator = shares.find((s) => s.role === "load generator");
  const system = shares.filter((s) => s.role !== "load generator");
  const list = system.map((s) => `${s.process} ${s.cores.toFixed(2)}`).join(", ");
  const evidence =
    `cores used during the run (of ${cores}): ${list}; load generator ${generator ? generator.cores.toFixed(2) : "–"} apart; ` +
    `${used.toFixed(2)} in all` +
    (otherCores === undefined ? "" : `; other work on the machine (not this run) ${otherCores.toFixed(2)}`);
  const busiest = shares[0];
  if (busiest && used >= 0.7 * cores) return { stage: `CPU of ${busiest.process}`, evidence };
  if (otherCores !== undefined && used + otherCores >= 0.9 * cores) {
    return { stage: "other work on the machine (the run's processes left cores to others' work; rerun on a quiet machine)", evidence };
  }
  return { stage: "waiting, not CPU (the processes left cores idle: synced writes, RPC round trips, batching timers, or other work on the machine)", evidence };
}
