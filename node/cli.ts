/**
 * `settlenet` command line.
 *   settlenet node start --config <file>
 *   settlenet bank start --config <file>   (the bank simulator, gateway/bank/server.ts)
 *   settlenet report statement --cycle <id> --merchant|--institution <address> [--format json|csv] --api <url>
 *   settlenet node backup|restore …        (node/backup/cli.ts)
 *   settlenet report aml|reserves …        (node/compliance/cli.ts)
 *   settlenet report reconcile …           (gateway/report.ts: the gateway's dropped-order repairs)
 *   settlenet report threeway …            (gateway/threeway-cli.ts: gateway vs chain vs bank)
 *   settlenet gateway …                    (gateway/cli.ts)
 * Errors are reported in one line with their code; the exit status is non-zero.
 */
import { parseArgs } from "node:util";

import { pino } from "pino";

import { SettlenetError } from "./errors.js";
import { stopOnSignal } from "./lifecycle.js";

const USAGE =
  "usage: settlenet node start|backup|restore … | settlenet bank start --config <file> | settlenet gateway … | settlenet report statement|aml|reserves|reconcile|threeway …";

async function main(argv: string[]): Promise<void> {
  const [group, command, ...rest] = argv;
  if ((group === "node" || group === "bank") && command === "start") {
    const { values } = parseArgs({ args: rest, options: { config: { type: "string", short: "c" } }, strict: true });
    if (!values.config) throw new SettlenetError("USAGE", USAGE);
    // Each component is loaded on demand, so one command does not pay for the others' start-up.
    if (group === "bank") {
      const { loadBankConfig, startBankServer } = await import("../gateway/bank/server.js");
      const config = await loadBankConfig(values.config);
      const logger = pino({ level: config.logLevel, base: { role: "bank" } });
      const bank = await startBankServer(config, { logger });
      stopOnSignal(logger, () => bank.close());
      return;
    }
    const { loadNodeConfig } = await import("./config.js");
    const { startNode } = await import("./node.js");
    const config = await loadNodeConfig(values.config);
    const logger = pino({ level: config.logLevel, base: { role: config.role } });
    const node = await startNode(config, { logger });
    stopOnSignal(logger, () => node.stop());
    return;
  }
  if (group === "node" && (command === "backup" || command === "restore")) {
    const { nodeDataCommand } = await import("./backup/cli.js");
    await nodeDataCommand(command, rest);
    return;
  }
  if (group === "report" && (command === "aml" || command === "reserves")) {
    const { reportCommand } = await import("./compliance/cli.js");
    await reportCommand(command, rest);
    return;
  }
  if (group === "gateway") {
    // `settlenet gateway start|merchant|keys …`, loaded on demand (gateway/cli.ts prints its usage).
    const { gatewayCommand } = await import("../gateway/cli.js");
    await gatewayCommand(argv.slice(1));
    return;
  }
  if (group === "report" && command === "reconcile") {
    // The gateway's dropped-order repair log (gateway/report.ts).
    const { reconcileReportCommand } = await import("../gateway/report.js");
    await reconcileReportCommand(rest);
    return;
  }
  if (group === "report" && command === "threeway") {
    // Gateway orders vs chain (node API) vs bank simulator (gateway/threeway-cli.ts).
    const { threeWayReportCommand } = await import("../gateway/threeway-cli.js");
    await threeWayReportCommand(rest);
    return;
  }
  if (group === "report") {
    // `settlenet report statement …` reads a running node's audit API (node/audit/report-cli.ts).
    const { reportCommand } = await import("./audit/report-cli.js");
    await reportCommand(argv.slice(1));
    return;
  }
  throw new SettlenetError("USAGE", USAGE);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  const line = error instanceof SettlenetError ? `settlenet: ${error.code}: ${error.message}` : `settlenet: ${(error as Error).message ?? String(error)}`;
  process.stderr.write(`${line}\n`);
  process.exit(1);
});
