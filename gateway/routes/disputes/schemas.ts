/** Wire schemas of the disputes listing: its strict query and the dispute view. */
import { z } from "zod";

import { MAX_EVIDENCE_LENGTH, MAX_NOTE_EVIDENCE, MAX_NOTE_TEXT, noteContentSchema } from "../../../core/protocol/dispute-note.js";
import { paymentView } from "../payments/schemas.js";
import { cursor, isoTime, listLimit } from "../schemas.js";

export const disputeListQuery = z.strictObject({
  status: z.enum(["disputed", "resolved"]).default("disputed").describe("disputed: open disputes; resolved: decided by an arbiter"),
  limit: listLimit,
  cursor,
});

/** A merchant's note on a dispute, as its institution node stores it. */
export const disputeNoteView = z.object({
  object: z.literal("dispute_note"),
  id: z.string().describe("The note's EIP-712 digest (the merchant's key signed it)"),
  text: z.string().describe("Plain text"),
  evidence: z.array(z.string()),
  createdAt: isoTime,
});

/** A new note: plain text (shown as text, never as HTML) and optional evidence references. */
export const disputeNoteBody = noteContentSchema.describe(
  `Text of at most ${MAX_NOTE_TEXT} characters; at most ${MAX_NOTE_EVIDENCE} evidence references (e.g. a tracking number) of at most ${MAX_EVIDENCE_LENGTH} each. No control characters but tab and line breaks.`,
);

export const disputeNoteList = z.object({ object: z.literal("list"), items: z.array(disputeNoteView) });

export const disputeView = z.object({
  object: z.literal("dispute"),
  payment: paymentView,
  reason: z.string().nullable().describe("The payer's reason, when the dispute came through this gateway"),
  reasonHash: z.string().nullable(),
  openedAt: isoTime.nullable(),
  notes: z.array(disputeNoteView).describe("The merchant's notes for the arbiter, oldest first"),
});

export const disputeList = z.object({ object: z.literal("list"), items: z.array(disputeView), nextCursor: z.string().nullable() });
