/**
 * `settlenet report reconcile --config <gateway.json> [--format json|csv] [--from <ISO>] [--to <ISO>] [--merchant <id>]`:
 * the dropped-order reconciler's repair log, oldest first. Like the other admin commands it opens the
 * gateway database directly, so it runs while the gateway is stopped (STORAGE_LOCKED otherwise);
 * while it runs, /metrics counts the repairs (gateway_reconcile_repairs_total).
 */
import { parseArgs } from "node:util";

import { z } from "zod";

import { SettlenetError } from "../../core/errors.js";
import { loadGatewayConfig } from "../config.js";
import type { ReconcileRecord } from "../domain/events.js";
import { gatewayDbDir } from "../server.js";
import { openGatewayStorage, type GatewayStorage } from "../storage/db.js";

export const RECONCILE_REPORT_USAGE = "settlenet report reconcile --config <gateway.json> [--format json|csv] [--from <ISO 8601>] [--to <ISO 8601>] [--merchant <id>]";

const argsSchema = z.strictObject({
  config: z.string().min(1),
  format: z.enum(["json", "csv"]).default("json"),
  from: z.iso.datetime({ offset: true }).optional(),
  to: z.iso.datetime({ offset: true }).optional(),
  merchant: z.string().min(1).optional(),
});

/** Column order of the CSV report. */
export const RECONCILE_CSV_COLUMNS = ["id", "at", "kind", "orderId", "merchantId", "paymentId", "from", "to", "onChainStatus", "eventIds"] as const;

/** Every repair in [fromMs, toMs] (optionally of one merchant), oldest first. */
export async function reconcileRepairs(storage: GatewayStorage, filter: { fromMs?: number; toMs?: number; merchantId?: string } = {}): Promise<ReconcileRecord[]> {
  const out: ReconcileRecord[] = [];
  let cursor: string | undefined;
  do {
    const page = await storage.reconcile.list({
      limit: 500,
      ...(filter.fromMs !== undefined ? { fromMs: filter.fromMs } : {}),
      ...(filter.toMs !== undefined ? { toMs: filter.toMs } : {}),
      ...(cursor ? { cursor } : {}),
    });
    out.push(...page.items.filter((r) => filter.merchantId === undefined || r.merchantId === filter.merchantId));
    cursor = page.next;
  } while (cursor);
  return out;
}

function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/** The repairs as CSV (RFC 4180, header row first). */
export function reconcileCsv(records: ReconcileRecord[]): string {
  const rows = records.map((r) =>
    [r.id, new Date(r.atMs).toISOString(), r.kind, r.orderId, r.merchantId, r.paymentId, r.from, r.to, r.onChainStatus ?? "", r.eventIds.join(" ")].map(csvField).join(","),
  );
  return [RECONCILE_CSV_COLUMNS.join(","), ...rows].join("\r\n") + "\r\n";
}

/** The repairs as JSON documents (times in ISO 8601). */
export function reconcileJson(records: ReconcileRecord[]) {
  return records.map(({ atMs, ...rest }) => ({ ...rest, at: new Date(atMs).toISOString() }));
}

/** Runs `settlenet report reconcile …`; `args` are the words after `reconcile`. */
export async function reconcileReportCommand(args: string[], out: (text: string) => void = (text) => process.stdout.write(text)): Promise<void> {
  let values: Record<string, unknown>;
  try {
    values = parseArgs({
      args,
      options: { config: { type: "string", short: "c" }, format: { type: "string" }, from: { type: "string" }, to: { type: "string" }, merchant: { type: "string" } },
      strict: true,
    }).values;
  } catch (error) {
    throw new SettlenetError("USAGE", `${(error as Error).message}\nusage: ${RECONCILE_REPORT_USAGE}`);
  }
  const parsed = argsSchema.safeParse(values);
  if (!parsed.success) {
    const fields = parsed.error.issues.map((i) => `--${i.path.join(".")}: ${i.message}`);
    throw new SettlenetError("USAGE", `${fields.join("; ")}\nusage: ${RECONCILE_REPORT_USAGE}`, { fields: parsed.error.issues.map((i) => i.path.join(".")) });
  }
  const { config: configFile, format, from, to, merchant } = parsed.data;
  const config = await loadGatewayConfig(configFile);
  const storage = await openGatewayStorage(gatewayDbDir(config));
  try {
    const records = await reconcileRepairs(storage, {
      ...(from ? { fromMs: Date.parse(from) } : {}),
      ...(to ? { toMs: Date.parse(to) } : {}),
      ...(merchant ? { merchantId: merchant } : {}),
    });
    out(format === "csv" ? reconcileCsv(records) : `${JSON.stringify(reconcileJson(records), null, 2)}\n`);
  } finally {
    await storage.close();
  }
}
