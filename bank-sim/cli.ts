/** The bank simulator's command (dispatched from scripts/settlenet.ts): `settlenet bank start --config <file>`. */
import { parseArgs } from "node:util";

import { pino } from "pino";

import { SettlenetError } from "../core/errors.js";
import { stopOnSignal } from "../core/lifecycle.js";
import { loadBankConfig, startBankServer } from "./server.js";

const USAGE = "usage: settlenet bank start --config <file>";

/** Runs one `settlenet bank` command; `args` are the words after `bank`. */
export async function bankCommand(args: string[]): Promise<void> {
  const [command, ...rest] = args;
  if (command !== "start") throw new SettlenetError("USAGE", USAGE);
  const { values } = parseArgs({ args: rest, options: { config: { type: "string", short: "c" } }, strict: true });
  if (!values.config) throw new SettlenetError("USAGE", USAGE);
  const config = await loadBankConfig(values.config);
  const logger = pino({ level: config.logLevel, base: { role: "bank" } });
  const bank = await startBankServer(config, { logger });
  stopOnSignal(logger, () => bank.close());
}
