/**
 * Wire schemas of the hosted checkout's public routes (/v1/checkout/:id/*), which the payer's browser
 * calls without a merchant credential: the payer's signatures are the authority. The console imports
 * this file too (its one source of the checkout's wire types), so it depends on zod and type-only
 * imports, nothing that runs on the server.
 */
import { z } from "zod";

import { disputeReasonTextSchema } from "../../../core/operations/reason-text.js";
import { ORDER_STATUSES } from "../../domain/records.js";

const sig = z.string().regex(/^0x[0-9a-fA-F]{130}$/, "expected a 65-byte signature as 0x-prefixed hex");
const uint = z.string().regex(/^(0|[1-9][0-9]{0,77})$/, "expected a non-negative integer as a decimal string");
// The node takes no other text with a dispute.
const reason = disputeReasonTextSchema;

/** A checkout id is the gateway's payment id: 128 random bits, so it cannot be enumerated. */
export const checkoutIdParam = z.strictObject({
  id: z.string().regex(/^pay_[0-9a-f]{32}$/, "expected a payment id (pay_…)").describe("Gateway payment id (pay_…), from the checkoutUrl"),
});

export const checkoutTypedData = z.object({
  domain: z.object({ name: z.string(), version: z.string(), chainId: z.number(), verifyingContract: z.string() }),
  types: z.record(z.string(), z.array(z.object({ name: z.string(), type: z.string() }))),
  primaryType: z.string(),
  message: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])),
});
export type CheckoutTypedData = z.infer<typeof checkoutTypedData>;

export const checkoutView = z.object({
  object: z.literal("checkout"),
  id: z.string(),
  status: z.enum(ORDER_STATUSES),
  merchantName: z.string().describe("The merchant's display name (its id when it was added without one)"),
  merchantAccount: z.string().describe("The merchant's on-chain account: the payee the payer signs for"),
  merchantOrderId: z.string().describe("The merchant's order reference"),
  description: z.string().nullable(),
  amount: z.string().describe("Minor units, decimal"),
  currency: z.string(),
  decimals: z.number().int().describe("Minor units per major unit, as a power of ten (2: fen per yuan)"),
  mode: z.enum(["escrow", "direct"]),
  payer: z.string().describe("The only account that may sign for this payment"),
  expiresAt: z.string().describe("Until when the payer can authorise (ISO 8601)"),
  expired: z.boolean(),
  terms: z.object({
    fulfilmentPeriodSeconds: z.number().describe("After payment, the merchant has this long to fulfil; afterwards the payer can reclaim"),
    autoReleasePeriodSeconds: z.number().describe("After fulfilment, the payment is released to the merchant after this long unless the payer disputes"),
    refundPeriodSeconds: z.number().describe("After release, the merchant can still refund for this long"),
  }),
  fulfilBy: z.string().nullable().describe("The fulfilment deadline once held (ISO 8601, chain time)"),
  typedData: checkoutTypedData.nullable().describe("What the payer signs to pay; present while the payment awaits authorization"),
  payerAccount: z
    .object({
      balanceSufficient: z.boolean().describe("Whether the payer's balance covers the amount (the balance itself is not shown: whoever holds the link would see it)"),
      allowanceSufficient: z.boolean().describe("Whether the escrow may take the amount; if not, sign the permit first"),
      frozen: z.boolean(),
    })
    .nullable()
    .describe("The payer's token account, while the payment awaits authorization"),
  actions: z.object({
    confirm: z.boolean(),
    dispute: z.boolean(),
    reclaim: z.boolean().describe("Held, never fulfilled and past the fulfilment deadline in chain time"),
  }),
  lastError: z.object({ code: z.string(), message: z.string() }).nullable(),
});
export type CheckoutView = z.infer<typeof checkoutView>;

export const authorizeBody = z.strictObject({ signature: sig.describe("The payer's EIP-712 signature of `typedData`") });

export const permitPayloadView = z.object({
  object: z.literal("permit_payload"),
  value: z.string(),
  deadline: z.string(),
  typedData: checkoutTypedData,
});
export type PermitPayloadView = z.infer<typeof permitPayloadView>;

export const permitBody = z.strictObject({
  value: uint.describe("The `value` of the payload the payer signed"),
  deadline: uint.describe("The `deadline` of the payload the payer signed"),
  signature: sig.describe("The payer's EIP-712 signature of the Permit payload"),
});

export const checkoutAction = z.enum(["confirm", "dispute", "reclaim"]);
export type CheckoutAction = z.infer<typeof checkoutAction>;
export const checkoutActionParams = checkoutIdParam.extend({ action: checkoutAction });
export const actionPayloadQuery = z.strictObject({ reason: reason.optional().describe("Required for dispute: the payer's reason (its keccak256 is signed)") });

export const actionPayloadView = z.object({
  object: z.literal("payer_action_payload"),
  action: checkoutAction,
  nonce: z.string(),
  deadline: z.string(),
  reason: z.string().nullable(),
  typedData: checkoutTypedData,
});
export type ActionPayloadView = z.infer<typeof actionPayloadView>;

export const actionBody = z.strictObject({
  nonce: uint,
  deadline: uint,
  signature: sig,
  reason: reason.optional().describe("For dispute: the same reason the payload was made for"),
});
export type ActionBody = z.infer<typeof actionBody>;
