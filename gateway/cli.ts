/**
 * `settlenet gateway …` and the gateway's reports (dispatched from scripts/settlenet.ts):
 *   gateway start --config <file>
 *   gateway merchant add --config <file> --id <id> [--name <name>] (--private-key-env <VAR> | --generate-key)
 *   gateway merchant list --config <file>
 *   gateway keys create|rotate|revoke|list --config <file> --merchant <id> [--overlap <seconds>] [--key <key id>]
 *   report reconcile …   (cli/reconcile-report.ts: the dropped-order repairs)
 *   report threeway …    (cli/threeway-report.ts: gateway vs chain vs bank)
 * Admin commands open the gateway database directly, so they run while the gateway is stopped
 * (LevelDB allows one process). They print JSON; a new key's secret is printed once, only here.
 */
import { parseArgs } from "node:util";

import { Wallet } from "ethers";
import { pino } from "pino";

import { SettlenetError } from "../core/errors.js";
import { stopOnSignal } from "../core/lifecycle.js";
import { loadGatewayConfig } from "./config.js";
import { addMerchant, createApiKey, listApiKeys, revokeApiKey, rotateApiKeys, type AdminModules } from "./domain/merchants.js";
import { secretBoxFromEnv } from "./domain/secrets.js";
import { gatewayDbDir, startGateway } from "./server.js";
import { openGatewayStorage } from "./storage/db.js";

export const GATEWAY_USAGE = [
  "settlenet gateway start --config <file>",
  "settlenet gateway merchant add --config <file> --id <id> [--name <name>] (--private-key-env <VAR> | --generate-key)",
  "settlenet gateway merchant list --config <file>",
  "settlenet gateway keys create|rotate|revoke|list --config <file> --merchant <id> [--overlap <seconds>] [--key <key id>]",
].join("\n       ");

const DEFAULT_OVERLAP_SECONDS = 86_400;

function usage(): SettlenetError {
  return new SettlenetError("USAGE", `usage: ${GATEWAY_USAGE}`);
}

/** Runs one `settlenet gateway` command (`args`: the words after `gateway`), or `report reconcile|threeway …`. */
export async function gatewayCommand(args: string[], out: (line: string) => void = (line) => process.stdout.write(`${line}\n`)): Promise<void> {
  const [first, second] = args;
  if (first === "report" && second === "reconcile") {
    const { reconcileReportCommand } = await import("./cli/reconcile-report.js");
    return reconcileReportCommand(args.slice(2));
  }
  if (first === "report" && second === "threeway") {
    const { threeWayReportCommand } = await import("./cli/threeway-report.js");
    return threeWayReportCommand(args.slice(2));
  }
  if (first === "start") return start(args.slice(1));
  if (first !== "merchant" && first !== "keys") throw usage();
  const { values } = parseArgs({
    args: args.slice(2),
    options: {
      config: { type: "string", short: "c" },
      id: { type: "string" },
      name: { type: "string" },
      "private-key-env": { type: "string" },
      "generate-key": { type: "boolean" },
      merchant: { type: "string" },
      key: { type: "string" },
      overlap: { type: "string" },
    },
    strict: true,
  });
  if (!values.config) throw usage();
  const config = await loadGatewayConfig(values.config);
  const storage = await openGatewayStorage(gatewayDbDir(config));
  try {
    const modules: AdminModules = { storage, secrets: secretBoxFromEnv(config.masterKeyEnv) };
    const print = (value: unknown) => out(JSON.stringify(value, null, 2));
    if (first === "merchant" && second === "add") {
      if (!values.id) throw usage();
      let privateKey: string;
      if (values["generate-key"]) {
        privateKey = Wallet.createRandom().privateKey;
      } else {
        const env = values["private-key-env"];
        const value = env ? process.env[env] : undefined;
        if (!env || !value) throw new SettlenetError("USAGE", "give --generate-key, or --private-key-env naming a variable that holds the merchant's private key");
        privateKey = value;
      }
      return print(await addMerchant({ id: values.id, ...(values.name ? { name: values.name } : {}), privateKey }, modules));
    }
    if (first === "merchant" && second === "list") {
      return print((await storage.merchants.list()).map((m) => ({ id: m.id, name: m.name, address: m.address, status: m.status })));
    }
    const merchantId = values.merchant;
    if (!merchantId) throw usage();
    if (!(await storage.merchants.get(merchantId))) throw new SettlenetError("MERCHANT_NOT_FOUND", `no merchant ${merchantId}`, { merchantId });
    switch (second) {
      case "create": {
        const { retired: _none, ...key } = await createApiKey(merchantId, modules);
        return print(key);
      }
      case "rotate":
        return print(await rotateApiKeys(merchantId, values.overlap === undefined ? DEFAULT_OVERLAP_SECONDS : Number(values.overlap), modules));
      case "revoke":
        if (!values.key) throw usage();
        return print(await revokeApiKey(merchantId, values.key, modules));
      case "list":
        return print(await listApiKeys(merchantId, modules));
      default:
        throw usage();
    }
  } finally {
    await storage.close();
  }
}

async function start(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { config: { type: "string", short: "c" } }, strict: true });
  if (!values.config) throw usage();
  const config = await loadGatewayConfig(values.config);
  const logger = pino({ level: config.logLevel, base: { role: "gateway" } });
  const gateway = await startGateway(config, { logger });
  stopOnSignal(logger, () => gateway.stop());
}
