/**
 * Wire schemas of the payment routes (orders, refunds and the payer's confirm, dispute and reclaim):
 * strict request bodies, params and queries, response views.
 */
import { z } from "zod";

import { disputeReasonTextSchema } from "../../../core/operations/reason-text.js";
import { ORDER_STATUSES } from "../../domain/records.js";
import { address, builtView, isoTime, minorUnits, signature, uintString } from "../schemas.js";

/** Gateway payment id. */
export const paymentIdParam = z.strictObject({
  id: z.string().regex(/^pay_[0-9a-f]{32}$/, "expected a payment id (pay_…)").describe("Gateway payment id (pay_…)"),
});

export const createPaymentBody = z.strictObject({
  amount: minorUnits.describe("Amount in minor units of the currency, as a decimal string"),
  currency: z.string().regex(/^[A-Z0-9]{2,12}$/, "expected a token symbol such as CNY").describe("Settlement token symbol from the deployment (e.g. CNY)"),
  merchantOrderId: z
    .string()
    .regex(/^[A-Za-z0-9._:-]{1,64}$/, "1-64 characters of A-Z a-z 0-9 . _ : -")
    .describe("The merchant's own order id, unique per merchant. Reusing it with the same body returns the existing payment (200); with a different body, 409."),
  description: z.string().max(500).optional(),
  mode: z.enum(["escrow", "direct"]).default("escrow").describe("escrow: held until fulfilment and confirmation/auto-release; direct: paid to the merchant at once"),
  payer: address.describe("The payer's on-chain address (a registered customer); it signs the returned typed data"),
  fulfilmentPeriod: z.number().int().min(60).max(31_536_000).optional().describe("Seconds after payment within which the merchant must mark fulfilment (default from the gateway config)"),
  autoReleasePeriod: z.number().int().min(60).max(31_536_000).optional().describe("Seconds after fulfilment after which the payment may be released without the payer (default from config)"),
  expiresIn: z.number().int().min(60).max(2_592_000).optional().describe("Seconds the payer has to authorise (default from config)"),
});
export type CreatePaymentBody = z.infer<typeof createPaymentBody>;

export const authorizationBody = z.strictObject({
  signature: z.string().regex(/^0x[0-9a-fA-F]{130}$/, "expected a 65-byte signature as 0x-prefixed hex").describe("The payer's EIP-712 signature of `typedData`"),
});

export const refundBody = z.strictObject({
  amount: minorUnits.describe("Amount to refund in minor units; at most what is left"),
  reason: z.string().min(1).max(200).describe("Why (stored here; its keccak256 goes on-chain)"),
});

export const cancelBody = z.strictObject({ reason: z.string().max(200).optional() }).optional();

export const listQuery = z.strictObject({
  status: z.enum(ORDER_STATUSES).optional(),
  from: z.iso.datetime({ offset: true }).optional().describe("Created at or after (ISO 8601)"),
  to: z.iso.datetime({ offset: true }).optional().describe("Created at or before (ISO 8601)"),
  merchantOrderId: z.string().regex(/^[A-Za-z0-9._:-]{1,64}$/).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().max(512).optional().describe("`nextCursor` of the previous page"),
});

// ---------------------------------------------------------------- responses

export const typedDataSchema = z
  .object({
    domain: z.object({ name: z.string(), version: z.string(), chainId: z.number(), verifyingContract: z.string() }),
    types: z.record(z.string(), z.array(z.object({ name: z.string(), type: z.string() }))),
    primaryType: z.string(),
    message: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])),
  })
  .describe("EIP-712 typed data for the payer's wallet (ethers signTypedData(domain, types, message); eth_signTypedData_v4 adds EIP712Domain)");

const submittedSchema = z.object({
  operationId: z.string(),
  status: z.enum(["pending", "executed", "failed"]),
  submittedAt: isoTime,
  error: z.object({ code: z.string(), message: z.string() }).optional(),
  execution: z
    .object({ txHash: z.string(), blockNumber: z.number().int(), executedAt: isoTime.describe("The block's time") })
    .nullable()
    .describe("The transaction and block the chain executed it in, once the node knows; null before"),
});

