/**
 * `settlenet` command line: dispatches to the command modules of each process, loaded on demand so
 * that one command does not pay for the others' start-up.
 *   settlenet node start|backup|restore|credentials|audit …  (node/cli.ts)
 *   settlenet report statement|aml|reserves …       (node/cli.ts: a node's audit and compliance reports)
 *   settlenet gateway start|merchant|keys|user|totp … (gateway/cli.ts)
 *   settlenet report reconcile|threeway …           (gateway/cli.ts: the gateway's reports)
 *   settlenet bank start --config <file>            (bank-sim/cli.ts: the bank simulator)
 * Operating a network (scripts/operator/, one module per group; any JSON-RPC chain):
 *   settlenet keys create|address …                 (keys.ts: encrypted keystores)
 *   settlenet node id --config <node.json>           (keys.ts: a node's address and peer id, before registration)
 *   settlenet deploy …                               (deploy.ts)
 *   settlenet institution|regulator register|suspend|reactivate|set-peer-id|rotate-key …   (institution.ts)
 *   settlenet arbiter add|remove …                   (arbiter.ts)
 *   settlenet merchant|customer register|update|suspend|reactivate …   (merchant.ts, customer.ts)
 *   settlenet custodian set|unset …                  (custodian.ts)
 *   settlenet reserves attest|show …                 (reserves.ts)
 *   settlenet token mint|permit …                    (token.ts)
 *   settlenet fund …                                 (fund.ts: gas money from the governance key)
 *   settlenet risk-rules sign|submit|show …          (risk-rules.ts: governance-signed risk rules, applied on every node)
 * Errors are reported in one line with their code; the exit status is non-zero.
 */
import { SettlenetError } from "../core/errors.js";

const USAGE =
  "usage: settlenet node start|id|backup|restore|credentials|user|audit … | settlenet bank start --config <file> | settlenet gateway … | settlenet report statement|aml|reserves|reconcile|threeway … | " +
  "settlenet keys|deploy|institution|regulator|arbiter|merchant|customer|custodian|reserves|token|fund|risk-rules …";

/** Operator command groups: module and entry point. */
const OPERATOR_GROUPS: Record<string, (args: string[]) => Promise<void>> = {
  keys: async (args) => (await import("./operator/keys.js")).keysCommand(args),
  deploy: async (args) => (await import("./operator/deploy.js")).deployCommand(args),
  institution: async (args) => (await import("./operator/institution.js")).operatorCommand("institution", args),
  regulator: async (args) => (await import("./operator/institution.js")).operatorCommand("regulator", args),
  arbiter: async (args) => (await import("./operator/arbiter.js")).arbiterCommand(args),
  merchant: async (args) => (await import("./operator/merchant.js")).merchantCommand(args),
  customer: async (args) => (await import("./operator/customer.js")).customerCommand(args),
  custodian: async (args) => (await import("./operator/custodian.js")).custodianCommand(args),
  reserves: async (args) => (await import("./operator/reserves.js")).reservesCommand(args),
  token: async (args) => (await import("./operator/token.js")).tokenCommand(args),
  fund: async (args) => (await import("./operator/fund.js")).fundCommand(args),
  "risk-rules": async (args) => (await import("./operator/risk-rules.js")).riskRulesCommand(args),
};

async function main(argv: string[]): Promise<void> {
  const [group, command] = argv;
  if (group === "node" && command === "id") {
    const { nodeIdCommand } = await import("./operator/keys.js");
    return nodeIdCommand(argv.slice(2));
  }
  const operator = group === undefined ? undefined : OPERATOR_GROUPS[group];
  if (operator && Object.hasOwn(OPERATOR_GROUPS, group ?? "")) return operator(argv.slice(1));
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
