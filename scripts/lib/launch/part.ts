/**
 * One part of a local network (chain, node, gateway, bank simulator) as a child process (the settlenet
 * CLI from its build, other scripts through tsx) in its own process group with its output appended to
 * its log file, waited for until it is ready, and stopped with its whole group. `npm start`, the
 * end-to-end tests and the benchmarks launch every process this way.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync, readFileSync, statSync } from "node:fs";
import { chmod, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { SettlenetError } from "../../../core/errors.js";
import { settlenetCliEntry } from "./cli-build.js";

/** The repository root (every part's working directory). */
export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
/** The settlenet CLI entry point (`settlenet node|gateway|bank start ...`). */
export const SETTLENET_CLI = join(PROJECT_ROOT, "scripts", "settlenet.ts");

/** One part of the network running as its own process group. */
export interface ChildPart {
  name: string;
  logFile: string;
  process: ChildProcess;
  /** Resolves when the process exits, with how. */
  exited: Promise<string>;
  /** Sends `signal` (SIGTERM by default) to the process group, SIGKILL after the part's stop timeout; resolves once it exited. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export interface PartOptions {
  name: string;
  /** The script and its arguments (see nodeArgs). */
  args: string[];
  logFile: string;
  /** Added to this process's environment. */
  env?: NodeJS.ProcessEnv;
  /** How long stop() waits after its signal before SIGKILL (default 15 s). */
  stopTimeoutMs?: number;
  /** Run inside this network namespace (`ip netns exec`, which execs: the pid and process group stay the part's). */
  netns?: string;
}

/** Arguments that run the settlenet CLI with `args`, for PartOptions.args. */
export function settlenet(...args: string[]): string[] {
  return [SETTLENET_CLI, ...args];
}

/**
 * V8 flags of every part: semi-spaces (the young generation, where short-lived objects are collected)
 * of up to 64 MiB instead of V8's default 16 MiB. Every part allocates short-lived objects at a high
 * rate (requests, gossip messages, JSON answers); with the default, V8 spends much of a node's CPU in
 * young-generation collections on its helper threads, which profiles of the main thread do not show.
 * docs/scaling.md has the measurement. An operator running the CLI directly sets the same flag
 * (README, "Against a production chain").
 */
export const PART_V8_FLAGS: readonly string[] = ["--max-semi-space-size=64"];

/**
 * Node's arguments for `script args...`: the settlenet CLI runs from its build (cli-build.ts), any
 * other TypeScript script through tsx; both with PART_V8_FLAGS.
 */
export function nodeArgs(script: string, ...args: string[]): string[] {
  return [...PART_V8_FLAGS, ...(script === SETTLENET_CLI ? [settlenetCliEntry(), ...args] : ["--import", "tsx", script, ...args])];
}

/** Starts a part; it runs until stop() or until it exits by itself (see `exited`). */
export function spawnPart(options: PartOptions): ChildPart {
  const { name, logFile } = options;
  const stopTimeoutMs = options.stopTimeoutMs ?? 15_000;
  const fd = openSync(logFile, "a");
  // Own process group (detached): Ctrl-C in the terminal reaches only the launcher, which stops the
  // parts in order; the IPC channel lets a part notice that the launcher died (core/lifecycle.ts) and
  // carries what a part reports (the chain's URL).
  const [script = "", ...scriptArgs] = options.args;
  const command = [process.execPath, ...nodeArgs(script, ...scriptArgs)];
  if (options.netns) command.unshift("ip", "netns", "exec", options.netns);
  const [file = process.execPath, ...args] = command;
  const child = spawn(file, args, {
    cwd: PROJECT_ROOT,
    env: { ...process.env, ...options.env },
    detached: true,
    stdio: ["ignore", fd, fd, "ipc"],
  });
  closeSync(fd);
  const exited = new Promise<string>((resolveExit) => {
    child.once("exit", (code, signal) => resolveExit(signal ? `signal ${signal}` : `code ${code}`));
    child.once("error", (error) => resolveExit(`spawn error ${error.message}`));
  });
  return {
    name,
    logFile,
    process: child,
    exited,
    async stop(signal: NodeJS.Signals = "SIGTERM") {
      const pid = child.pid;
      if (pid === undefined) return;
      const signalGroup = (sent: NodeJS.Signals) => {
        try {
          process.kill(-pid, sent);
        } catch {
          // ESRCH: the group is gone.
        }
      };
      if (child.exitCode === null && child.signalCode === null) {
        signalGroup(signal);
        const timer = setTimeout(() => signalGroup("SIGKILL"), stopTimeoutMs);
        await exited;
        clearTimeout(timer);
      }
      // Anything the part started in its group goes with it.
      signalGroup("SIGKILL");
    },
  };
}

