/**
 * Where the benchmarks keep their databases. Synced writes are part of what is measured, so they must
 * reach a disk: a folder on tmpfs (memory) would make every fsync free and every durable-write figure
 * a lie. The operating system's temp folder is used when it is on a disk; otherwise a folder under the
 * project (.settlenet/bench, ignored by git), or the folder named by --data-dir / SETTLENET_BENCH_DIR.
 */
import { mkdirSync, readFileSync, realpathSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, sep } from "node:path";

import { projectRoot } from "./paths.js";

/** File systems that live in memory: a sync there proves nothing. */
const MEMORY_FILESYSTEMS = new Set(["tmpfs", "ramfs", "devtmpfs"]);

export interface DataRoot {
  /** Absolute folder the benchmarks create their temporary folders in. */
  path: string;
  /** File system type of the mount holding it (ext4, xfs, tmpfs, …), or "unknown" off Linux. */
  filesystem: string;
  /** Mount point of that file system. */
  mountPoint: string;
  /** Why this folder: named on the command line or environment, the OS temp folder, or the project fallback. */
  source: "option" | "tmpdir" | "project";
  /** Whether the file system keeps data in memory only (then synced writes are not measured honestly). */
  inMemory: boolean;
}

/** Unescapes the octal escapes (\040 for a space) of /proc/self/mountinfo paths. */
const unescape = (path: string) => path.replace(/\\([0-7]{3})/g, (_m, octal: string) => String.fromCharCode(parseInt(octal, 8)));

/**
 * The file system of `path` from the text of /proc/self/mountinfo: the mount with the longest mount
 * point that contains the path (the last one listed wins for equal mount points, as mounts stack).
 */
export function filesystemOf(path: string, mountinfo: string): { filesystem: string; mountPoint: string } {
  let best: { filesystem: string; mountPoint: string } = { filesystem: "unknown", mountPoint: "" };
  for (const line of mountinfo.split("\n")) {
    // id parent major:minor root mount-point options [optional fields] - fstype source super-options
    const [left, right] = line.split(" - ");
    if (!left || !right) continue;
    const mountPoint = unescape(left.split(" ")[4] ?? "");
    const filesystem = right.split(" ")[0] ?? "";
    if (!mountPoint || !filesystem) continue;
    const inside = mountPoint === "/" || path === mountPoint || path.startsWith(mountPoint.endsWith(sep) ? mountPoint : `${mountPoint}${sep}`);
    if (inside && mountPoint.length >= best.mountPoint.length) best = { filesystem, mountPoint };
  }
  return best;
}

function describe(path: string, source: DataRoot["source"]): DataRoot {
  let mountinfo = "";
  try {
    mountinfo = readFileSync("/proc/self/mountinfo", "utf8");
  } catch {
    // not Linux: the file system cannot be told, and the results say so
  }
  const { filesystem, mountPoint } = filesystemOf(realpathSync(path), mountinfo);
  return { path, filesystem, mountPoint, source, inMemory: MEMORY_FILESYSTEMS.has(filesystem) };
}

/**
 * The benchmarks' data folder: `named` (an option or SETTLENET_BENCH_DIR) as given, else the OS temp
 * folder if it is on a disk, else .settlenet/bench under the project.
 */
export function chooseDataRoot(named: string | undefined = process.env["SETTLENET_BENCH_DIR"]): DataRoot {
  if (named) {
    const path = resolve(named);
    mkdirSync(path, { recursive: true });
    return describe(path, "option");
  }
  const tmp = describe(tmpdir(), "tmpdir");
  if (!tmp.inMemory) return tmp;
  const path = join(projectRoot, ".settlenet", "bench");
  mkdirSync(path, { recursive: true });
  return describe(path, "project");
}
