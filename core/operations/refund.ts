/**
 * refund — the merchant gives back part or all of a payment: from the hold while it is held, fulfilled
 * or disputed, or from its own balance after release, within the refund window. A payment may take
 * several refunds; refunding all that is left ends it as Refunded.
 */
import { z } from "zod";

import { nonceUsed } from "./descriptor.js";
import { ACTION_REFUSALS, actionStruct, type EscrowOperationDescriptor } from "./escrow.js";
import { paymentTermsSchema } from "./terms.js";
import { field, structDigest } from "./typed-data.js";
import { bytes32Schema, positiveAmount, signedFields } from "./wire.js";

const schema = z.strictObject({
  kind: z.literal("refund"),
  terms: paymentTermsSchema,
  amount: positiveAmount(96, "refund amount must be positive"),
  reason: bytes32Schema,
  ...signedFields,
});

/** A parsed refund. */
export type RefundOperation = z.output<typeof schema>;

const struct = actionStruct("Refund", field("amount", "uint256"), field("reason", "bytes32"));
const message = (op: RefundOperation, paymentId: string) => ({ paymentId, amount: op.amount, reason: op.reason, nonce: op.nonce, deadline: op.deadline });

/** The refund operation. */
export const refund = {
  kind: "refund",
  contract: "escrow",
  contractKind: 4,
  schema,
  struct,
  message,
  signer: "merchant",
  createsPayment: false,
  consumesNonce: true,
  operationId: (op, paymentId, domain) => structDigest(domain, struct, message(op, paymentId)),
  deadline: (op) => op.deadline,
  contractFields: (op) => ({ amount: op.amount, reason: op.reason, nonce: op.nonce, deadline: op.deadline, signature: op.signature }),
  fromContract: (item) => ({
    kind: "refund",
    terms: item.terms,
    amount: item.amount,
    reason: item.reason,
    nonce: item.nonce,
    deadline: item.deadline,
    signature: item.signature,
  }),
  // Each PaymentRefunded is one refund: the one of that amount and reason.
  executedBy: [
    {
      event: "PaymentRefunded",
      match: [
        { arg: "amount", field: "amount" },
        { arg: "reason", field: "reason" },
      ],
    },
  ],
  repeatable: true,
  alreadyExecuted: nonceUsed,
  refusals: ACTION_REFUSALS,
} as const satisfies EscrowOperationDescriptor<RefundOperation>;
