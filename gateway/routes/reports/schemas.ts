/** Wire schemas of the three-way reconciliation report: its strict query and the report view. */
import { z } from "zod";

import { BREAK_KINDS } from "../../domain/threeway.js";

export const reportQuery = z.strictObject({ format: z.enum(["json", "csv"]).default("json").describe("json (default) or csv (one row per break)") });

const breakView = z.object({
  kind: z.enum(BREAK_KINDS),
  subject: z.enum(["payment", "payout", "topup"]),
  ref: z.string(),
  merchantId: z.string().nullable(),
  gateway: z.string().nullable(),
  chain: z.string().nullable(),
  bank: z.string().nullable(),
  detail: z.string(),
});

export const threeWayView = z.object({
  generatedAt: z.string(),
  merchantId: z.string().nullable(),
  counts: z.object({
    orders: z.number().int(),
    transfers: z.number().int(),
    payouts: z.number().int(),
    topups: z.number().int(),
    chainPayments: z.number().int(),
    chainTokenEvents: z.number().int(),
    bankTransfers: z.number().int(),
  }),
  chainEventsTruncated: z.boolean(),
  breaks: z.array(breakView),
});
