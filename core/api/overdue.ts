/**
 * Overdue resource of the node API: money stuck in an intermediate state on this node — operations
 * accepted and not relayed, or relayed with no outcome, for longer than the configured thresholds,
 * and custody mints running too long. Operational alerts for the institution's operators: raised and
 * cleared by the node's overdue monitor (node/overdue/), never gossiped.
 */
import { z } from "zod";

import { hex32, integer, problemResponses, route } from "./common.js";
import { operationKindSchema } from "./operations.js";

/**
 * What is overdue: `operation_not_relayed` (accepted, still waiting to be relayed), `operation_no_outcome`
 * (relayed by this node, not yet seen executed or failed), `custody_minting` (a custody record whose
 * mint has not completed).
 */
export const OVERDUE_KINDS = ["operation_not_relayed", "operation_no_outcome", "custody_minting"] as const;
export type OverdueKind = (typeof OVERDUE_KINDS)[number];

export const overdueAlertSchema = z.strictObject({
  kind: z.enum(OVERDUE_KINDS),
  id: z.string().describe("The operation id, or the custody record's bank reference"),
  operationKind: operationKindSchema.optional().describe("The operation's kind (operation alerts)"),
  operationId: hex32.optional().describe("The custody record's latest mint operation"),
  sinceMs: integer.describe("When the wait began: the operation's receipt, the custody record's creation"),
  raisedAtMs: integer.describe("When this node first saw it overdue"),
  ageSeconds: integer.describe("How long it has waited, at the last check"),
});
export type OverdueAlert = z.infer<typeof overdueAlertSchema>;

export const overdueSummarySchema = z.strictObject({
  kind: z.enum(OVERDUE_KINDS),
  thresholdSeconds: integer,
  count: integer.describe("Overdue items of this kind at the last check"),
  oldestAgeSeconds: integer.describe("Age of the oldest of them (0 when none)"),
  truncated: z.boolean().describe("More were overdue than one check looks at (`overdue.maxItems`): count is a lower bound"),
});

export const overdueReportSchema = z.strictObject({
  checkedAtMs: integer.describe("When the monitor last checked (0: not yet)"),
  kinds: z.array(overdueSummarySchema),
  alerts: z.array(overdueAlertSchema).describe("Open alerts, oldest first"),
});
export type OverdueReport = z.infer<typeof overdueReportSchema>;

export const overdueRoutes = {
  listOverdue: route("GET", "/v1/admin/overdue", {
    operationId: "listOverdue",
    tags: ["admin"],
    summary: "Money stuck in an intermediate state: operations not relayed or without outcome, custody mints running, beyond the node's thresholds",
    description:
      "As of the overdue monitor's last check (every `overdue.checkIntervalMs`). An alert is raised once an item waits longer than its threshold and cleared once it moves on (the operation is relayed, executes or fails; the mint completes or fails).",
    querystring: z.strictObject({ limit: z.coerce.number<number>().int().min(1).max(1_000).default(100) }),
    response: { 200: overdueReportSchema, ...problemResponses },
  }),
};
