/**
 * resolve — an arbiter decides a disputed payment: `payerAmount` of what is held goes back to the
 * payer, the rest to the merchant less the fee. Any holder of the arbiter role may sign, so the signer
 * (and the nonce space) is known only once the signature is recovered.
 */
import { z } from "zod";

import { nonceUsed } from "./descriptor.js";
import { ACTION_REFUSALS, actionStruct, type EscrowOperationDescriptor } from "./escrow.js";
import { paymentTermsSchema } from "./terms.js";
import { field, structDigest } from "./typed-data.js";
import { bytes32Schema, signedFields, uintString } from "./wire.js";

const schema = z.strictObject({
  kind: z.literal("resolve"),
  terms: paymentTermsSchema,
  payerAmount: uintString(96),
  reason: bytes32Schema,
  ...signedFields,
});

/** A parsed resolve. */
export type ResolveOperation = z.output<typeof schema>;

const struct = actionStruct("Resolve", field("payerAmount", "uint256"), field("reason", "bytes32"));
const message = (op: ResolveOperation, paymentId: string) => ({
  paymentId,
  payerAmount: op.payerAmount,
  reason: op.reason,
  nonce: op.nonce,
  deadline: op.deadline,
});

/** The resolve operation. */
export const resolve = {
  kind: "resolve",
  contract: "escrow",
  contractKind: 6,
  schema,
  struct,
  message,
  signer: "arbiter",
  createsPayment: false,
  consumesNonce: true,
  operationId: (op, paymentId, domain) => structDigest(domain, struct, message(op, paymentId)),
  deadline: (op) => op.deadline,
  // The tuple's `amount` carries the payer's award.
  contractFields: (op) => ({ amount: op.payerAmount, reason: op.reason, nonce: op.nonce, deadline: op.deadline, signature: op.signature }),
  fromContract: (item) => ({
    kind: "resolve",
    terms: item.terms,
    payerAmount: item.amount,
    reason: item.reason,
    nonce: item.nonce,
    deadline: item.deadline,
    signature: item.signature,
  }),
  executedBy: [{ event: "PaymentResolved" }],
  repeatable: false,
  alreadyExecuted: nonceUsed,
  refusals: [...ACTION_REFUSALS, "NOT_ARBITER"],
} as const satisfies EscrowOperationDescriptor<ResolveOperation>;
