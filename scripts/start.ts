/**
 * `npm start`: brings up the whole local network (scripts/lib/network.ts), prints where everything
 * answers, the merchants' key ids and where their secrets are (never a secret itself) and commands to
 * try, and stops every part on Ctrl-C.
 *   npm start [-- --reset] [-- --base-port <n>] [-- --payers <n>] [-- --cycle-seconds <n>]
 *   npm start -- --chain-url <url> [--deployment <file>]   (on an existing chain, e.g. anvil: deploys or
 *                                                        reuses, funds the keys from the governance key)
 * Failures (ports in use, missing build, a part that exits) are reported in one line.
 */
import { join } from "node:path";
import { parseArgs } from "node:util";

import { SettlenetError } from "../core/errors.js";
import { DEFAULT_ROOT, LOCAL_LARGE_VALUE_THRESHOLD, caFileOf, consoleSignIn, dashboardSignIn, defaultPorts, institutionConsoleSignIn, ensureBuilt, startNetwork, type RunningNetwork } from "./lib/network.js";
import { NODE_CLIENT_CREDENTIALS_FILE } from "./lib/launch/nodes.js";
import { yuan } from "./lib/scenario.js";

const USAGE = "usage: npm start [-- --reset] [-- --base-port <n>] [-- --payers <n>] [-- --cycle-seconds <n>] [-- --dir <folder>] [-- --chain-url <url> [--deployment <file>]]";

function fail(error: unknown): never {
  const line = error instanceof SettlenetError ? `settlenet: ${error.code}: ${error.message}` : `settlenet: ${(error as Error).message ?? String(error)}`;
  process.stderr.write(`${line}\n`);
  process.exit(1);
}

