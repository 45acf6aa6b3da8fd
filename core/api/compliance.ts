/** Alerts resource of the node API: AML and proof-of-reserves alerts (filters, pagination, acknowledgement). */
import { z } from "zod";

import { address, amount, formatQuery, hex32, integer, pageOf, pageQuery, problemResponses, route, timeRangeQuery } from "./common.js";

/** Every rule that raises an alert. */
export const ALERT_RULES = [
  "LARGE_VALUE",
  "PAYER_DAILY_TOTAL",
  "STRUCTURING",
  "VELOCITY",
  "BLACKLISTED_COUNTERPARTY",
  "RESERVES_STALE",
  "RESERVES_RATIO_LOW",
  "CUSTODY_MINT_FAILED",
] as const;
export type AlertRule = (typeof ALERT_RULES)[number];

const alertIdSchema = z.string().regex(/^0x[0-9a-f]{64}$/, "expected 32 bytes as lower-case 0x hex");

/** An alert as every node computes it (and as it is gossiped): nothing local to one node. */
export const alertSchema = z.strictObject({
  id: alertIdSchema.describe("keccak256 of the rule and the parts that identify the finding"),
  rule: z.enum(ALERT_RULES),
  category: z.enum(["aml", "reserves"]),
  account: address.describe("The account the alert is about: the payer, the blacklisted party, or the custodian"),
  token: address,
  paymentIds: z.array(alertIdSchema).max(1_000).describe("Payments that make up the finding (oldest first); empty for reserve alerts"),
  amount: amount.optional().describe("The figure that crossed the threshold (payment amount, day total, outstanding supply...)"),
  threshold: amount.optional(),
  facts: z.record(z.string().max(64), z.string().max(256)).describe("Rule-specific facts, all strings (counts, windows, ratio, age)"),
  at: integer.describe("Chain time of the finding: the block of the payment or of the reserves check"),
  blockNumber: integer,
});
export type Alert = z.infer<typeof alertSchema>;

/** Acknowledgement of an alert at this node: `by` is the authenticated credential, `statedBy` what the caller wrote (unverified). */
export const alertAckSchema = z.strictObject({ by: z.string(), atMs: integer, note: z.string(), statedBy: z.string().optional() });
export type AlertAck = z.infer<typeof alertAckSchema>;

/** An alert as one node stores it: the alert plus what is local to the node. */
export const alertRecordSchema = alertSchema.extend({
  raisedAtMs: integer.describe("When this node first stored it (wall clock, ms)"),
  origin: z.enum(["local", "gossip"]).describe("Where this node got it first: its own monitors, or gossip from an institution"),
  reportedBy: z.array(z.string()).describe("Operator ids of the institutions that reported it (and this node's, if local)"),
  ack: alertAckSchema.optional(),
});
export type AlertRecord = z.infer<typeof alertRecordSchema>;

const alertFilter = {
  rule: z.enum(ALERT_RULES).optional(),
  category: z.enum(["aml", "reserves"]).optional(),
  account: address.optional(),
  status: z.enum(["open", "acknowledged"]).optional(),
  ...timeRangeQuery,
};
export const alertListQuery = z.strictObject({ ...alertFilter, ...pageQuery });
export const alertReportQuery = z.strictObject({ ...alertFilter, format: formatQuery });
/** `by` is kept as the caller's own statement (`statedBy`); the acknowledgement is recorded under the authenticated credential. */
export const alertAckBody = z.strictObject({ by: z.string().trim().min(1).max(128).optional(), note: z.string().max(2_000).default("") });

export const complianceRoutes = {
  listAlerts: route("GET", "/v1/alerts", {
    operationId: "listAlerts",
    tags: ["compliance"],
    summary: "Compliance alerts, newest first, by rule, category, account, status and chain time",
    querystring: alertListQuery,
    response: { 200: pageOf(alertRecordSchema), ...problemResponses },
  }),
  getAlert: route("GET", "/v1/alerts/:id", {
    operationId: "getAlert",
    tags: ["compliance"],
    summary: "One alert",
    params: z.strictObject({ id: hex32 }),
    response: { 200: alertRecordSchema, ...problemResponses },
  }),
  acknowledgeAlert: route("POST", "/v1/alerts/:id/ack", {
    operationId: "acknowledgeAlert",
    tags: ["compliance"],
    summary: "Acknowledge an alert (once: 409 ALERT_ALREADY_ACKNOWLEDGED after), as the calling credential; recorded in the node's audit log",
    params: z.strictObject({ id: hex32 }),
    body: alertAckBody,
    response: { 200: alertRecordSchema, ...problemResponses },
  }),
};
