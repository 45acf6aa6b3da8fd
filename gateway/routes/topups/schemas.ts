/** Wire schemas of the top-up routes: the strict request body and params, the top-up view. */
import { z } from "zod";

import { wireAccount } from "../../../core/bank/wire.js";
import { bankLegView, tokenOpView } from "../payouts/schemas.js";
import { currency, cursor, isoTime, listLimit, minorUnits } from "../schemas.js";

export const topupBody = z.strictObject({
  amount: minorUnits,
  currency,
  account: wireAccount.describe("The bank account the deposit is collected from"),
});

export const topupIdParam = z.strictObject({ id: z.string().regex(/^tu_[0-9a-f]{24}$/, "expected a top-up id (tu_…)") });

export const topupView = z.object({
  id: z.string(),
  object: z.literal("topup"),
  status: z.enum(["pending", "completed", "failed"]),
  stage: z.enum(["requesting", "awaiting_bank", "minting", "completed", "failed"]).describe("requesting → awaiting_bank → (bank confirmed) minting (by the custodian) → completed (topup.completed); a bank rejection → failed; a mint the custodian refused or gave up on → failed (topup.failed)"),
  amount: z.string(),
  currency: z.string(),
  account: z.string(),
  bank: bankLegView.nullable(),
  mint: tokenOpView.nullable(),
  failure: z.object({ code: z.string(), message: z.string() }).nullable(),
  overdue: z.boolean().optional().describe("Not final longer than the gateway's threshold (`overdue.topupSeconds`): the gateway's operators are alerted"),
  createdAt: isoTime,
  updatedAt: isoTime,
});

export const topupListQuery = z.strictObject({ limit: listLimit, cursor });

export const topupList = z.object({ object: z.literal("list"), items: z.array(topupView), nextCursor: z.string().nullable() });
