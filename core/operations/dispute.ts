/**
 * dispute — the payer disputes a held payment (once fulfilled, only before its auto-release time);
 * auto-release stops until an arbiter resolves it.
 */
import { z } from "zod";

import { nonceUsed } from "./descriptor.js";
import { ACTION_REFUSALS, actionStruct, type EscrowOperationDescriptor } from "./escrow.js";
import { paymentTermsSchema } from "./terms.js";
import { field, structDigest } from "./typed-data.js";
import { bytes32Schema, signedFields } from "./wire.js";

const schema = z.strictObject({ kind: z.literal("dispute"), terms: paymentTermsSchema, reason: bytes32Schema, ...signedFields });

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
  contractFields: (op) => ({ reason: op.reason, nonce: op.nonce, deadline: op.deadline, signature: op.signature }),
  fromContract: (item) => ({ kind: "dispute", terms: item.terms, reason: item.reason, nonce: item.nonce, deadline: item.deadline, signature: item.signature }),
  executedBy: [{ event: "PaymentDisputed" }],
  repeatable: false,
  alreadyExecuted: nonceUsed,
  refusals: ACTION_REFUSALS,
} as const satisfies EscrowOperationDescriptor<DisputeOperation>;
