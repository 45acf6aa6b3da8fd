/**
 * Change feed resource of the node API: every operation status change and every payment state change
 * the node records, in the order it recorded them, each with a sequence number written in the same
 * synced batch as the change itself. Clients follow it with a cursor (long polling with a bounded
 * wait) instead of asking about each payment or operation again and again.
 */
import { z } from "zod";

import { PAYMENT_STATUSES } from "../protocol/eip712.js";
import { address, amount, hex32, integer, problemResponses, route } from "./common.js";
import { executionSchema, operationFailureSchema, operationKindSchema, operationStatusSchema } from "./operations.js";

/** Most changes in one answer. */
export const MAX_CHANGES_PAGE = 1_000;
/** Longest wait for a change the node accepts (a client's HTTP timeout must be longer). */
export const MAX_CHANGES_WAIT_MS = 30_000;

/** A position in one node's feed: `<feed epoch>-<sequence number>` (`-0`: before the first change). */
export const changeCursorSchema = z
  .string()
  .regex(/^[0-9a-f]{16}-(0|[1-9][0-9]{0,15})$/, "expected a change cursor (<epoch>-<sequence>)")
  .describe("A position in this node's change feed, as the `next` or `latest` of an answer");

const common = {
  seq: integer.describe("Sequence number: the feed's order (gaps are possible, never reordering)"),
  atMs: integer.describe("When the node recorded the change (unix ms)"),
};

/** An operation's status changed in this node (accepted, submitted, executed, failed). */
export const operationChangeSchema = z.strictObject({
  ...common,
  type: z.literal("operation"),
  id: hex32,
  kind: operationKindSchema,
  paymentId: hex32.describe("The payment it acts on; the zero hash for token operations"),
  status: operationStatusSchema,
  txHash: hex32.optional().describe("This node's relay transaction, if it relayed it"),
  execution: executionSchema.optional(),
  error: operationFailureSchema.optional(),
});

/** The indexer saw a payment's escrow state change (paid, fulfilled, refunded, released, ...). */
export const paymentChangeSchema = z.strictObject({
  ...common,
  type: z.literal("payment"),
  paymentId: hex32,
  payer: address,
  merchant: address,
  status: z.enum(PAYMENT_STATUSES),
  amount,
  refunded: amount,
  deadline: integer.describe("Meaning depends on status (IPaymentEscrow.PaymentState.deadline)"),
  blockNumber: integer.describe("Block of the event that caused the change"),
});

/** One entry of the change feed. */
export const changeSchema = z.discriminatedUnion("type", [operationChangeSchema, paymentChangeSchema]);
export type Change = z.infer<typeof changeSchema>;
export type OperationChange = z.infer<typeof operationChangeSchema>;
export type PaymentChange = z.infer<typeof paymentChangeSchema>;
/** A change as a writer hands it to the feed (the feed numbers and timestamps it). */
export type ChangeDraft = Change extends infer C ? (C extends Change ? Omit<C, "seq" | "atMs"> : never) : never;

export const changesQuery = z.strictObject({
  after: changeCursorSchema.optional().describe("The `next` of the previous answer; absent: from the oldest change kept"),
  limit: z.coerce.number<number>().int().min(1).max(MAX_CHANGES_PAGE).default(500),
  waitMs: z.coerce
    .number<number>()
    .int()
    .min(0)
    .max(MAX_CHANGES_WAIT_MS)
    .default(0)
    .describe("Long polling: when nothing follows `after`, wait up to this long for a change before answering an empty page"),
});

/** GET /v1/changes: the changes after the cursor, in order. */
export const changesPageSchema = z.strictObject({
  changes: z.array(changeSchema),
  next: changeCursorSchema.describe("Pass as `after` to continue (the cursor of the last change listed, or `after` itself if none)"),
  latest: changeCursorSchema.describe("The newest change recorded so far"),
});
export type ChangesPage = z.infer<typeof changesPageSchema>;

export const changeRoutes = {
  listChanges: route("GET", "/v1/changes", {
    operationId: "listChanges",
    tags: ["changes"],
    summary: "The change feed: operation status and payment state changes after a cursor, in order (long polling)",
    description: `Every operation status change (accepted, submitted, executed, failed) and every payment state change the indexer records, in the order the node made them durable; each change is written in the same synced batch as what it records, so a change in the feed never disappears and nothing recorded is missing from it. Pass the answer's \`next\` as \`after\` to continue; with \`waitMs\` (at most ${MAX_CHANGES_WAIT_MS} ms) the node holds the request until a change follows \`after\` or the wait ends (long polling). At most ${MAX_CHANGES_PAGE} changes per answer. The node keeps a bounded number of changes: a cursor older than the oldest kept, from another feed (the node's database was restored or replaced) or beyond the newest is refused with 410 \`FEED_CURSOR_EXPIRED\` (its \`latest\` member says where the feed is now); the client then re-reads what it needs and continues from \`latest\`.`,
    querystring: changesQuery,
    response: { 200: changesPageSchema, ...problemResponses },
  }),
};
