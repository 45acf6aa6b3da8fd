/**
 * `settlenet` command line.
 *   settlenet node start --config <file>
 * Errors are reported in one line with their code; the exit status is non-zero.
 */
import { parseArgs } from "node:util";

import { pino } from "pino";

import { loadNodeConfig } from "./config.js";
import { SettlenetError } from "./errors.js";
import { startNode } from "./node.js";

const USAGE = "usage: settlenet node start --config <file>";

async function main(argv: string[]): Promise<void> {
  const [group, command, ...rest] = argv;
  if (group === "node" && command === "start") {
    const { values } = parseArgs({ args: rest, options: { config: { type: "string", short: "c" } }, strict: true });
    if (!values.config) throw new SettlenetError("USAGE", USAGE);
    const config = await loadNodeConfig(values.config);
    const logger = pino({ level: config.logLevel, base: { role: config.role } });
    const node = await startNode(config, { logger });
    let stopping = false;
    const shutdown = (signal: string) => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, "stopping");
      node.stop().then(
        () => process.exit(0),
        (error: unknown) => {
          logger.error({ err: error }, "stop failed");
          process.exit(1);
        },
      );
    };
    process.on("SIGINT", () => shutdown("SIGINT"));
    process.on("SIGTERM", () => shutdown("SIGTERM"));
    return;
  }
  if (group === "gateway") {
    // `settlenet gateway start|merchant|keys …`, loaded on demand (gateway/cli.ts prints its usage).
    const { gatewayCommand } = await import("../gateway/cli.js");
    await gatewayCommand(argv.slice(1));
    return;
  }
  throw new SettlenetError("USAGE", USAGE);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  const line = error instanceof SettlenetError ? `settlenet: ${error.code}: ${error.message}` : `settlenet: ${(error as Error).message ?? String(error)}`;
  process.stderr.write(`${line}\n`);
  process.exit(1);
});
