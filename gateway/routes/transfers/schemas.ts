/** Wire schemas of the transfer routes: the strict request body and params, the transfer view. */
import { z } from "zod";

import { address, currency, cursor, isoTime, listLimit, minorUnits } from "../schemas.js";

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

export const transferIdParam = z.strictObject({ id: z.string().regex(/^tr_[0-9a-f]{24}$/, "expected a transfer id (tr_…)") });

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

export const transferListQuery = z.strictObject({ limit: listLimit, cursor });

export const transferList = z.object({ object: z.literal("list"), items: z.array(transferView), nextCursor: z.string().nullable() });