/** The last meaningful line of a log (the CLI's one-line error, or the last pino error). */
export function lastLogLine(logFile: string): string {
  let text: string;
  try {
    text = readFileSync(logFile, "utf8");
  } catch {
    return "";
  }
  const lines = text.split("\n").map((l) => l.trim()).filter(Boolean);
  for (const line of lines.reverse()) {
    // A crash's stack trace ends in frames and the error object's fields: its message is above them.
    if (/^(at |\}|\{$|\[|[a-zA-Z]+: ['"\d-]|[a-zA-Z]+: undefined)/.test(line) && !/^[A-Z]\w*Error\b/.test(line)) continue;
    if (!line.startsWith("{")) return line;
    try {
      const entry = JSON.parse(line) as { level?: number; msg?: string; err?: { message?: string } };
      if ((entry.level ?? 0) >= 50) return `${entry.msg ?? ""}${entry.err?.message ? `: ${entry.err.message}` : ""}`;
    } catch {
      return line;
    }
  }
  return "";
}

/** PART_EXITED: `part` exited (`how`) while the launcher still needed it, with its log's last line. */
export function partExited(part: ChildPart, how: string): SettlenetError {
  const last = lastLogLine(part.logFile);
  return new SettlenetError("PART_EXITED", `${part.name} exited (${how}) while starting${last ? `: ${last}` : ""} (log: ${part.logFile})`, { part: part.name });
}

/** Pause between readiness checks: a start waits half of it on average after the part is ready, and networks start often (tests). */
const READY_POLL_MS = 50;

/**
 * Polls `check` until it holds; refuses with PART_EXITED as soon as the part exits and with
 * PART_NOT_READY after `timeoutMs`.
 */
export async function waitReady(part: ChildPart, what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  let exit: string | undefined;
  void part.exited.then((how) => (exit = how));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exit !== undefined) throw partExited(part, exit);
    try {
      if (await check()) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new SettlenetError("PART_NOT_READY", `${part.name} did not become ready (${what}) within ${Math.round(timeoutMs / 1000)} s (log: ${part.logFile})`, { part: part.name });
    await new Promise((r) => setTimeout(r, READY_POLL_MS));
  }
}

/** The size of `file` (0 if it does not exist yet): where what a part logs from now on starts. */
export function logOffset(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

/** The first JSON line with `msg` in `logFile` after byte `offset` (undefined: none yet). */
function loggedEntry(logFile: string, offset: number, msg: string): Record<string, unknown> | undefined {
  let text: string;
  try {
    text = readFileSync(logFile).subarray(offset).toString("utf8");
  } catch {
    return undefined;
  }
  for (const line of text.split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      const entry = JSON.parse(line) as Record<string, unknown>;
      if (entry["msg"] === msg) return entry;
    } catch {
      // A line still being written.
    }
  }
  return undefined;
}

/**
 * Waits until the part logs `msg` (a JSON log line written after byte `offset` of its log) and returns
 * that entry: how a part started on port 0 reports where it listens. Refuses as waitReady does.
 */
export async function waitLogged(part: ChildPart, msg: string, offset: number, timeoutMs: number): Promise<Record<string, unknown>> {
  let entry: Record<string, unknown> | undefined;
  await waitReady(part, `log "${msg}"`, async () => (entry = loggedEntry(part.logFile, offset, msg)) !== undefined, timeoutMs);
  return entry as Record<string, unknown>;
}

/** Waits until the part's `GET <baseUrl>/health` answers 200 (see waitReady). */
export function waitHealthy(part: ChildPart, baseUrl: string, timeoutMs: number): Promise<void> {
  return waitReady(part, "GET /health", async () => (await fetch(`${baseUrl}/health`, { signal: AbortSignal.timeout(5_000) })).status === 200, timeoutMs);
}

/** Writes a part's JSON configuration file (mode 0600). */
export async function writeConfig(file: string, config: unknown): Promise<void> {
  // Configs may hold secrets (callback secrets, credentials): readable by their owner only, also when rewritten.
  await writeFile(file, JSON.stringify(config, null, 2), { mode: 0o600 });
  await chmod(file, 0o600);
}

/** Runs the settlenet CLI to completion (an operator's one-off command); resolves with its stdout, refuses on a non-zero exit. */
export function runSettlenet(args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, nodeArgs(SETTLENET_CLI, ...args), { cwd: PROJECT_ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString()));
    child.once("error", reject);
    child.once("exit", (code) => (code === 0 ? resolveRun(out) : reject(new Error(`settlenet ${args.join(" ")} exited ${code}: ${err}`))));
  });
}

type Stop = () => Promise<void>;

/**
 * What a launcher started, stopped in the reverse order of starting: the parts of one stage stop
 * together, and each stage waits until all of its parts are gone before the one started before it.
 */
export class StopOrder {
  private readonly stages: Stop[][] = [];

  /** Adds a stage started after every earlier one; more stops can join it with `add`. */
  stage(...stops: Stop[]): { add(stop: Stop): void } {
    const stage = [...stops];
    this.stages.push(stage);
    return { add: (stop) => void stage.push(stop) };
  }

  /** Stops every stage, latest first; a failing stop does not keep the others from running (the first failure is thrown at the end). */
  async stop(): Promise<void> {
    let failure: { error: unknown } | undefined;
    for (const stage of this.stages.splice(0).reverse()) {
      for (const result of await Promise.allSettled(stage.map((stop) => stop()))) {
        if (result.status === "rejected") failure ??= { error: result.reason };
      }
    }
    if (failure) throw failure.error;
  }
}
