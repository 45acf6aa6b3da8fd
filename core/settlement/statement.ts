/**
 * Settlement statements of one cycle for one merchant or one institution, from the cycle's records
 * (so every figure is provable against the cycle's Merkle root): the JSON document and its CSV form.
 */
import type { z } from "zod";

import type { statementSchema, statementTotalsSchema } from "../api/settlement.js";
import { RECORD_KINDS } from "./records.js";

/** Per token totals of a statement (money as decimal strings). */
export type StatementTotals = z.infer<typeof statementTotalsSchema>;

/** The statement of one merchant or institution in one cycle. */
export type Statement = z.infer<typeof statementSchema>;

/** Record kinds that settle a payment to a merchant. */
export const SETTLED_KINDS: ReadonlySet<number> = new Set<number>([RECORD_KINDS.released, RECORD_KINDS.directPayment, RECORD_KINDS.resolved]);

const CSV_HEADER = ["cycle_id", "section", "kind", "record_id", "account", "counterparty", "token", "amount", "fee", "net", "refunded", "reclaimed", "payments"];

/** CSV (RFC 4180, LF line ends): one `record` row per record, then one `total` row per token. */
export function statementCsv(statement: Statement): string {
  const rows: string[][] = [CSV_HEADER];
  for (const r of statement.records) {
    const settled = SETTLED_KINDS.has(r.kind) ? (BigInt(r.amount) - BigInt(r.fee)).toString() : "";
    rows.push([r.cycleId, "record", r.kindName, r.recordId, r.account, r.counterparty, r.token, r.amount, r.fee, settled, "", "", ""]);
  }
  for (const t of statement.totals) {
    rows.push([statement.cycleId, "total", statement.party.type, "", statement.party.account, "", t.token, t.gross, t.fee, t.net, t.refunded, t.reclaimed, String(t.payments)]);
  }
  return rows.map((row) => row.map(csvField).join(",")).join("\n") + "\n";
}

function csvField(value: string): string {
  return /[",\n\r]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}
