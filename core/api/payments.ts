/**
 * Payments resource of the node API: a payment as the node's indexer built it from escrow events,
 * merged with what the escrow holds now and the operations acting on it, and lists of payments by
 * merchant, payer, institution or time.
 */
import { z } from "zod";

import { PAYMENT_STATUSES } from "../protocol/eip712.js";
import { address, amount, hex32, integer, pageOf, pageQuery, problemResponses, route, timeRangeQuery } from "./common.js";
import { storedOperationSchema } from "./operations.js";

/** One escrow event of a payment, as indexed from the chain. */
export const paymentEventSchema = z.strictObject({
  event: z.string().describe("Escrow event name (PaymentPaid, PaymentReleased, ...)"),
  blockNumber: integer,
  txHash: hex32,
  logIndex: integer,
  timestamp: integer,
  args: z.record(z.string(), z.union([z.string(), z.boolean()])).describe("Event arguments, integers as decimal strings"),
  relayer: address.optional().describe("Sender of the transaction that emitted it (the relaying institution's key); absent in records indexed before it was kept"),
});

/** The indexer's view of a payment (built only from chain events). */
export const paymentRecordSchema = z.strictObject({
  paymentId: hex32,
  payer: address,
  merchant: address,
  token: address,
  amount,
  orderId: hex32,
  feeBps: integer,
  direct: z.boolean(),
  status: z.enum(PAYMENT_STATUSES),
  refunded: amount,
  deadline: integer.describe("Meaning depends on status (IPaymentEscrow.PaymentState.deadline)"),
  payerInstitution: z.string().describe("Institution of the payer's account (empty if the registry names none)"),
  merchantInstitution: z.string().describe("Acquiring institution of the merchant (empty if the registry names none)"),
  paidAt: integer,
  paidBlock: integer,
  updatedAt: integer,
  events: z.array(paymentEventSchema),
});

/** The payment as the escrow holds it at the chain head. */
export const onChainPaymentSchema = z.strictObject({
  status: z.string().describe("Escrow payment status name"),
  amount,
  refunded: amount,
  deadline: integer,
});

/** GET /v1/payments/:id: the indexed payment, the escrow's state now and the operations acting on it. */
export const paymentViewSchema = z.strictObject({
  paymentId: hex32,
  payment: paymentRecordSchema.nullable().describe("Null until the indexer saw the payment paid"),
  onChain: onChainPaymentSchema.nullable().describe("Null if the escrow does not know the payment"),
  operations: z.array(storedOperationSchema),
});
/** The node's view of a payment (GET /v1/payments/:id). */
export type NodePayment = z.infer<typeof paymentViewSchema>;

export const paymentListQuery = z.strictObject({
  merchant: address.optional(),
  payer: address.optional(),
  institution: address.optional(),
  ...timeRangeQuery,
  ...pageQuery,
});

export const paymentPageSchema = pageOf(paymentRecordSchema);

export const paymentRoutes = {
  getPayment: route("GET", "/v1/payments/:id", {
    operationId: "getPayment",
    tags: ["payments"],
    summary: "A payment: indexed record, escrow state now and its operations",
    description: "404 PAYMENT_NOT_FOUND when neither the index, the stored operations nor the escrow know it.",
    params: z.strictObject({ id: hex32 }),
    response: { 200: paymentViewSchema, ...problemResponses },
  }),
  listPayments: route("GET", "/v1/payments", {
    operationId: "listPayments",
    tags: ["payments"],
    summary: "Indexed payments, newest first, by merchant, payer or institution (at most one filter) and paid-at time",
    querystring: paymentListQuery,
    response: { 200: paymentPageSchema, ...problemResponses },
  }),
};
