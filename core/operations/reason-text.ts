/**
 * The payer's dispute reason in words, as it travels beside the signed bytes32 (see dispute.ts). Only
 * zod here: the checkout page's wire schemas use it too, so the browser and the node take the same text.
 */
import { z } from "zod";

/** The longest reason text, in characters (UTF-16 code units, as zod counts): at most 600 bytes of UTF-8. */
export const DISPUTE_REASON_MAX_LENGTH = 200;

// Plain text: no control characters but tab and line breaks, and no lone surrogates (which have no
// UTF-8 form, so a node could not hash or gossip them as received).
function hasControl(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || c === 0x7f) return true;
  }
  return false;
}
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** The payer's reason in words: 1 to DISPUTE_REASON_MAX_LENGTH characters of plain text. */
export const disputeReasonTextSchema = z
  .string()
  .min(1)
  .max(DISPUTE_REASON_MAX_LENGTH)
  .refine((text) => !hasControl(text), "control characters are not allowed (plain text only)")
  .refine((text) => !LONE_SURROGATE.test(text), "not well-formed Unicode");