/** The banner printed once everything is healthy. */
export function describeNetwork(net: RunningNetwork): string {
  const { endpoints, state } = net;
  const [merchant] = state.merchants;
  const lines = [
    "",
    `Settlenet is running (${net.fresh ? "new network" : "resumed"}; data in ${net.root}). Ctrl-C stops everything.`,
    "",
    "Endpoints",
    `  chain JSON-RPC      ${endpoints.chain}   (chain id ${state.chainId})`,
    ...endpoints.nodes.map((n) => `  ${n.name.padEnd(18)}  ${n.api}   (${n.role} node API: /health, /v1/peers, /v1/payments, /metrics; tokens per role in ${join(net.root, n.name, NODE_CLIENT_CREDENTIALS_FILE)})`),
    `  gateway             ${endpoints.gateway}   (merchant API /v1, docs ${endpoints.gateway}/docs, OpenAPI ${endpoints.gateway}/openapi.json)`,
    `  hosted checkout     ${endpoints.gateway}/checkout/<payment id>   (the checkoutUrl of each payment; payers sign with a browser wallet)`,
    `  bank simulator      ${endpoints.bank}`,
    "",
    `HTTPS: certificates of this network's development CA, ${caFileOf(net.root)}; trust it in clients, e.g.`,
    `  curl --cacert ${caFileOf(net.root)} …   or   NODE_EXTRA_CA_CERTS=${caFileOf(net.root)} node …`,
    "",
    `Merchant credentials (HMAC-signed requests; see docs/gateway.md): secrets in ${net.root}/network.json (mode 0600)`,
    ...state.merchants.map((m) => `  ${m.id.padEnd(12)} ${m.address}  key id ${m.keyId}`),
    `Gateway admin credential (admin API /admin/v1, /metrics): ${net.root}/gateway/admin-token (mode 0600)`,
    ...dashboardSignIn(net.root, endpoints.gateway, state.merchants),
    ...consoleSignIn(net.root, endpoints.nodes),
    ...institutionConsoleSignIn(net.root, endpoints.nodes),
    "",
    `Payers: ${state.payers.length} funded customers (keys in ${net.root}/network.json).`,
    `Settlement cycles: ${state.cycleSeconds ?? 86_400} s of chain time; AML large-value alerts from ${yuan(LOCAL_LARGE_VALUE_THRESHOLD)}.`,
    "",
    "Try",
    `  curl --cacert ${caFileOf(net.root)} -H "authorization: Bearer $(node -p 'require("${join(net.root, endpoints.nodes[0]?.name ?? "institution-1", NODE_CLIENT_CREDENTIALS_FILE)}").gateway')" ${endpoints.nodes[0]?.api}/v1/peers`,
    `  npx tsx scripts/request.ts --merchant ${merchant?.id ?? "tea-house"} GET /v1/payments`,
    "  npm run demo                      (in another terminal: a scenario through the gateway's HTTP API)",
    "  npm start -- --reset              (next time: start over with a new network)",
    "",
  ];
  return lines.join("\n");
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      reset: { type: "boolean" },
      "base-port": { type: "string" },
      payers: { type: "string" },
      "cycle-seconds": { type: "string" },
      dir: { type: "string" },
      "chain-url": { type: "string" },
      deployment: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const basePort = values["base-port"] === undefined ? undefined : Number(values["base-port"]);
  if (basePort !== undefined && (!Number.isInteger(basePort) || basePort < 1024 || basePort > 65_000)) throw new SettlenetError("USAGE", `--base-port must be an integer between 1024 and 65000; ${USAGE}`);
  const payers = values.payers === undefined ? undefined : Number(values.payers);
  if (payers !== undefined && (!Number.isInteger(payers) || payers < 1 || payers > 1_000)) throw new SettlenetError("USAGE", `--payers must be an integer between 1 and 1000; ${USAGE}`);
  const cycleSeconds = values["cycle-seconds"] === undefined ? undefined : Number(values["cycle-seconds"]);
  if (cycleSeconds !== undefined && (!Number.isInteger(cycleSeconds) || cycleSeconds < 10 || cycleSeconds > 86_400)) {
    throw new SettlenetError("USAGE", `--cycle-seconds must be an integer between 10 and 86400 (used when a new network is provisioned); ${USAGE}`);
  }

  const chainUrl = values["chain-url"];
  if (chainUrl !== undefined && !URL.canParse(chainUrl)) throw new SettlenetError("USAGE", `--chain-url must be a JSON-RPC URL (http://host:port); ${USAGE}`);
  if (values.deployment !== undefined && chainUrl === undefined) throw new SettlenetError("USAGE", `--deployment needs --chain-url; ${USAGE}`);

  const running: { net?: RunningNetwork } = {};
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write("stopping the network...\n");
    await running.net?.stop();
    process.stdout.write("stopped.\n");
    process.exit(code);
  };
  // Before the network is up, a Ctrl-C still stops what already started (startNetwork cleans up on error).
  let interrupted = false;
  const onSignal = () => {
    if (running.net) void stop(0);
    else interrupted = true;
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  await ensureBuilt(values.dir ?? DEFAULT_ROOT, (line) => process.stdout.write(`  ${line}\n`));
  const net = await startNetwork({
    ...(values.dir ? { root: values.dir } : { root: DEFAULT_ROOT }),
    ...(values.reset ? { reset: true } : {}),
    ...(basePort !== undefined ? { ports: defaultPorts(basePort) } : {}),
    ...(payers !== undefined ? { payers } : {}),
    ...(cycleSeconds !== undefined ? { cycleSeconds } : {}),
    ...(chainUrl !== undefined ? { chainUrl } : {}),
    ...(values.deployment !== undefined ? { deploymentFile: values.deployment } : {}),
    onProgress: (line) => process.stdout.write(`  ${line}\n`),
  });
  running.net = net;
  if (interrupted) return stop(0);
  process.stdout.write(`${describeNetwork(net)}\n`);
  const failure = await net.failure;
  process.stderr.write(`settlenet: PART_EXITED: ${failure.part} exited (${failure.how})${failure.lastLine ? `: ${failure.lastLine}` : ""} (log: ${failure.logFile}); stopping the network\n`);
  await stop(1);
}

main().catch(fail);
