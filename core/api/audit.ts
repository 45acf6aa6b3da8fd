/**
 * Audit resource of the node API (served by every node, regulators' included): a payment's full
 * history and payment queries by account, merchant, institution and time.
 */
import { z } from "zod";

import { address, hex32, integer, pageQuery, problemResponses, route, timeRangeQuery } from "./common.js";
import { disputeNoteViewSchema } from "./disputes.js";
import { operationFailureSchema, operationKindSchema, operationStatusSchema } from "./operations.js";
import { paymentEventSchema, paymentPageSchema, paymentRecordSchema } from "./payments.js";

/** One operation in a payment's history: who signed it, who relayed it, where and how it ended. */
export const auditStepSchema = z.strictObject({
  id: hex32,
  kind: operationKindSchema,
  signer: address.nullable(),
  signature: z.string().nullable().describe("Null for release, which nobody signs"),
  reason: hex32.nullable().describe("Refund, dispute and resolve: the signed reason reference; null for other kinds"),
  reasonText: z.string().nullable().describe("Dispute: the payer's reason in words when it came with the operation (its keccak256 is `reason`); plain text"),
  origin: z.enum(["api", "gossip"]),
  receivedAtMs: integer,
  relayer: address.nullable(),
  txHash: hex32.nullable(),
  blockNumber: integer.nullable(),
  timestamp: integer.nullable(),
  outcome: operationStatusSchema,
  error: operationFailureSchema.optional(),
});

/** GET /v1/audit/payments/:id: operations in chain order, and the escrow events that moved the payment. */
export const paymentHistorySchema = z.strictObject({
  paymentId: hex32,
  payment: paymentRecordSchema.nullable(),
  operations: z.array(auditStepSchema),
  events: z.array(paymentEventSchema),
  disputeNotes: z.array(disputeNoteViewSchema).describe("The merchant's signed notes on the payment's dispute, oldest first (not chain operations)"),
});
export type PaymentHistory = z.infer<typeof paymentHistorySchema>;

export const auditListQuery = z.strictObject({
  account: address.optional().describe("The payer"),
  merchant: address.optional(),
  institution: address.optional(),
  ...timeRangeQuery,
  ...pageQuery,
});

export const auditRoutes = {
  getPaymentHistory: route("GET", "/v1/audit/payments/:id", {
    operationId: "getPaymentHistory",
    tags: ["audit"],
    summary: "A payment's full history: each operation with signer, signature, relayer, transaction, block, time and outcome",
    params: z.strictObject({ id: hex32 }),
    response: { 200: paymentHistorySchema, ...problemResponses },
  }),
  listAuditPayments: route("GET", "/v1/audit/payments", {
    operationId: "listAuditPayments",
    tags: ["audit"],
    summary: "Payments by account (payer), merchant or institution (at most one) and paid-at time, newest first",
    querystring: auditListQuery,
    response: { 200: paymentPageSchema, ...problemResponses },
  }),
};
