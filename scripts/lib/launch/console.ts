/**
 * The console's build (console/ into console/dist, scripts/build-console.mjs) for the launcher and the
 * browser tests: built once when missing. The gateway runs without it (its pages answer 503), so a
 * failed build is reported, not fatal, to `npm start`.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const PROJECT_ROOT = fileURLToPath(new URL("../../..", import.meta.url));
/** The built console's page. */
export const CONSOLE_INDEX = join(PROJECT_ROOT, "console", "dist", "index.html");

/** Builds the console unless it is built; resolves to false (and the build's output) if the build fails. */
export async function ensureConsoleBuilt(): Promise<{ built: boolean; output: string }> {
  if (existsSync(CONSOLE_INDEX)) return { built: true, output: "" };
  const script = join(PROJECT_ROOT, "scripts", "build-console.mjs");
  return new Promise((resolveBuild) => {
    let output = "";
    const child = spawn(process.execPath, [script, "--if-missing"], { cwd: PROJECT_ROOT, stdio: ["ignore", "pipe", "pipe"] });
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.once("exit", (code) => resolveBuild({ built: code === 0 && existsSync(CONSOLE_INDEX), output }));
    child.once("error", (error) => resolveBuild({ built: false, output: error.message }));
  });
}
