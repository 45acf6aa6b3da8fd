/**
 * `npm run demo`: runs the demo scenario (scripts/lib/scenario.ts) through the gateway's HTTP API of
 * the network `npm start` runs, or starts that network itself (same library) and stops it afterwards.
 *   npm run demo [-- --size full|test] [-- --payments <n> --payers <n>] [-- --skip-missing] [-- --dir <folder>]
 * Exits 0 only if every check held (and, without --skip-missing, every step could run).
 */
import { parseArgs } from "node:util";

import { SettlenetError } from "../node/errors.js";
import { DEFAULT_ROOT, ensureBuilt, readNetworkState, runningLauncher, startNetwork, type RunningNetwork } from "./lib/network.js";
import { SCENARIO_SIZES, consoleProgress, formatSummary, runScenario, type ScenarioSize } from "./lib/scenario.js";

const USAGE = "usage: npm run demo [-- --size full|test] [-- --payments <n> --payers <n>] [-- --skip-missing] [-- --dir <folder>]";

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { size: { type: "string" }, payments: { type: "string" }, payers: { type: "string" }, "skip-missing": { type: "boolean" }, dir: { type: "string" } },
    strict: true,
  });
  const preset = values.size ?? "full";
  if (preset !== "full" && preset !== "test") throw new SettlenetError("USAGE", USAGE);
  const positive = (text: string | undefined, fallback: number) => {
    if (text === undefined) return fallback;
    const n = Number(text);
    if (!Number.isInteger(n) || n < 1 || n > 100_000) throw new SettlenetError("USAGE", USAGE);
    return n;
  };
  const size: ScenarioSize = { payments: positive(values.payments, SCENARIO_SIZES[preset].payments), payers: positive(values.payers, SCENARIO_SIZES[preset].payers) };
  const root = values.dir ?? DEFAULT_ROOT;

  let started: RunningNetwork | undefined;
  let gateway: string;
  const running = runningLauncher(root);
  if (running) {
    gateway = `http://127.0.0.1:${running.ports.gateway}`;
    process.stdout.write(`Using the network running from ${root} (gateway ${gateway}).\n`);
  } else {
    process.stdout.write(`No network is running from ${root}; starting one (stopped again at the end).\n`);
    await ensureBuilt(root, (line) => process.stdout.write(`  ${line}\n`));
    started = await startNetwork({ root, payers: Math.max(size.payers, 20), logLevel: "warn", onProgress: (line) => process.stdout.write(`  ${line}\n`) });
    gateway = started.endpoints.gateway;
    const stopOnSignal = () => void started?.stop().then(() => process.exit(130));
    process.once("SIGINT", stopOnSignal);
    process.once("SIGTERM", stopOnSignal);
  }
  try {
    const state = started?.state ?? (await readNetworkState(root));
    if (!state) throw new SettlenetError("NETWORK_STATE_MISSING", `${root}/network.json is missing; start over with npm start -- --reset`);
    process.stdout.write(`Scenario: ${size.payments} payments from ${size.payers} payers to ${state.merchants.length} merchants.\n`);
    const summary = await runScenario({ gateway, state, size, progress: consoleProgress() });
    process.stdout.write(`${formatSummary(summary)}\n\n`);
    const complete = summary.missing.length === 0 || values["skip-missing"] === true;
    if (summary.ok && complete) {
      process.stdout.write("Every check held.\n");
      return 0;
    }
    process.stdout.write(summary.ok ? `Every check that ran held, but ${summary.missing.length} steps could not run (--skip-missing accepts that).\n` : "Some checks failed.\n");
    return 1;
  } finally {
    await started?.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`settlenet: ${error instanceof SettlenetError ? `${error.code}: ` : ""}${(error as Error).message}\n`);
    process.exit(1);
  },
);
