/**
 * markFulfilled — the merchant records that it fulfilled (shipped) a held payment, before the
 * fulfilment deadline; the auto-release clock starts and the payer can no longer reclaim.
 */
import { z } from "zod";

import { nonceUsed } from "./descriptor.js";
import { ACTION_REFUSALS, actionStruct, type EscrowOperationDescriptor } from "./escrow.js";
import { paymentTermsSchema } from "./terms.js";
import { structDigest } from "./typed-data.js";
import { signedFields } from "./wire.js";

const schema = z.strictObject({ kind: z.literal("markFulfilled"), terms: paymentTermsSchema, ...signedFields });

/** A parsed markFulfilled. */
export type MarkFulfilledOperation = z.output<typeof schema>;

const struct = actionStruct("MarkFulfilled");
const message = (op: MarkFulfilledOperation, paymentId: string) => ({ paymentId, nonce: op.nonce, deadline: op.deadline });

/** The markFulfilled operation. */
export const markFulfilled = {
  kind: "markFulfilled",
  contract: "escrow",
  contractKind: 1,
  schema,
  struct,
  message,
  signer: "merchant",
  createsPayment: false,
  consumesNonce: true,
  operationId: (op, paymentId, domain) => structDigest(domain, struct, message(op, paymentId)),
  deadline: (op) => op.deadline,
  contractFields: (op) => ({ nonce: op.nonce, deadline: op.deadline, signature: op.signature }),
  fromContract: (item) => ({ kind: "markFulfilled", terms: item.terms, nonce: item.nonce, deadline: item.deadline, signature: item.signature }),
  executedBy: [{ event: "PaymentFulfilled" }],
  repeatable: false,
  alreadyExecuted: nonceUsed,
  refusals: ACTION_REFUSALS,
} as const satisfies EscrowOperationDescriptor<MarkFulfilledOperation>;
