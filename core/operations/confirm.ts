/**
 * confirm — the payer confirms receipt of a held or fulfilled payment: what is held goes to the
 * merchant, less the fee, and the refund window opens.
 */
import { z } from "zod";

import { nonceUsed } from "./descriptor.js";
import { ACTION_REFUSALS, actionStruct, type EscrowOperationDescriptor } from "./escrow.js";
import { paymentTermsSchema } from "./terms.js";
import { structDigest } from "./typed-data.js";
import { signedFields } from "./wire.js";

const schema = z.strictObject({ kind: z.literal("confirm"), terms: paymentTermsSchema, ...signedFields });

/** A parsed confirm. */
export type ConfirmOperation = z.output<typeof schema>;

const struct = actionStruct("Confirm");
const message = (op: ConfirmOperation, paymentId: string) => ({ paymentId, nonce: op.nonce, deadline: op.deadline });

/** The confirm operation. */
export const confirm = {
  kind: "confirm",
  contract: "escrow",
  contractKind: 2,
  schema,
  struct,
  message,
  signer: "payer",
  createsPayment: false,
  consumesNonce: true,
  operationId: (op, paymentId, domain) => structDigest(domain, struct, message(op, paymentId)),
  deadline: (op) => op.deadline,
  contractFields: (op) => ({ nonce: op.nonce, deadline: op.deadline, signature: op.signature }),
  fromContract: (item) => ({ kind: "confirm", terms: item.terms, nonce: item.nonce, deadline: item.deadline, signature: item.signature }),
  executedBy: [{ event: "PaymentReleased" }],
  repeatable: false,
  alreadyExecuted: nonceUsed,
  refusals: ACTION_REFUSALS,
} as const satisfies EscrowOperationDescriptor<ConfirmOperation>;
