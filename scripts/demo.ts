/**
 * `npm run demo`: runs the demo scenario (scripts/lib/scenario.ts) through the gateway's HTTP API of
 * the network `npm start` runs, or starts that network itself (same library) and stops it afterwards.
 *   npm run demo [-- --size full|test] [-- --payments <n> --payers <n>] [-- --dir <folder>] [-- --base-port <n>]
 *                [-- --chain-url <url> [--deployment <file>]]   (a network it starts itself runs on that chain)
 * Exits 0 only if every check held.
 */
import { resolve } from "node:path";
import { parseArgs } from "node:util";

import { SettlenetError } from "../core/errors.js";

import { DEFAULT_ROOT, consoleSignIn, dashboardSignIn, defaultPorts, institutionConsoleSignIn, endpointsOf, ensureBuilt, readNetworkState, runningLauncher, startNetwork, trustNetworkCa, type NetworkPorts, type RunningNetwork } from "./lib/network.js";
import { SCENARIO_SIZES, consoleProgress, formatSummary, runScenario, type ScenarioSize } from "./lib/scenario.js";

const USAGE = "usage: npm run demo [-- --size full|test] [-- --payments <n> --payers <n>] [-- --dir <folder>] [-- --base-port <n>] [-- --chain-url <url> [--deployment <file>]]";

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { size: { type: "string" }, payments: { type: "string" }, payers: { type: "string" }, dir: { type: "string" }, "base-port": { type: "string" }, "chain-url": { type: "string" }, deployment: { type: "string" } },
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
  const root = resolve(values.dir ?? DEFAULT_ROOT);
  const basePort = values["base-port"] === undefined ? undefined : positive(values["base-port"], 0);
  if (basePort !== undefined && (basePort < 1024 || basePort > 65_000)) throw new SettlenetError("USAGE", `--base-port must be between 1024 and 65000; ${USAGE}`);

  let started: RunningNetwork | undefined;
  let ports: NetworkPorts;
  const running = runningLauncher(root);
  if (running) {
    ports = running.ports;
    process.stdout.write(`Using the network running from ${root} (gateway https://127.0.0.1:${ports.gateway}).\n`);
    await trustNetworkCa(root);
  } else {
    process.stdout.write(`No network is running from ${root}; starting one (stopped again at the end).\n`);
    await ensureBuilt(root, (line) => process.stdout.write(`  ${line}\n`));
    started = await startNetwork({
      root,
      payers: Math.max(size.payers, 20),
      logLevel: "warn",
      ...(basePort !== undefined ? { ports: defaultPorts(basePort) } : {}),
      ...(values["chain-url"] !== undefined ? { chainUrl: values["chain-url"] } : {}),
      ...(values.deployment !== undefined ? { deploymentFile: values.deployment } : {}),
      onProgress: (line) => process.stdout.write(`  ${line}\n`),
    });
    ports = started.ports;
    const stopOnSignal = () => void started?.stop().then(() => process.exit(130));
    process.once("SIGINT", stopOnSignal);
    process.once("SIGTERM", stopOnSignal);
  }
  try {
    const state = started?.state ?? (await readNetworkState(root));
    if (!state) throw new SettlenetError("NETWORK_STATE_MISSING", `${root}/network.json is missing; start over with npm start -- --reset`);
    process.stdout.write(`Scenario: ${size.payments} payments from ${size.payers} payers to ${state.merchants.length} merchants, then a large-value payment.\n`);
    const summary = await runScenario({ root, endpoints: endpointsOf(ports, state), state, size, progress: consoleProgress() });
    process.stdout.write(`${formatSummary(summary)}\n\n`);
    process.stdout.write(summary.ok ? "Every check held.\n\n" : `${summary.checks.filter((c) => !c.ok).length} checks failed.\n\n`);
    // Last, so it is what the reader sees: the consoles' sign-ins, and the dashboard's, where the demo's
    // payments are the merchants', kept in the gateway's database under the root (npm start from the same
    // directory shows them again).
    const endpoints = endpointsOf(ports, state);
    const signIn = [...consoleSignIn(root, endpoints.nodes), ...institutionConsoleSignIn(root, endpoints.nodes), ...dashboardSignIn(root, endpoints.gateway, state.merchants)];
    process.stdout.write(`${signIn.join("\n")}\n${started ? "(this network stops now: `npm start` runs it again with these payments and keeps it running)\n" : ""}`);
    return summary.ok ? 0 : 1;
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
