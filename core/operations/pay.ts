/**
 * pay — the payer pays under signed terms: the amount moves from the payer into the escrow and is held
 * (or, for a direct payment, goes straight to the merchant less the fee). The payer's signature is over
 * the terms themselves, so the operation id is the payment id.
 */
import { z } from "zod";

import { RECEIPT_REFUSALS } from "./descriptor.js";
import { type EscrowOperationDescriptor } from "./escrow.js";
import { PAYMENT_STRUCT, paymentTermsSchema } from "./terms.js";
import { signatureSchema } from "./wire.js";

const schema = z.strictObject({ kind: z.literal("pay"), terms: paymentTermsSchema, signature: signatureSchema });

/** A parsed pay. */
export type PayOperation = z.output<typeof schema>;

/** The pay operation. */
export const pay = {
  kind: "pay",
  contract: "escrow",
  contractKind: 0,
  schema,
  struct: PAYMENT_STRUCT,
  message: (op) => op.terms,
  signer: "payer",
  createsPayment: true,
  // The payer's nonce is part of the terms (a payment id is paid at most once), not an unordered nonce.
  consumesNonce: false,
  operationId: (_op, paymentId) => paymentId,
  operationIdOfPayment: (paymentId) => paymentId,
  deadline: (op) => op.terms.payDeadline,
  riskSubject: (op) => op.terms,
  contractFields: (op) => ({ signature: op.signature }),
  fromContract: (item) => ({ kind: "pay", terms: item.terms, signature: item.signature }),
  executedBy: [{ event: "PaymentPaid" }, { event: "PaymentReleased", directOnly: true }],
  repeatable: false,
  alreadyExecuted: (refusal) => refusal.code === "PaymentAlreadyExists",
  refusals: [
    ...RECEIPT_REFUSALS,
    "UNSUPPORTED_TOKEN",
    "UNKNOWN_MERCHANT",
    "MERCHANT_SUSPENDED",
    "UNKNOWN_PAYER",
    "PAYER_SUSPENDED",
    "FEE_MISMATCH",
    "ACCOUNT_FROZEN",
    "PAYER_INSUFFICIENT_BALANCE",
    "PAYER_ALLOWANCE_MISSING",
    "ALREADY_EXECUTED",
    "EXPIRED",
    "BLACKLISTED",
    "AMOUNT_OVER_LIMIT",
    "KYC_LIMIT_EXCEEDED",
    "PAYER_DAILY_LIMIT",
    "KYC_DAILY_LIMIT_EXCEEDED",
    "MERCHANT_DAILY_LIMIT",
    "VELOCITY_LIMIT",
    "BAD_SIGNATURE",
  ],
} as const satisfies EscrowOperationDescriptor<PayOperation>;
