/**
 * `settlenet report …` commands that read a running node's audit API:
 *   settlenet report statement --cycle <id> (--merchant <address> | --institution <address>)
 *                              [--format json|csv] (--api <url> | --config <node.json>) [--out <file>]
 * The statement is printed (or written to --out) exactly as the API serves it.
 */
import { writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";

import { z } from "zod";

import { tokenFromEnv } from "../../core/api/auth.js";
import { NodeApiClient } from "../../core/api/client.js";
import { SettlenetError } from "../../core/errors.js";

export const REPORT_USAGE =
  "usage: settlenet report statement --cycle <id> (--merchant <address> | --institution <address>) [--format json|csv] (--api <url> | --config <node.json>) [--out <file>]";

const argsSchema = z.strictObject({
  cycle: z.string().regex(/^(0|[1-9][0-9]{0,19})$/, "expected a cycle id"),
  merchant: z.string().regex(/^0x[0-9a-fA-F]{40}$/, "expected an address").optional(),
  institution: z.string().regex(/^0x[0-9a-fA-F]{40}$/, "expected an address").optional(),
  format: z.enum(["json", "csv"]).default("json"),
  api: z.url({ protocol: /^https?$/ }).optional(),
  config: z.string().min(1).optional(),
  out: z.string().min(1).optional(),
});

/** Runs `settlenet report <command> …` (argv after `report`). */
export async function reportCommand(argv: string[], output: (text: string) => void = (text) => process.stdout.write(text)): Promise<void> {
  const [command, ...rest] = argv;
  if (command !== "statement") throw new SettlenetError("USAGE", REPORT_USAGE);
  const { values } = parseArgs({
    args: rest,
    options: {
      cycle: { type: "string" },
      merchant: { type: "string" },
      institution: { type: "string" },
      format: { type: "string" },
      api: { type: "string" },
      config: { type: "string", short: "c" },
      out: { type: "string", short: "o" },
    },
    strict: true,
  });
  const parsed = argsSchema.safeParse(values);
  if (!parsed.success) {
    throw new SettlenetError("USAGE", `${parsed.error.issues.map((i) => `--${i.path.join(".")}: ${i.message}`).join("; ")}\n${REPORT_USAGE}`, {
      fields: parsed.error.issues.map((i) => i.path.join(".")),
    });
  }
  const args = parsed.data;
  if ((args.merchant === undefined) === (args.institution === undefined)) throw new SettlenetError("USAGE", `name exactly one of --merchant or --institution\n${REPORT_USAGE}`);
  let api = args.api;
  if (!api && args.config) {
    const { loadNodeConfig } = await import("../config.js");
    const config = await loadNodeConfig(args.config);
    api = `http://${config.api.host}:${config.api.port}`;
  }
  if (!api) throw new SettlenetError("USAGE", `name the node with --api or --config\n${REPORT_USAGE}`);
  const node = new NodeApiClient({ baseUrl: api, credentials: tokenFromEnv() });
  const party = args.merchant ? { merchant: args.merchant } : { institution: args.institution as string };
  const body = await node.cycleStatementText(args.cycle, party, args.format);
  const text = args.format === "json" ? `${JSON.stringify(JSON.parse(body), null, 2)}\n` : body;
  if (args.out) await writeFile(args.out, text);
  else output(text);
}
