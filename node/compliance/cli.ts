/**
 * `settlenet report aml|reserves`: compliance reports from a running node's API, in JSON or CSV.
 *   settlenet report aml (--node <api url> | --config <node.json>) [--format json|csv] [--out <file>]
 *                        [--rule R] [--status open|acknowledged] [--account A] [--from T] [--to T]
 *   settlenet report reserves (--node <api url> | --config <node.json>) [--format json|csv] [--out <file>]
 * Filters are passed to the API, which validates them (a bad one is a coded MALFORMED error).
 */
import { writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";

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
  const query = new URLSearchParams({ format: values.format });
  if (kind === "aml") {
    for (const name of ["rule", "status", "account", "from", "to"] as const) {
      const value = values[name];
      if (value !== undefined) query.set(name, value);
    }
  } else if (values.rule || values.status || values.account || values.from || values.to) {
    throw new SettlenetError("USAGE", "the reserves report takes no filters");
  }
  let response: Response;
  try {
    response = await fetch(`${apiUrl.replace(/\/$/, "")}/v1/reports/${kind}?${query.toString()}`);
  } catch (error) {
    throw new SettlenetError("NODE_UNREACHABLE", `cannot reach the node at ${apiUrl}`, { apiUrl }, { cause: error });
  }
  const body = await response.text();
  if (!response.ok) {
    let code = "REPORT_FAILED";
    try {
      code = (JSON.parse(body) as { code?: string }).code ?? code;
    } catch {
      // not a problem document
    }
    throw new SettlenetError(code, `the node refused the report (${response.status})`, { status: response.status });
  }
  if (values.out) await writeFile(values.out, body);
  else print(body);
}
