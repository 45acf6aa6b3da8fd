/**
 * CPU time used by each process of a run (Linux /proc/<pid>/stat utime + stime), sampled before and
 * after a measured window: on a machine whose cores are all busy, the process that used most of them
 * is where throughput is lost.
 */
import { readFile } from "node:fs/promises";

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** CPU seconds used so far by `pid` (undefined off Linux or once the process is gone). */
async function cpuSeconds(pid: number): Promise<number | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return (utime + stime) / TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

export interface CpuShare {
  process: string;
  /** CPU seconds used during the window. */
  cpuSeconds: number;
  /** Cores kept busy on average (cpuSeconds / window seconds). */
  cores: number;
}

/** Samples the named processes (plus this harness) over a window. */
export class CpuMeter {
  private start = new Map<string, number>();
  private startHarness = process.cpuUsage();
  private startedAt = performance.now();

  constructor(private readonly processes: () => { name: string; pid: number | undefined }[]) {}

  /** Starts the window. */
  async begin(): Promise<void> {
    this.start.clear();
    for (const { name, pid } of this.processes()) {
      const used = pid === undefined ? undefined : await cpuSeconds(pid);
      if (used !== undefined) this.start.set(name, used);
    }
    this.startHarness = process.cpuUsage();
    this.startedAt = performance.now();
  }

  /** Ends the window: CPU use per process, busiest first. */
  async end(): Promise<CpuShare[]> {
    const seconds = (performance.now() - this.startedAt) / 1000;
    const shares: CpuShare[] = [];
    for (const { name, pid } of this.processes()) {
      const before = this.start.get(name);
      const after = pid === undefined ? undefined : await cpuSeconds(pid);
      if (before === undefined || after === undefined) continue;
      shares.push({ process: name, cpuSeconds: round(after - before), cores: round((after - before) / seconds) });
    }
    const harness = process.cpuUsage(this.startHarness);
    const harnessSeconds = (harness.user + harness.system) / 1e6;
    shares.push({ process: "bench harness (load generator, in-process parts)", cpuSeconds: round(harnessSeconds), cores: round(harnessSeconds / seconds) });
    return shares.sort((a, b) => b.cpuSeconds - a.cpuSeconds);
  }
}

const round = (v: number) => Math.round(v * 100) / 100;

/**
 * The throughput bottleneck the CPU shares point at: the busiest process when the run's processes kept
 * most of the machine's cores busy, otherwise waiting (synced writes, RPC round trips, batching timers).
 */
export function cpuBottleneck(shares: CpuShare[], cores: number): { stage: string; evidence: string } {
  const used = shares.reduce((sum, s) => sum + s.cores, 0);
  const list = shares.map((s) => `${s.process} ${s.cores.toFixed(2)}`).join(", ");
  const evidence = `cores used during the run (of ${cores}): ${list}; ${used.toFixed(2)} in all`;
  const busiest = shares[0];
  if (busiest && used >= 0.7 * cores) return { stage: `CPU of ${busiest.process}`, evidence };
  return { stage: "waiting, not CPU (the processes left cores idle: synced writes, RPC round trips, batching timers, or other work on the machine)", evidence };
}
