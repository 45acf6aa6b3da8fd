/**
 * Wire schemas of the money and payer-action routes (money-routes.ts): strict request bodies and
 * queries, response views. Kept beside schemas.ts so each file has one owner; the OpenAPI document is
 * generated from both.
 */
import { z } from "zod";

import { wireAccount } from "../../../core/bank/wire.js";
import { paymentView, typedDataSchema } from "../payments/schemas.js";

const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/, "expected a 0x-prefixed 20-byte hex address");
const minorUnits = z.string().regex(/^[1-9][0-9]{0,38}$/, "expected a positive integer amount in minor units as a decimal string");
const uintString = z.string().regex(/^(0|[1-9][0-9]{0,77})$/, "expected a non-negative integer as a decimal string");
const signature = z.string().regex(/^0x[0-9a-fA-F]{130}$/, "expected a 65-byte signature as 0x-prefixed hex");
const currency = z.string().regex(/^[A-Z0-9]{2,12}$/, "expected a token symbol such as CNY").describe("Settlement token symbol (e.g. CNY)");
const isoTime = z.string().describe("ISO 8601 date-time (UTC)");
const reasonText = z.string().min(1).max(200);
const listLimit = z.coerce.number().int().min(1).max(100).default(20);
const cursor = z.string().max(512).optional().describe("`nextCursor` of the previous page");

// ---------------------------------------------------------------- payer actions

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

export const disputeListQuery = z.strictObject({
  status: z.enum(["disputed", "resolved"]).default("disputed").describe("disputed: open disputes; resolved: decided by an arbiter"),
  limit: listLimit,
  cursor,
});

export const disputeView = z.object({
  object: z.literal("dispute"),
  payment: paymentView,
  reason: z.string().nullable().describe("The payer's reason, when the dispute came through this gateway"),
  reasonHash: z.string().nullable(),
  openedAt: isoTime.nullable(),
});

export const disputeList = z.object({ object: z.literal("list"), items: z.array(disputeView), nextCursor: z.string().nullable() });

// ---------------------------------------------------------------- balance

export const balanceView = z.object({
  object: z.literal("balance"),
  merchant: z.string(),
  balances: z.array(
    z.object({
      currency: z.string(),
      token: z.string(),
      available: z.string().describe("On-chain token balance (what can be paid out or transferred)"),
      heldInEscrow: z.string().describe("Gross amount of this merchant's payments held in escrow (held, fulfilled, disputed), less refunds"),
      pendingPayouts: z.string().describe("Payouts not yet paid or failed"),
      pendingTopups: z.string().describe("Top-ups not yet minted or failed"),
    }),
  ),
});

// ---------------------------------------------------------------- payouts and top-ups

export const payoutBody = z.strictObject({
  amount: minorUnits,
  currency,
  account: wireAccount.describe("The merchant's bank account; must be the payout account registered for the merchant on-chain"),
});

export const topupBody = z.strictObject({
  amount: minorUnits,
  currency,
  account: wireAccount.describe("The bank account the deposit is collected from"),
});

export const payoutIdParam = z.strictObject({ id: z.string().regex(/^po_[0-9a-f]{24}$/, "expected a payout id (po_…)") });
export const topupIdParam = z.strictObject({ id: z.string().regex(/^tu_[0-9a-f]{24}$/, "expected a top-up id (tu_…)") });
export const transferIdParam = z.strictObject({ id: z.string().regex(/^tr_[0-9a-f]{24}$/, "expected a transfer id (tr_…)") });

const tokenOpView = z.object({ operationId: z.string(), status: z.enum(["pending", "executed", "failed"]), error: z.object({ code: z.string(), message: z.string() }).optional() });
const bankLegView = z.object({ bankRef: z.string(), status: z.enum(["pending", "confirmed", "rejected"]), reason: z.string().optional() });

export const payoutView = z.object({
  id: z.string(),
  object: z.literal("payout"),
  status: z.enum(["pending", "paid", "failed"]),
  stage: z.enum(["burning", "paying", "paid", "reversing", "failed"]).describe("burning → paying → paid; or paying → reversing (the bank rejected: re-mint) → failed"),
  amount: z.string(),
  currency: z.string(),
  account: z.string(),
  reversed: z.boolean().describe("The bank rejected the payout and the burned amount was minted back"),
  burn: tokenOpView,
  bank: bankLegView.nullable(),
  reversal: tokenOpView.nullable(),
  failure: z.object({ code: z.string(), message: z.string() }).nullable(),
  createdAt: isoTime,
  updatedAt: isoTime,
});

export const payoutList = z.object({ object: z.literal("list"), items: z.array(payoutView), nextCursor: z.string().nullable() });
export const payoutListQuery = z.strictObject({ limit: listLimit, cursor });

export const topupView = z.object({
  id: z.string(),
  object: z.literal("topup"),
  status: z.enum(["pending", "completed", "failed"]),
  stage: z.enum(["requesting", "awaiting_bank", "minting", "completed", "failed"]).describe("requesting → awaiting_bank → (bank confirmed) minting → completed; a bank rejection → failed"),
  amount: z.string(),
  currency: z.string(),
  account: z.string(),
  bank: bankLegView.nullable(),
  mint: tokenOpView.nullable(),
  failure: z.object({ code: z.string(), message: z.string() }).nullable(),
  createdAt: isoTime,
  updatedAt: isoTime,
});

// ---------------------------------------------------------------- transfers

export const transferBody = z.strictObject({
  to: address.describe("The recipient: another active merchant registered on-chain"),
  amount: minorUnits,
  currency,
  reference: z
    .string()
    .regex(/^[A-Za-z0-9._:-]{1,64}$/, "1-64 characters of A-Z a-z 0-9 . _ : -")
    .describe("The merchant's own reference, unique per merchant: the same reference and body returns the existing transfer (200), another body 409"),
  description: z.string().max(500).optional(),
});

export const transferView = z.object({
  id: z.string(),
  object: z.literal("transfer"),
  status: z.enum(["pending", "executed", "failed"]),
  reference: z.string(),
  from: z.string(),
  to: z.string(),
  amount: z.string(),
  currency: z.string(),
  feeBps: z.number().describe("The recipient's registered fee, deducted by the escrow"),
  fee: z.string(),
  netAmount: z.string().describe("What the recipient receives"),
  paymentId: z.string().describe("The direct escrow payment that carries the transfer"),
  description: z.string().nullable(),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
  createdAt: isoTime,
  updatedAt: isoTime,
});
