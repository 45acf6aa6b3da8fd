/**
 * The launcher's local chain as its own process (EDR JSON-RPC on loopback, journaled to its data
 * directory and replayed on restart; see scripts/lib/launch/chain-server.ts).
 *   tsx scripts/chain.ts --data-dir <dir> --port <port> [--host 127.0.0.1]
 */
import { parseArgs } from "node:util";

import { pino } from "pino";

import { SettlenetError } from "../core/errors.js";
import { stopOnSignal } from "../core/lifecycle.js";
import { startPersistentChain } from "./lib/launch/chain-server.js";

const USAGE = "usage: tsx scripts/chain.ts --data-dir <dir> --port <port> [--host <host>]";

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { "data-dir": { type: "string" }, port: { type: "string" }, host: { type: "string" } }, strict: true });
  const port = Number(values.port);
  if (!values["data-dir"] || !Number.isInteger(port) || port < 0 || port > 65_535) throw new SettlenetError("USAGE", USAGE);
  const logger = pino({ base: { role: "chain" } });
  const chain = await startPersistentChain({ dataDir: values["data-dir"], port, ...(values.host ? { host: values.host } : {}) }, { logger });
  stopOnSignal(logger, () => chain.close());
}

main().catch((error: unknown) => {
  const line = error instanceof SettlenetError ? `chain: ${error.code}: ${error.message}` : `chain: ${(error as Error).message ?? String(error)}`;
  process.stderr.write(`${line}\n`);
  process.exit(1);
});
