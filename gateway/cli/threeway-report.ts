/**
 * `settlenet report threeway --gateway-config <gateway.json> [--node <url>] [--bank <url>] [--format json|csv] [--merchant <id>] [--out <file>]`:
 * three-way reconciliation of the gateway's records, the chain (through the node) and the bank
 * simulator (threeway.ts). The node and bank default to the gateway config's `nodeUrl` and `bank.url`.
 * Like the other admin commands it opens the gateway database directly, so it runs while the gateway
 * is stopped (STORAGE_LOCKED otherwise); while it runs, a merchant reads its own report from
 * GET /v1/reports/threeway. Exit status 0 whatever the breaks: the report is the answer.
 */
import { readFile, writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";

import { pino } from "pino";
import { z } from "zod";

import { SettlenetError } from "../../core/errors.js";
import { readDeployment } from "../../core/protocol/deployment.js";
import { HttpBankAdapter } from "../adapters/bank.js";
import { loadGatewayConfig } from "../config.js";
import { NodeApiClient } from "../../core/api/client.js";
import { gatewayDbDir } from "../server.js";
import { openGatewayStorage } from "../storage/db.js";
import { threeWayCsv, threeWayReport } from "../domain/threeway.js";

export const THREEWAY_REPORT_USAGE =
  "settlenet report threeway --gateway-config <gateway.json> [--node <url>] [--bank <url>] [--format json|csv] [--merchant <id>] [--out <file>]";

const argsSchema = z.strictObject({
  "gateway-config": z.string().min(1),
  node: z.url({ protocol: /^https?$/ }).optional(),
  bank: z.url({ protocol: /^https?$/ }).optional(),
  format: z.enum(["json", "csv"]).default("json"),
  merchant: z.string().min(1).optional(),
  out: z.string().min(1).optional(),
});

/** Runs `settlenet report threeway …`; `args` are the words after `threeway`. */
export async function threeWayReportCommand(args: string[], output: (text: string) => void = (text) => process.stdout.write(text)): Promise<void> {
  let values: Record<string, unknown>;
  try {
    values = parseArgs({
      args,
      options: {
        "gateway-config": { type: "string", short: "c" },
        node: { type: "string" },
        bank: { type: "string" },
        format: { type: "string" },
        merchant: { type: "string" },
        out: { type: "string", short: "o" },
      },
      strict: true,
    }).values;
  } catch (error) {
    throw new SettlenetError("USAGE", `${(error as Error).message}\nusage: ${THREEWAY_REPORT_USAGE}`);
  }
  const parsed = argsSchema.safeParse(values);
  if (!parsed.success) {
    const fields = parsed.error.issues.map((i) => `--${i.path.join(".")}: ${i.message}`);
    throw new SettlenetError("USAGE", `${fields.join("; ")}\nusage: ${THREEWAY_REPORT_USAGE}`, { fields: parsed.error.issues.map((i) => i.path.join(".")) });
  }
  const { format, merchant, out } = parsed.data;
  const config = await loadGatewayConfig(parsed.data["gateway-config"]);
  const nodeUrl = parsed.data.node ?? config.nodeUrl;
  const bankUrl = parsed.data.bank ?? config.bank?.url;
  if (!bankUrl) throw new SettlenetError("USAGE", `the gateway config has no bank: give --bank\nusage: ${THREEWAY_REPORT_USAGE}`);
  const deployment = await readDeployment(config.deploymentFile);
  // The gateway's own node credential (read-only use here: statements and payments).
  const nodeCredential = config.nodeCredentialFile ? (await readFile(config.nodeCredentialFile, "utf8")).trim() : undefined;
  const storage = await openGatewayStorage(gatewayDbDir(config));
  try {
    if (merchant !== undefined && !(await storage.merchants.get(merchant))) throw new SettlenetError("MERCHANT_NOT_FOUND", `no merchant ${merchant}`, { merchantId: merchant });
    const report = await threeWayReport(
      {
        storage,
        node: new NodeApiClient({ baseUrl: nodeUrl, timeoutMs: 30_000, ...(nodeCredential ? { credentials: nodeCredential } : {}) }),
        bank: new HttpBankAdapter({ baseUrl: bankUrl, ...(config.bank?.client ? { client: config.bank.client } : {}) }, { logger: pino({ level: "silent" }) }),
        deployment,
      },
      merchant !== undefined ? { merchantId: merchant } : {},
    );
    const text = format === "csv" ? threeWayCsv(report) : `${JSON.stringify(report, null, 2)}\n`;
    if (out) await writeFile(out, text);
    else output(text);
  } finally {
    await storage.close();
  }
}