export const refundView = submittedSchema.extend({
  id: z.string(),
  object: z.literal("refund"),
  amount: z.string(),
  reason: z.string(),
});
export type RefundView = z.infer<typeof refundView>;

export const paymentView = builtView(z.object({
  id: z.string(),
  object: z.literal("payment"),
  merchantOrderId: z.string(),
  status: z.enum(ORDER_STATUSES),
  amount: z.string(),
  currency: z.string(),
  description: z.string().nullable(),
  mode: z.enum(["escrow", "direct"]),
  payer: z.string(),
  merchant: z.string().describe("The merchant's on-chain address"),
  paymentId: z.string().describe("On-chain payment id (EIP-712 digest of the terms)"),
  feeBps: z.number(),
  refundedAmount: z.string(),
  periods: z.object({ fulfilment: z.number(), autoRelease: z.number(), refund: z.number() }),
  createdAt: isoTime,
  updatedAt: isoTime,
  expiresAt: isoTime,
  typedData: typedDataSchema.nullable().describe("What the payer signs; present while the payment awaits authorization"),
  authorization: submittedSchema.nullable(),
  fulfilment: submittedSchema.nullable(),
  autoRelease: submittedSchema.nullable().optional().describe("The release the gateway submitted after the auto-release time passed (chain time)"),
  refunds: z.array(refundView),
  onChain: z
    .object({ status: z.string(), amount: z.string(), refunded: z.string(), deadline: isoTime })
    .nullable()
    .describe("The escrow's state when last seen"),
  lastError: z.object({ code: z.string(), message: z.string(), at: isoTime }).nullable(),
  checkoutUrl: z
    .string()
    .optional()
    .describe("The hosted checkout page (unguessable URL) where the payer sees the payment and signs with a browser wallet (EIP-1193); send the payer there"),
}));
export type PaymentView = z.infer<typeof paymentView>;

export const paymentList = z.object({
  object: z.literal("list"),
  items: z.array(paymentView),
  nextCursor: z.string().nullable(),
});

export const refundResult = z.object({ refund: refundView, payment: paymentView });

// ---------------------------------------------------------------- payer actions

// The node takes no other text with a dispute.
const reasonText = disputeReasonTextSchema;

export const disputePayloadQuery = z.strictObject({
  reason: reasonText.describe("The payer's reason; its keccak256 is what the payer signs and what goes on-chain"),
});

export const confirmBody = z.strictObject({
  nonce: uintString.describe("The `nonce` of the payload the payer signed"),
  deadline: uintString.describe("The `deadline` of the payload the payer signed"),
  signature: signature.describe("The payer's EIP-712 signature of the Confirm payload"),
});

export const disputeBody = confirmBody.extend({
  reason: reasonText.describe("The same reason the payload was made for"),
  signature: signature.describe("The payer's EIP-712 signature of the Dispute payload"),
});

export const reclaimBody = confirmBody.extend({
  signature: signature.describe("The payer's EIP-712 signature of the Reclaim payload"),
});

export const payerActionPayloadView = z.object({
  object: z.literal("payer_action_payload"),
  action: z.enum(["confirm", "dispute", "reclaim"]),
  payer: z.string(),
  nonce: z.string(),
  deadline: z.string().describe("Unix seconds (chain time) after which the signature is void"),
  reason: z.string().nullable(),
  reasonHash: z.string().nullable(),
  typedData: typedDataSchema,
});

export const payerActionView = z.object({
  object: z.literal("payer_action"),
  action: z.enum(["confirm", "dispute", "reclaim"]),
  operationId: z.string(),
  status: z.enum(["pending", "executed", "failed"]),
  reason: z.string().nullable(),
  submittedAt: isoTime,
  error: z.object({ code: z.string(), message: z.string() }).optional(),
});

export const payerActionResult = z.object({ action: payerActionView, payment: paymentView });
