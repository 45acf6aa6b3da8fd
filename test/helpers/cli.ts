/** Runs the settlenet CLI (built once per source change, scripts/lib/launch/cli-build.ts) from tests, in its own process as an operator would. */
import { spawn } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { nodeArgs } from "../../scripts/lib/launch/part.js";

/** The repository root (the CLI's working directory). */
export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
/** The CLI entry point. */
export const CLI = join(PROJECT_ROOT, "scripts", "settlenet.ts");

/** Node's arguments that run `settlenet ...args` (for tests that spawn the CLI themselves). */
export function cliArgs(...args: string[]): string[] {
  return nodeArgs(CLI, ...args);
}

/** How a CLI run ended. */
export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `settlenet ...args` to completion, with `env` added to this process's environment. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, cliArgs(...args), { cwd: PROJECT_ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.once("error", reject);
    child.once("exit", (code) => resolveRun({ code, stdout, stderr }));
  });
}

/** Runs a command that must succeed (exit 0); resolves with its stdout. */
export async function runCliOk(args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  const run = await runCli(args, env);
  if (run.code !== 0) throw new Error(`settlenet ${args.join(" ")} exited ${run.code}: ${run.stderr}`);
  return run.stdout;
}
