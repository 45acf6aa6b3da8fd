/**
 * The node's commands (dispatched from scripts/settlenet.ts):
 *   settlenet node start --config <file>
 *   settlenet node backup|restore …        (backup/cli.ts)
 *   settlenet node credentials|user|audit …  (api/admin-cli.ts)
 *   settlenet report statement …           (audit/report-cli.ts: from a running node's audit API)
 *   settlenet report aml|reserves …        (compliance/cli.ts)
 */
import { parseArgs } from "node:util";

import { pino } from "pino";

import { applyClockOffsetFromEnv } from "../core/clock-offset.js";
import { SettlenetError } from "../core/errors.js";
import { stopOnSignal } from "../core/lifecycle.js";

const USAGE = "usage: settlenet node start --config <file> | settlenet node backup|restore … | settlenet node credentials create|list|revoke … | settlenet node user create|list|remove|disable|enable … | settlenet node audit verify … | settlenet report statement|aml|reserves …";

/** Runs one node command; `argv` starts with the group (`node` or `report`). */
export async function nodeCommand(argv: string[]): Promise<void> {
  const [group, command, ...rest] = argv;
  if (group === "node" && command === "start") {
    const { values } = parseArgs({ args: rest, options: { config: { type: "string", short: "c" } }, strict: true });
    if (!values.config) throw new SettlenetError("USAGE", USAGE);
    const { loadNodeConfig } = await import("./config.js");
    const { startNode } = await import("./node.js");
    const config = await loadNodeConfig(values.config);
    const logger = pino({ level: config.logLevel, base: { role: config.role } });
    const clockOffsetMs = applyClockOffsetFromEnv();
    if (clockOffsetMs !== 0) logger.warn({ clockOffsetMs }, "fault-test clock offset set: this node's wall clock is off by that much");
    const node = await startNode(config, { logger });
    stopOnSignal(logger, () => node.stop());
    return;
  }
  if (group === "node" && (command === "backup" || command === "restore")) {
    const { nodeDataCommand } = await import("./backup/cli.js");
    return nodeDataCommand(command, rest);
  }
  if (group === "node" && command === "credentials") {
    const { credentialsCommand } = await import("./api/admin-cli.js");
    return credentialsCommand(rest);
  }
  if (group === "node" && command === "user") {
    const { userCommand } = await import("./api/admin-cli.js");
    return userCommand(rest);
  }
  if (group === "node" && command === "audit") {
    const { auditCommand } = await import("./api/admin-cli.js");
    return auditCommand(rest);
  }
  if (group === "report" && (command === "aml" || command === "reserves")) {
    const { reportCommand } = await import("./compliance/cli.js");
    return reportCommand(command, rest);
  }
  if (group === "report" && command === "statement") {
    const { reportCommand } = await import("./audit/report-cli.js");
    return reportCommand(argv.slice(1));
  }
  throw new SettlenetError("USAGE", USAGE);
}
