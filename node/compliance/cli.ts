/**
 * `settlenet report aml|reserves`: compliance reports from a running node's API, in JSON or CSV.
 *   settlenet report aml (--node <api url> | --config <node.json>) [--format json|csv] [--out <file>]
 *                        [--rule R] [--status open|acknowledged] [--account A] [--from T] [--to T]
 *   settlenet report reserves (--node <api url> | --config <node.json>) [--format json|csv] [--out <file>]
 * Filters are checked with the report route's query schema (a bad one is a coded MALFORMED error).
 */
import { writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";

import { tokenFromEnv } from "../../core/api/auth.js";
import { NodeApiClient } from "../../core/api/client.js";
import { alertReportQuery } from "../../core/api/compliance.js";
import { SettlenetError } from "../../core/errors.js";

export const REPORT_USAGE =
  "usage: settlenet report aml|reserves (--node <api url> | --config <node.json>) [--format json|csv] [--out <file>] [--rule R] [--status open|acknowledged] [--account A] [--from T] [--to T]";

/** Runs `settlenet report aml|reserves`; writes the report to --out or prints it. */
export async function reportCommand(kind: string | undefined, args: string[], print: (text: string) => void = (text) => process.stdout.write(text)): Promise<void> {
  if (kind !== "aml" && kind !== "reserves") throw new SettlenetError("USAGE", REPORT_USAGE);
  const { values } = parseArgs({
    args,
    options: {
      node: { type: "string" },
      config: { type: "string", short: "c" },
      format: { type: "string", default: "json" },
      out: { type: "string", short: "o" },
      rule: { type: "string" },
      status: { type: "string" },
      account: { type: "string" },
      from: { type: "string" },
      to: { type: "string" },
    },
    strict: true,
  });
  if (values.format !== "json" && values.format !== "csv") throw new SettlenetError("USAGE", REPORT_USAGE);
  let apiUrl = values.node;
  if (!apiUrl && values.config) {
    const { loadNodeConfig } = await import("../config.js");
    const config = await loadNodeConfig(values.config);
    apiUrl = `http://${config.api.host}:${config.api.port}`;
  }
  if (!apiUrl) throw new SettlenetError("USAGE", REPORT_USAGE);
  const node = new NodeApiClient({ baseUrl: apiUrl, credentials: tokenFromEnv() });
  let body: string;
  if (kind === "aml") {
    const filter = Object.fromEntries((["rule", "status", "account", "from", "to"] as const).flatMap((name) => (values[name] === undefined ? [] : [[name, values[name]]])));
    // The report route's own query schema, so a bad filter is the MALFORMED the node would answer.
    const query = alertReportQuery.safeParse({ ...filter, format: values.format });
    if (!query.success) {
      throw new SettlenetError("MALFORMED", `bad report filter: ${query.error.issues.map((i) => `--${i.path.join(".")}: ${i.message}`).join("; ")}`, {
        fields: query.error.issues.map((i) => i.path.join(".")),
      });
    }
    body = await node.amlReportText(query.data);
  } else {
    if (values.rule || values.status || values.account || values.from || values.to) throw new SettlenetError("USAGE", "the reserves report takes no filters");
    body = await node.reservesReportText(values.format);
  }
  if (values.out) await writeFile(values.out, body);
  else print(body);
}
