/**
 * dispute — the payer disputes a held payment (once fulfilled, only before its auto-release time);
 * auto-release stops until an arbiter resolves it.
 *
 * The payer signs `reason`, the keccak256 of its reason's UTF-8 text. The text itself may travel with
 * the operation as `reasonText` (off-chain: stored and gossiped by nodes so that arbiters and
 * regulators read the payer's words, never sent to the contract); a node takes it only if it hashes
 * to the signed `reason` (`disputeReasonMatches`).
 */
import { keccak256, toUtf8Bytes } from "ethers";
import { z } from "zod";

import { nonceUsed } from "./descriptor.js";
import { ACTION_REFUSALS, actionStruct, type EscrowOperationDescriptor } from "./escrow.js";
import { paymentTermsSchema } from "./terms.js";
import { field, structDigest } from "./typed-data.js";
import { disputeReasonTextSchema } from "./reason-text.js";
import { bytes32Schema, signedFields } from "./wire.js";

export { DISPUTE_REASON_MAX_LENGTH, disputeReasonTextSchema } from "./reason-text.js";

/** The bytes32 a payer signs for the reason `text`: keccak256 of its UTF-8 bytes. */
export function disputeReasonOf(text: string): string {
  return keccak256(toUtf8Bytes(text));
}

/** True if `text` is the reason whose bytes32 `reason` was signed. */
export function disputeReasonMatches(text: string, reason: string): boolean {
  return disputeReasonOf(text) === reason.toLowerCase();
}

const schema = z.strictObject({
  kind: z.literal("dispute"),
  terms: paymentTermsSchema,
  reason: bytes32Schema,
  ...signedFields,
  reasonText: disputeReasonTextSchema.optional().describe("The payer's reason in words (off-chain); its keccak256 must be `reason`"),
});

/** A parsed dispute. */
export type DisputeOperation = z.output<typeof schema>;

const struct = actionStruct("Dispute", field("reason", "bytes32"));
const message = (op: DisputeOperation, paymentId: string) => ({ paymentId, reason: op.reason, nonce: op.nonce, deadline: op.deadline });

/** The dispute operation. */
export const dispute = {
  kind: "dispute",
  contract: "escrow",
  contractKind: 5,
  schema,
  struct,
  message,
  signer: "payer",
  createsPayment: false,
  consumesNonce: true,
  operationId: (op, paymentId, domain) => structDigest(domain, struct, message(op, paymentId)),
  deadline: (op) => op.deadline,
  // The text stays off-chain: the contract takes the signed bytes32 only.
  contractFields: (op) => ({ reason: op.reason, nonce: op.nonce, deadline: op.deadline, signature: op.signature }),
  // Calldata carries no text: an operation rebuilt from it has none (the node keeps what it received).
  fromContract: (item) => ({ kind: "dispute", terms: item.terms, reason: item.reason, nonce: item.nonce, deadline: item.deadline, signature: item.signature }),
  executedBy: [{ event: "PaymentDisputed" }],
  repeatable: false,
  alreadyExecuted: nonceUsed,
  refusals: [...ACTION_REFUSALS, "REASON_MISMATCH"],
} as const satisfies EscrowOperationDescriptor<DisputeOperation>;
