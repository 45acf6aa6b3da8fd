/**
 * `npm test`: the Solidity tests (fuzz and invariants, CPU-bound in EDR) beside the mocha tests (mostly
 * waiting on real processes), not one after the other, and the mocha test files in TEST_JOBS workers
 * side by side. Contracts, the settlenet CLI's build and the console are built once first so that
 * no two runners or workers build the same thing at once. Mocha prints each test file's output when
 * it ends; the Solidity runner's is printed whole when it ends. Exits non-zero if either fails. With
 * arguments it is plain `hardhat test <arguments>`.
 */
import { spawn } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

import { settlenetCliEntry as buildCli } from "./lib/launch/cli-build.js";
import { ensureConsoleBuilt } from "./lib/launch/console.js";

/**
 * Mocha's worker processes (SETTLENET_TEST_JOBS overrides it): the tests mostly wait on the processes
 * they start, so test files run side by side; three keep two cores busier than two did (on a clean
 * clone here, 343 s instead of 451 s for the same CPU).
 */
const TEST_JOBS = 3;

function run(args: string[], output: "inherit" | "collect", env: NodeJS.ProcessEnv = {}): Promise<{ code: number; text: string }> {
  return new Promise((resolveRun) => {
    const child = spawn(process.execPath, [HARDHAT, ...args], { stdio: output === "inherit" ? "inherit" : ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
    let text = "";
    child.stdout?.on("data", (chunk: Buffer) => (text += chunk.toString()));
    child.stderr?.on("data", (chunk: Buffer) => (text += chunk.toString()));
    child.once("error", (error) => resolveRun({ code: 1, text: `${text}${error.message}\n` }));
    child.once("exit", (code, signal) => resolveRun({ code: code ?? (signal ? 1 : 0), text }));
  });
}

const HARDHAT = new URL("../node_modules/hardhat/dist/src/cli.js", import.meta.url).pathname;
const PROJECT_ROOT = fileURLToPath(new URL("..", import.meta.url));
/** Each test file's time in the last whole run (scripts/lib/mocha/reporter.mjs writes it; in hardhat's cache folder). */
const TIMES_FILE = join(PROJECT_ROOT, "cache", "mocha-times.json");
/**
 * Test files that run alone, after the others and the Solidity tests: the relay's backlog test judges
 * that no lease lapses while its holder works, which another test file's processes taking the CPU can
 * make happen. (The relay's other fault tests, test/e2e/faults.test.ts, hold up beside other files.)
 */
const ALONE = ["test/e2e/relay-backlog.test.ts"];
const ALONE_TIMES_FILE = join(PROJECT_ROOT, "cache", "mocha-times-alone.json");

/** The files `hardhat test mocha` runs when given none: every script under test/. */
function mochaFiles(): string[] {
  const dir = join(PROJECT_ROOT, "test");
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((file) => /\.(ts|cts|mts|js|cjs|mjs)$/i.test(file))
    .map((file) => join("test", file))
    .sort();
}

/** What a test file that starts processes, a chain or a browser calls: such files take seconds, the others milliseconds. */
const STARTS_SOMETHING = /launchNetwork|launchNodes|launchCustodianNetwork|launchConsoleBrowser|launchGateway|startNetwork|startTestChain|startChain\(|RelayFixture|runCli|spawn\(/;

/**
 * The files in the order the workers should take them: the slowest of the last whole run first, so
 * that no long file starts last while the other workers idle. Files the last run did not time (new,
 * or no run yet, as on a fresh clone) come before those, by a guess from their source: files that
 * start processes, a chain or a browser first, longer files before shorter ones (on the times of a
 * whole run, this packs two workers within a second of slowest-first; path order took 18 s longer).
 */
function slowestFirst(files: string[]): string[] {
  let last: Record<string, { ms: number }> = {};
  try {
    last = (JSON.parse(readFileSync(TIMES_FILE, "utf8")) as { files: Record<string, { ms: number }> }).files;
  } catch {
    // No whole run yet.
  }
  const ms = (file: string) => last[file]?.ms ?? Infinity;
  const guess = new Map<string, number>();
  for (const file of files) {
    if (last[file]) continue;
    const source = readFileSync(join(PROJECT_ROOT, file), "utf8");
    guess.set(file, (STARTS_SOMETHING.test(source) ? 1e9 : 0) + source.length);
  }
  return [...files].sort((a, b) => ms(b) - ms(a) || (guess.get(b) ?? 0) - (guess.get(a) ?? 0) || a.localeCompare(b));
}

/**
 * Node's compile cache for every process the tests start (workers, nodes, gateways, CLI runs): each
 * of the hundreds of processes loads the same bundles and packages, and V8 compiling them was about a
 * sixth of a process's start-up CPU. In hardhat's cache folder (ignored by git, emptied by `hardhat clean`).
 */
const COMPILE_CACHE_DIR = join(PROJECT_ROOT, "cache", "node-compile-cache");

async function main(): Promise<number> {
  process.env["NODE_COMPILE_CACHE"] ??= COMPILE_CACHE_DIR;
  const args = process.argv.slice(2);
  if (args.length > 0) return (await run(["test", ...args], "inherit")).code;
  const build = await run(["build"], "inherit");
  if (build.code !== 0) return build.code;
  // Built once here, not by the first test that needs it: the mocha workers would build them at once.
  buildCli();
  const consoleBuild = await ensureConsoleBuilt();
  if (!consoleBuild.built) {
    process.stderr.write(`npm test: the console did not build:\n${consoleBuild.output}`);
    return 1;
  }
  const started = Date.now();
  const solidity = run(["test", "solidity", "--no-compile"], "collect");
  const files = mochaFiles();
  const side = await run(["test", "mocha", "--no-compile", ...slowestFirst(files.filter((file) => !ALONE.includes(file)))], "inherit", {
    SETTLENET_TEST_JOBS: process.env["SETTLENET_TEST_JOBS"] ?? String(TEST_JOBS),
    SETTLENET_TEST_TIMES: TIMES_FILE,
  });
  const contracts = await solidity;
  const alone = files.some((file) => ALONE.includes(file)) ? await run(["test", "mocha", "--no-compile", ...ALONE], "inherit", { SETTLENET_TEST_JOBS: "1", SETTLENET_TEST_TIMES: ALONE_TIMES_FILE }) : { code: 0 };
  const mocha = { code: side.code || alone.code };
  process.stdout.write(`\nSolidity tests (run beside the mocha tests):\n${contracts.text}`);
  const seconds = Math.round((Date.now() - started) / 1000);
  const failed = [...(contracts.code !== 0 ? ["Solidity"] : []), ...(mocha.code !== 0 ? ["mocha"] : [])];
  process.stdout.write(`\nnpm test: ${failed.length === 0 ? "Solidity and mocha tests passed" : `${failed.join(" and ")} tests failed`} in ${seconds} s\n`);
  return failed.length === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
