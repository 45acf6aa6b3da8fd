/**
 * Compliance reports in JSON and CSV (RFC 4180: CRLF line ends, fields with commas, quotes or line
 * breaks quoted): AML alerts, one row per alert; reserves, one row per token and custodian. Money is
 * minor units as decimal strings in both formats.
 */
import type { AlertRecord } from "./alert.js";
import type { ReservesReport } from "./reserves.js";

export type ReportFormat = "json" | "csv";

/** Largest number of alerts one report lists. */
export const MAX_REPORT_ROWS = 50_000;

function csvField(value: unknown): string {
  const text = value === null || value === undefined ? "" : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** CSV text with a header row. */
export function toCsv(columns: readonly string[], rows: readonly (readonly unknown[])[]): string {
  return [columns, ...rows].map((row) => row.map(csvField).join(",")).join("\r\n") + "\r\n";
}

export const AML_COLUMNS = [
  "id",
  "rule",
  "category",
  "account",
  "token",
  "amount",
  "threshold",
  "at",
  "blockNumber",
  "paymentIds",
  "facts",
  "status",
  "ackBy",
  "ackAt",
  "ackNote",
  "origin",
  "reportedBy",
] as const;

/** One CSV row per alert (payment ids and reporters space-separated, facts as key=value;...). */
export function alertRows(alerts: readonly AlertRecord[]): unknown[][] {
  return alerts.map((a) => [
    a.id,
    a.rule,
    a.category,
    a.account,
    a.token,
    a.amount ?? "",
    a.threshold ?? "",
    new Date(a.at * 1000).toISOString(),
    a.blockNumber,
    a.paymentIds.join(" "),
    Object.entries(a.facts)
      .map(([k, v]) => `${k}=${v}`)
      .join(";"),
    a.ack ? "acknowledged" : "open",
    a.ack?.by ?? "",
    a.ack ? new Date(a.ack.atMs).toISOString() : "",
    a.ack?.note ?? "",
    a.origin,
    a.reportedBy.join(" "),
  ]);
}

/** The AML report body in `format`. */
export function amlReport(alerts: readonly AlertRecord[], format: ReportFormat): string {
  if (format === "csv") return toCsv(AML_COLUMNS, alertRows(alerts));
  return `${JSON.stringify({ count: alerts.length, alerts }, null, 2)}\n`;
}

export const RESERVES_COLUMNS = [
  "asOfBlock",
  "asOfTime",
  "symbol",
  "token",
  "custodian",
  "active",
  "outstanding",
  "reserves",
  "ratio",
  "attestedAt",
  "ageSeconds",
  "stale",
  "belowMinRatio",
] as const;

/** The reserves report body in `format` (CSV: one row per token and custodian). */
export function reservesReport(report: ReservesReport, format: ReportFormat): string {
  if (format === "json") return `${JSON.stringify(report, null, 2)}\n`;
  const rows = report.tokens.flatMap((token) =>
    token.custodians.map((c) => [
      report.asOf.blockNumber,
      new Date(report.asOf.timestamp * 1000).toISOString(),
      token.symbol,
      token.token,
      c.custodian,
      c.active,
      c.outstanding,
      c.reserves,
      c.ratio ?? "",
      c.attestedAt === null ? "" : new Date(c.attestedAt * 1000).toISOString(),
      c.ageSeconds ?? "",
      c.stale,
      c.belowMinRatio,
    ]),
  );
  return toCsv(RESERVES_COLUMNS, rows);
}
