/**
 * Summaries of a V8 CPU profile (the `.cpuprofile` that `node --cpu-prof` writes): self time by
 * module and by function within a window of the monotonic clock, time attributed to the nearest
 * project function on the stack, and each project function's inclusive time (everything it called).
 */
import type { SourcePosition } from "./source-map.js";

/** The parts of a `.cpuprofile` read here. */
export interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number }; parent?: number; children?: number[] }[];
  /** Microseconds on the monotonic clock (the one process.hrtime reads). */
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  /** Sampled time in the window that was not idle, in µs (each sample counts at most one sampling interval). */
  busyUs: number;
  gcUs: number;
  /** [name, µs], largest first. */
  byModule: [string, number][];
  byFunction: [string, number][];
  byProjectFunction: [string, number][];
  /** Time of the samples with a project function anywhere on the stack, by function (each counted once per sample). */
  byProjectInclusive: [string, number][];
  /**
   * Every sample's time charged to the outermost project function on its stack (the activity that owns it:
   * a gossip handler, an indexer step, a route), or to the library its stack starts in when none is there.
   */
  byProjectRoot: [string, number][];
}

const IDLE = new Set(["(idle)"]);

/** Where a frame's code lives: a project folder (node/relay), a package, a Node internal module, or a V8 pseudo-frame. */
export function moduleOf(url: string, functionName: string, projectRoot: string): string {
  if (url === "") return functionName.startsWith("(") ? functionName : "(native)";
  if (url.startsWith("node:")) return `node:${url.slice(5).split("/").slice(0, 2).join("/")}`;
  const path = url.startsWith("file://") ? decodeURIComponent(url.slice(7)) : url;
  const nm = path.lastIndexOf("/node_modules/");
  if (nm >= 0) {
    const parts = path.slice(nm + "/node_modules/".length).split("/");
    return parts[0]?.startsWith("@") ? `${parts[0]}/${parts[1]}` : (parts[0] ?? path);
  }
  if (path.startsWith(projectRoot)) {
    const parts = path.slice(projectRoot.length).split("/");
    return parts.length > 2 ? parts.slice(0, 2).join("/") : parts.join("/");
  }
  return path;
}

function isProject(url: string, projectRoot: string): boolean {
  const path = url.startsWith("file://") ? decodeURIComponent(url.slice(7)) : url;
  return path.startsWith(projectRoot) && !path.includes("/node_modules/");
}

/**
 * The profile with every call frame's position moved to its original source where `resolve` knows
 * one (bundled code → the TypeScript it was built from), so modules and project functions are named.
 */
export function withSourcePositions(profile: CpuProfile, resolve: (position: SourcePosition) => SourcePosition): CpuProfile {
  return {
    ...profile,
    nodes: profile.nodes.map((node) => {
      const { url, lineNumber, columnNumber } = resolve(node.callFrame);
      return { ...node, callFrame: { ...node.callFrame, url, lineNumber, columnNumber } };
    }),
  };
}

/** The profile's sampling interval: the median gap between samples (`--cpu-prof-interval`, 1 ms by default). */
export function samplingIntervalUs(profile: CpuProfile): number {
  const gaps = profile.timeDeltas.filter((delta) => delta > 0).sort((a, b) => a - b);
  return gaps[Math.floor(gaps.length / 2)] ?? 0;
}

/** Self time by module and function of the samples taken in [fromUs, toUs]. */
export function summarizeProfile(profile: CpuProfile, options: { fromUs: number; toUs: number; projectRoot: string }): ProfileSummary {
  const { projectRoot } = options;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const selfUs = new Map<number, number>();
  const interval = samplingIntervalUs(profile);
  let at = profile.startTime;
  // Each sample stands for the time up to the next one, but for no more than one sampling interval: a
  // longer gap is time the thread spent off a core (a busy machine's scheduler; the sampler's signal
  // waits for the thread), which would otherwise all be charged to the one function it resumed in.
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i] ?? 0;
    const next = Math.min(profile.timeDeltas[i + 1] ?? 0, interval);
    if (at < options.fromUs || at > options.toUs) continue;
    const id = profile.samples[i] as number;
    selfUs.set(id, (selfUs.get(id) ?? 0) + next);
  }
  const modules = new Map<string, number>();
  const functions = new Map<string, number>();
  const project = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const roots = new Map<string, number>();
  let busyUs = 0;
  let gcUs = 0;
  const label = (frame: CpuProfile["nodes"][number]["callFrame"]) => {
    const path = frame.url.startsWith("file://") ? decodeURIComponent(frame.url.slice(7)) : frame.url;
    const short = path.startsWith(projectRoot) ? path.slice(projectRoot.length) : path.replace(/^.*\/node_modules\//, "");
    return `${frame.functionName || "(anonymous)"}${short ? ` ${short}:${frame.lineNumber + 1}` : ""}`;
  };
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    const { callFrame } = node;
    if (IDLE.has(callFrame.functionName)) continue;
    busyUs += us;
    if (callFrame.functionName === "(garbage collector)") gcUs += us;
    const module = moduleOf(callFrame.url, callFrame.functionName, projectRoot);
    modules.set(module, (modules.get(module) ?? 0) + us);
    const name = label(callFrame);
    functions.set(name, (functions.get(name) ?? 0) + us);
    let owner: number | undefined = id;
    while (owner !== undefined && !isProject(byId.get(owner)?.callFrame.url ?? "", projectRoot)) owner = parent.get(owner);
    const ownerName = owner === undefined ? `(no project frame) ${module}` : label((byId.get(owner) as CpuProfile["nodes"][number]).callFrame);
    project.set(ownerName, (project.get(ownerName) ?? 0) + us);
    const seen = new Set<string>();
    let rootName = `(no project frame) ${module}`;
    for (let frame = owner; frame !== undefined; frame = parent.get(frame)) {
      const callFrame = (byId.get(frame) as CpuProfile["nodes"][number]).callFrame;
      if (!isProject(callFrame.url, projectRoot)) continue;
      const name = label(callFrame);
      rootName = name;
      if (seen.has(name)) continue;
      seen.add(name);
      inclusive.set(name, (inclusive.get(name) ?? 0) + us);
    }
    roots.set(rootName, (roots.get(rootName) ?? 0) + us);
  }
  const sorted = (map: Map<string, number>) => [...map].sort((a, b) => b[1] - a[1]);
  return { busyUs, gcUs, byModule: sorted(modules), byFunction: sorted(functions), byProjectFunction: sorted(project), byProjectInclusive: sorted(inclusive), byProjectRoot: sorted(roots) };
}
