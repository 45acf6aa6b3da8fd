/**
 * Wire schemas of the payout routes: the strict request body, params and query, the payout view,
 * and the token-operation and bank-leg views top-ups share.
 */
import { z } from "zod";

import { wireAccount } from "../../../core/bank/wire.js";
import { currency, cursor, isoTime, listLimit, minorUnits } from "../schemas.js";

export const payoutBody = z.strictObject({
  amount: minorUnits,
  currency,
  account: wireAccount.describe("The merchant's bank account; must be the payout account registered for the merchant on-chain"),
});

export const payoutIdParam = z.strictObject({ id: z.string().regex(/^po_[0-9a-f]{24}$/, "expected a payout id (po_…)") });

/** A merchant's redemption or the custodian's mint as the node last reported it. */
export const tokenOpView = z.object({ operationId: z.string(), status: z.enum(["pending", "executed", "failed"]), error: z.object({ code: z.string(), message: z.string() }).optional() });

/** The bank's side of a payout or top-up. */
export const bankLegView = z.object({ bankRef: z.string(), status: z.enum(["pending", "confirmed", "rejected"]), reason: z.string().optional() });

export const payoutView = z.object({
  id: z.string(),
  object: z.literal("payout"),
  status: z.enum(["pending", "paid", "failed"]),
  stage: z.enum(["burning", "paying", "paid", "reversing", "failed"]).describe("burning → paying → paid; or paying → reversing (the bank rejected: the custodian mints it back) → failed"),
  amount: z.string(),
  currency: z.string(),
  account: z.string(),
  reversed: z.boolean().describe("The bank rejected the payout and the custodian minted the redeemed amount back"),
  burn: tokenOpView,
  bank: bankLegView.nullable(),
  reversal: tokenOpView.nullable(),
  failure: z.object({ code: z.string(), message: z.string() }).nullable(),
  overdue: z.boolean().optional().describe("Not final longer than the gateway's threshold (`overdue.payoutSeconds`): the gateway's operators are alerted"),
  createdAt: isoTime,
  updatedAt: isoTime,
});

export const payoutList = z.object({ object: z.literal("list"), items: z.array(payoutView), nextCursor: z.string().nullable() });
export const payoutListQuery = z.strictObject({ limit: listLimit, cursor });
