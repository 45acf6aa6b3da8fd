/**
 * `settlenet` command line: dispatches to the command modules of each process, loaded on demand so
 * that one command does not pay for the others' start-up.
 *   settlenet node start|backup|restore|credentials|audit …  (node/cli.ts)
 *   settlenet report statement|aml|reserves …       (node/cli.ts: a node's audit and compliance reports)
 *   settlenet gateway start|merchant|keys …         (gateway/cli.ts)
 *   settlenet report reconcile|threeway …           (gateway/cli.ts: the gateway's reports)
 *   settlenet bank start --config <file>            (bank-sim/cli.ts: the bank simulator)
 * Errors are reported in one line with their code; the exit status is non-zero.
 */
import { SettlenetError } from "../core/errors.js";

const USAGE =
  "usage: settlenet node start|backup|restore|credentials|audit … | settlenet bank start --config <file> | settlenet gateway … | settlenet report statement|aml|reserves|reconcile|threeway …";

async function main(argv: string[]): Promise<void> {
  const [group, command] = argv;
  if (group === "node" || (group === "report" && (command === "statement" || command === "aml" || command === "reserves"))) {
    const { nodeCommand } = await import("../node/cli.js");
    return nodeCommand(argv);
  }
  if (group === "gateway" || (group === "report" && (command === "reconcile" || command === "threeway"))) {
    const { gatewayCommand } = await import("../gateway/cli.js");
    return group === "gateway" ? gatewayCommand(argv.slice(1)) : gatewayCommand(argv);
  }
  if (group === "bank") {
    const { bankCommand } = await import("../bank-sim/cli.js");
    return bankCommand(argv.slice(1));
  }
  throw new SettlenetError("USAGE", USAGE);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  const line = error instanceof SettlenetError ? `settlenet: ${error.code}: ${error.message}` : `settlenet: ${(error as Error).message ?? String(error)}`;
  process.stderr.write(`${line}\n`);
  process.exit(1);
});
