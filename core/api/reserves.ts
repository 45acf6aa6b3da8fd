/**
 * Reserves and reports resource of the node API: the proof-of-reserves report (备付金), and the AML
 * and reserves reports in JSON or CSV.
 */
import { z } from "zod";

import { address, amount, formatQuery, integer, problemResponses, route, text } from "./common.js";
import { alertRecordSchema, alertReportQuery } from "./compliance.js";

/** One custodian's position in one token (minor units as decimal strings). */
export const custodianReservesSchema = z.strictObject({
  custodian: address,
  active: z.boolean().describe("Still a custodian (may mint, burn, attest)"),
  outstanding: amount,
  reserves: amount,
  statementHash: z.string(),
  attestedAt: integer.nullable().describe("Chain time of the latest attestation, null if it never attested"),
  ageSeconds: integer.nullable(),
  ratio: z.string().nullable().describe("reserves / outstanding with 4 decimals (rounded down), null when nothing is outstanding"),
  stale: z.boolean(),
  belowMinRatio: z.boolean(),
});

export const tokenReservesSchema = z.strictObject({
  symbol: z.string(),
  token: address,
  decimals: integer,
  totalSupply: amount,
  outstanding: amount,
  reserves: amount,
  ratio: z.string().nullable(),
  custodians: z.array(custodianReservesSchema),
});

/** Proof of reserves (备付金) at one block. */
export const reservesReportSchema = z.strictObject({
  asOf: z.strictObject({ blockNumber: integer, timestamp: integer }).describe("The block every figure was read at"),
  maxAttestationAgeSeconds: integer,
  minRatioBps: integer,
  tokens: z.array(tokenReservesSchema),
});
export type ReservesReport = z.infer<typeof reservesReportSchema>;

/** The AML report in JSON. */
export const amlReportSchema = z.strictObject({ count: integer, alerts: z.array(alertRecordSchema) });
export type AmlReport = z.infer<typeof amlReportSchema>;

export const reservesRoutes = {
  getReserves: route("GET", "/v1/reserves", {
    operationId: "getReserves",
    tags: ["reserves"],
    summary: "Proof of reserves at the chain head: per token and custodian, outstanding supply against attested reserves",
    response: { 200: reservesReportSchema, ...problemResponses },
  }),
  amlReport: route("GET", "/v1/reports/aml", {
    operationId: "amlReport",
    tags: ["reserves"],
    summary: "AML report: every alert matching the filter (AML category unless named), in JSON or CSV",
    description: "422 REPORT_TOO_LARGE beyond 50,000 alerts: narrow the time range.",
    querystring: alertReportQuery,
    response: {
      200: {
        description: "The report; CSV (RFC 4180, CRLF): one row per alert",
        content: { "application/json": { schema: amlReportSchema }, "text/csv": { schema: text("AML report CSV") } },
      },
      ...problemResponses,
    },
  }),
  reservesReport: route("GET", "/v1/reports/reserves", {
    operationId: "reservesReport",
    tags: ["reserves"],
    summary: "Reserves report at the chain head, in JSON or CSV",
    querystring: z.strictObject({ format: formatQuery }),
    response: {
      200: {
        description: "The report; CSV (RFC 4180, CRLF): one row per token and custodian",
        content: { "application/json": { schema: reservesReportSchema }, "text/csv": { schema: text("Reserves report CSV") } },
      },
      ...problemResponses,
    },
  }),
};
