/**
 * A merchant's note on a disputed payment: its answer to the payer's reason for the arbiter, with
 * optional evidence references (a tracking number, a receipt id). A note is not a chain operation:
 * nothing on-chain reads it, so it is never relayed. It is EIP-712 typed data signed with the
 * merchant's key under the escrow's domain (a primary type the escrow never accepts, so a note's
 * signature authorises nothing else), which makes it attributable to the payment's merchant and
 * tamper-evident on every node that stores it, whoever forwarded it. Its id is its digest.
 */
import { TypedDataEncoder, verifyTypedData, type Signer } from "ethers";
import { z } from "zod";

import { bytes32Schema, signatureSchema } from "../operations/wire.js";
import { escrowDomain, type TypedDataTypes } from "./eip712.js";

/** Longest note text, in characters. */
export const MAX_NOTE_TEXT = 2000;
/** Most evidence references on one note, and the longest. */
export const MAX_NOTE_EVIDENCE = 5;
export const MAX_EVIDENCE_LENGTH = 200;

/** Control characters other than tab and line breaks: plain text has none. */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;
const plain = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .refine((text) => text.trim() !== "", { message: "must not be blank" })
    .refine((text) => !CONTROL.test(text), { message: "plain text without control characters" });

/** What a note says (the signed fields but the payment). */
export const noteContentSchema = z.strictObject({
  text: plain(MAX_NOTE_TEXT).describe("Plain text (shown as text, never as HTML)"),
  evidence: z.array(plain(MAX_EVIDENCE_LENGTH)).max(MAX_NOTE_EVIDENCE).default([]).describe("References to evidence, e.g. a tracking number"),
});

/** A signed note as it travels between gateway and node and between nodes. */
export const disputeNoteSchema = z.strictObject({
  paymentId: bytes32Schema,
  ...noteContentSchema.shape,
  /** When the merchant wrote it (unix milliseconds, the gateway's clock). */
  createdAtMs: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  signature: signatureSchema,
});
export type DisputeNote = z.output<typeof disputeNoteSchema>;
export type UnsignedDisputeNote = Omit<DisputeNote, "signature">;

export const DISPUTE_NOTE_TYPES: TypedDataTypes = {
  DisputeNote: [
    { name: "paymentId", type: "bytes32" },
    { name: "text", type: "string" },
    { name: "evidence", type: "string[]" },
    { name: "createdAtMs", type: "uint64" },
  ],
};

export interface NoteDomain {
  chainId: bigint;
  escrow: string;
}

const messageOf = (note: UnsignedDisputeNote) => ({ paymentId: note.paymentId, text: note.text, evidence: note.evidence, createdAtMs: note.createdAtMs });

/** The note's EIP-712 data (what the merchant's key signs). */
export function disputeNoteTypedData(note: UnsignedDisputeNote, ctx: NoteDomain) {
  return { domain: escrowDomain(ctx.chainId, ctx.escrow), types: DISPUTE_NOTE_TYPES, primaryType: "DisputeNote" as const, message: messageOf(note) };
}

/** The note's id: its EIP-712 digest (lower-case hex). */
export function disputeNoteId(note: UnsignedDisputeNote, ctx: NoteDomain): string {
  const { domain, types, message } = disputeNoteTypedData(note, ctx);
  return TypedDataEncoder.hash(domain, types, message).toLowerCase();
}

/** Signs a note with `signer` (the merchant's key). */
export async function signDisputeNote(signer: Pick<Signer, "signTypedData">, note: UnsignedDisputeNote, ctx: NoteDomain): Promise<DisputeNote> {
  const { domain, types, message } = disputeNoteTypedData(note, ctx);
  return { ...note, signature: await signer.signTypedData(domain, types, message) };
}

/** The address that signed the note (lower case), or undefined when the signature does not recover. */
export function disputeNoteSigner(note: DisputeNote, ctx: NoteDomain): string | undefined {
  const { domain, types, message } = disputeNoteTypedData(note, ctx);
  try {
    return verifyTypedData(domain, types, message, note.signature).toLowerCase();
  } catch {
    return undefined;
  }
}
