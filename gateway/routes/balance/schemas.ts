/** Wire schema of the balance view. */
import { z } from "zod";

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
