/** Admin resource of the node API: a backup of the running node's database, and the node's audit log. */
import { z } from "zod";

import { integer, problemResponses, route, text } from "./common.js";

/** One entry of the node's hash-chained audit log (core/audit/log.ts). */
export const auditEntrySchema = z.strictObject({
  seq: z.number().int().positive(),
  atMs: integer,
  prevHash: z.string().regex(/^[0-9a-f]{64}$/),
  hash: z.string().regex(/^[0-9a-f]{64}$/).describe("SHA-256 of the entry's canonical JSON without `hash`"),
  actor: z.string().describe("The authenticated credential (`credential:<id>:<name>`) or local operator (`cli:<user>`) that acted"),
  role: z.string(),
  action: z.string().describe("backup.download, alert.acknowledge, credential.issue, credential.revoke"),
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
  listAuditLog: route("GET", "/v1/admin/audit", {
    operationId: "listAuditLog",
    tags: ["admin"],
    summary: "The node's hash-chained audit log of admin, compliance and backup actions, oldest first",
    description: "`settlenet node audit verify` walks every page and checks each link, hash and the head.",
    querystring: auditLogQuery,
    response: { 200: auditLogPageSchema, ...problemResponses },
  }),
};
