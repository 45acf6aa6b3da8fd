/**
 * Disputes resource of the node API: the arbiter's queue of open disputes (and the decided ones),
 * each with the payer's signed reason and the merchant's notes, and the merchants' signed notes,
 * which a gateway submits and every node stores and gossips (core/protocol/dispute-note.ts).
 */
import { z } from "zod";

import { disputeNoteSchema } from "../protocol/dispute-note.js";
import { address, hex32, integer, pageOf, pageQuery, problemResponses, route } from "./common.js";
import { paymentRecordSchema } from "./payments.js";

/** A merchant's note as a node answers it. */
export const disputeNoteViewSchema = z.strictObject({
  id: hex32.describe("The note's EIP-712 digest"),
  paymentId: hex32,
  merchant: address.describe("The merchant whose key signed the note"),
  text: z.string().describe("Plain text, to be shown as text"),
  evidence: z.array(z.string()),
  createdAtMs: integer.describe("When the merchant wrote it (unix milliseconds, signed)"),
  signature: z.string(),
  receivedAtMs: integer.describe("When this node stored it"),
});
export type DisputeNoteView = z.infer<typeof disputeNoteViewSchema>;

/** One dispute: the indexed payment, the payer's reason as signed (bytes32) and the merchant's notes. */
export const disputeViewSchema = z.strictObject({
  payment: paymentRecordSchema,
  reason: hex32.nullable().describe("The payer's reason as signed on-chain: the keccak256 of its UTF-8 text"),
  reasonText: z
    .string()
    .nullable()
    .describe("The payer's reason in words, when this node received it with the dispute (checked against `reason`); plain text, to be shown as text"),
  disputedAt: integer.nullable().describe("Chain time of the dispute"),
  notes: z.array(disputeNoteViewSchema),
});
export type DisputeView = z.infer<typeof disputeViewSchema>;

export const disputeListQuery = z.strictObject({
  status: z.enum(["open", "resolved"]).default("open").describe("open: waiting for an arbiter, oldest first; resolved: decided, newest first"),
  ...pageQuery,
});

export const disputeRoutes = {
  listDisputes: route("GET", "/v1/disputes", {
    operationId: "listDisputes",
    tags: ["disputes"],
    summary: "Disputes from the dispute index: open ones oldest first, or resolved ones newest first; each with the payer's reason and the merchant's notes",
    querystring: disputeListQuery,
    response: { 200: pageOf(disputeViewSchema), ...problemResponses },
  }),
  listDisputeNotes: route("GET", "/v1/disputes/:id/notes", {
    operationId: "listDisputeNotes",
    tags: ["disputes"],
    summary: "The merchant's notes on a disputed payment, oldest first",
    params: z.strictObject({ id: hex32 }),
    response: { 200: z.strictObject({ items: z.array(disputeNoteViewSchema) }), ...problemResponses },
  }),
  submitDisputeNote: route("POST", "/v1/disputes/:id/notes", {
    operationId: "submitDisputeNote",
    tags: ["disputes"],
    summary: "Store a merchant's signed note on an open dispute and gossip it to every node",
    description:
      "The note must be signed (EIP-712 DisputeNote under the escrow's domain) by the payment's merchant: else 422 NOTE_NOT_BY_MERCHANT. 404 PAYMENT_NOT_FOUND when the node has not indexed the payment, 409 PAYMENT_NOT_DISPUTED or DISPUTE_RESOLVED when the dispute is not open. The same note again answers 200 with the stored note; a new one 201.",
    params: z.strictObject({ id: hex32 }),
    body: disputeNoteSchema,
    response: { 200: disputeNoteViewSchema, 201: disputeNoteViewSchema, ...problemResponses },
  }),
};
