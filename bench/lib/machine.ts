/** The machine a run happened on, from the operating system (for the results file and the doc). */
import { cpus, freemem, loadavg, platform, release, totalmem, arch } from "node:os";

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  cpuMhz: number;
  memoryGiB: number;
  freeMemoryGiB: number;
  os: string;
  arch: string;
  node: string;
  /** 1, 5 and 15 minute load averages when the run started: high values mean a contended run. */
  loadAverage: number[];
}

/** Reads the machine description now. */
export function machineInfo(): MachineInfo {
  const list = cpus();
  return {
    cpuModel: list[0]?.model.trim() ?? "unknown",
    cores: list.length,
    cpuMhz: list[0]?.speed ?? 0,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    freeMemoryGiB: Math.round((freemem() / 2 ** 30) * 10) / 10,
    os: `${platform()} ${release()}`,
    arch: arch(),
    node: process.version,
    loadAverage: loadavg().map((v) => Math.round(v * 100) / 100),
  };
}
