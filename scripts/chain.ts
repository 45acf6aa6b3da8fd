/**
 * The launcher's local chain as its own process: EDR JSON-RPC on loopback, journaled to its data
 * directory and replayed on restart (see scripts/lib/launch/chain-server.ts), or in memory only
 * without --data-dir. Started by a launcher (scripts/lib/launch/chain.ts), it reports its URL over
 * the IPC channel once it listens.
 *   tsx scripts/chain.ts [--data-dir <dir>] [--port <port>] [--host 127.0.0.1]
 */
import { parseArgs } from "node:util";

import { pino } from "pino";

import { SettlenetError } from "../core/errors.js";
import { stopOnSignal } from "../core/lifecycle.js";
import { startChain, type ChainListening } from "./lib/launch/chain.js";
import { startPersistentChain } from "./lib/launch/chain-server.js";
import { countRpcRequests } from "./lib/launch/chain-rpc-counts.js";

const USAGE = "usage: tsx scripts/chain.ts [--data-dir <dir>] [--port <port>] [--host <host>]";

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { "data-dir": { type: "string" }, port: { type: "string" }, host: { type: "string" } }, strict: true });
  const port = Number(values.port ?? 0);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new SettlenetError("USAGE", USAGE);
  const logger = pino({ base: { role: "chain" } });
  // Every request passing the network hooks is counted: a journaled chain's own reads of each mined block (in-process) too.
  const served = await countRpcRequests();
  let chain: { url: string; replayedBlocks: number; close(): Promise<void> };
  if (values["data-dir"]) {
    chain = await startPersistentChain({ dataDir: values["data-dir"], port, ...(values.host ? { host: values.host } : {}) }, { logger });
  } else {
    chain = { ...(await startChain({ port, ...(values.host ? { host: values.host } : {}) })), replayedBlocks: 0 };
    logger.info({ url: chain.url }, "chain listening (in memory, not journaled)");
  }
  stopOnSignal(logger, async () => {
    logger.info({ requests: served.counts() }, "JSON-RPC requests served, by method");
    served.stop();
    await chain.close();
  });
  const listening: ChainListening = { kind: "listening", url: chain.url, replayedBlocks: chain.replayedBlocks };
  process.send?.(listening);
}

main().catch((error: unknown) => {
  const line = error instanceof SettlenetError ? `chain: ${error.code}: ${error.message}` : `chain: ${(error as Error).message ?? String(error)}`;
  process.stderr.write(`${line}\n`);
  process.exit(1);
});
