/** Wire schemas of the disputes listing: its strict query and the dispute view. */
import { z } from "zod";

import { paymentView } from "../payments/schemas.js";
import { cursor, isoTime, listLimit } from "../schemas.js";

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
