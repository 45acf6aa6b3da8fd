/**
 * reclaim — the payer takes back a held payment the merchant did not fulfil by the fulfilment
 * deadline (only once a block later than the deadline exists).
 */
import { z } from "zod";

import { nonceUsed } from "./descriptor.js";
import { ACTION_REFUSALS, actionStruct, type EscrowOperationDescriptor } from "./escrow.js";
import { paymentTermsSchema } from "./terms.js";
import { structDigest } from "./typed-data.js";
import { signedFields } from "./wire.js";

const schema = z.strictObject({ kind: z.literal("reclaim"), terms: paymentTermsSchema, ...signedFields });

/** A parsed reclaim. */
export type ReclaimOperation = z.output<typeof schema>;

const struct = actionStruct("Reclaim");
const message = (op: ReclaimOperation, paymentId: string) => ({ paymentId, nonce: op.nonce, deadline: op.deadline });

/** The reclaim operation. */
export const reclaim = {
  kind: "reclaim",
  contract: "escrow",
  contractKind: 7,
  schema,
  struct,
  message,
  signer: "payer",
  createsPayment: false,
  consumesNonce: true,
  operationId: (op, paymentId, domain) => structDigest(domain, struct, message(op, paymentId)),
  deadline: (op) => op.deadline,
  contractFields: (op) => ({ nonce: op.nonce, deadline: op.deadline, signature: op.signature }),
  fromContract: (item) => ({ kind: "reclaim", terms: item.terms, nonce: item.nonce, deadline: item.deadline, signature: item.signature }),
  executedBy: [{ event: "PaymentReclaimed" }],
  repeatable: false,
  alreadyExecuted: nonceUsed,
  refusals: [...ACTION_REFUSALS, "NOT_DUE"],
} as const satisfies EscrowOperationDescriptor<ReclaimOperation>;
