/** Admin resource of the node API: a backup of the running node's database, and the node's audit log. */
import { z } from "zod";

import { signedRiskRules } from "../protocol/risk-rules.js";
import { integer, problemResponses, route, text } from "./common.js";

/** The risk rules a node applies: node.json's (version 0) or a signed document's. */
export const riskRulesViewSchema = z.strictObject({
  version: z.number().int().nonnegative().describe("0: the node's configured rules; else the applied signed document's version"),
  source: z.enum(["config", "signed"]),
  rulesHash: z.string().regex(/^0x[0-9a-f]{64}$/).optional().describe("keccak256 of the rules' canonical JSON (what the signature covers)"),
  signer: z.string().optional().describe("The governance account that signed the document"),
  signed: signedRiskRules.optional(),
});
export type RiskRulesViewBody = z.infer<typeof riskRulesViewSchema>;

/** One entry of the node's hash-chained audit log (core/audit/log.ts). */
export const auditEntrySchema = z.strictObject({
  seq: z.number().int().positive(),
  atMs: integer,
  prevHash: z.string().regex(/^[0-9a-f]{64}$/),
  hash: z.string().regex(/^[0-9a-f]{64}$/).describe("SHA-256 of the entry's canonical JSON without `hash`"),
  actor: z.string().describe("The authenticated credential (`credential:<id>:<name>`) or local operator (`cli:<user>`) that acted"),
  role: z.string(),
  action: z.string().describe("backup.download, alert.acknowledge, credential.issue, credential.revoke; an onboarding action on-chain as merchant.register.intent (before its transaction) then merchant.register or merchant.register.failed"),
  target: z.string().optional(),
  details: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null(), z.array(z.string())])).optional(),
});

export const auditLogQuery = z.strictObject({
  after: z.coerce.number<number>().int().nonnegative().optional().describe("Sequence number: entries after it (the previous page's `next`)"),
  limit: z.coerce.number<number>().int().min(1).max(1_000).default(100),
});

/** A page of the audit log, oldest first, with the log's head (to check that nothing was cut off the end). */
export const auditLogPageSchema = z.strictObject({
  entries: z.array(auditEntrySchema),
  next: z.number().int().positive().optional(),
  head: z.strictObject({ seq: integer, hash: z.string().regex(/^[0-9a-f]{64}$/) }),
});
export type AuditLogPage = z.infer<typeof auditLogPageSchema>;

export const adminRoutes = {
  downloadBackup: route("GET", "/v1/admin/backup", {
    operationId: "downloadBackup",
    tags: ["admin"],
    summary: "Stream a backup of the node's database (one LevelDB snapshot taken when the request arrives)",
    description:
      "NDJSON: a header line, one line per record, and a trailer with the record count and the content's SHA-256; a truncated stream fails those checks. Each download is recorded in the node's audit log with the credential that asked for it.",
    response: {
      200: { description: "The backup", content: { "application/x-ndjson": { schema: text("Backup lines (header, records, trailer)") } } },
      ...problemResponses,
    },
  }),
  getRiskRules: route("GET", "/v1/admin/risk-rules", {
    operationId: "getRiskRules",
    tags: ["admin"],
    summary: "The risk rules this node applies (per-KYC-level limits and thresholds), with their version and signer",
    response: { 200: riskRulesViewSchema, ...problemResponses },
  }),
  putRiskRules: route("PUT", "/v1/admin/risk-rules", {
    operationId: "putRiskRules",
    tags: ["admin"],
    summary: "Apply a risk-rules document signed by consortium governance, on this node at once and on every node through gossip",
    description:
      "The signature must be governance's (an account holding the registry's DEFAULT_ADMIN_ROLE), else 403 RISK_RULES_BAD_SIGNATURE; the version must be above the applied one, else 409 RISK_RULES_STALE. Either refusal changes nothing. An applied document is stored with an audit-log entry (`riskRules.apply`: the credential, version, rules hash and signer) in one synced batch.",
    body: signedRiskRules,
    response: { 200: riskRulesViewSchema, ...problemResponses },
  }),
  listAuditLog: route("GET", "/v1/admin/audit", {
    operationId: "listAuditLog",
    tags: ["admin"],
    summary: "The node's hash-chained audit log of admin, compliance and backup actions, oldest first",
    description: "`settlenet node audit verify` walks every page and checks each link, hash and the head.",
    querystring: auditLogQuery,
    response: { 200: auditLogPageSchema, ...problemResponses },
  }),
};
