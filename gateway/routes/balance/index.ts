/** GET /v1/balance: the merchant's tokens, amounts held in escrow and pending payouts and top-ups (behaviour in domain/money.ts). */
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";

import { merchantOf } from "../../plugins/app/auth.js";
import { moneyConfigured } from "../../plugins/app/services.js";
import { SIGNED, problemResponses } from "../schemas.js";
import { balanceView } from "./schemas.js";

const common = { tags: ["money"], security: SIGNED } as const;

/** Registers GET /balance on the signed /v1 scope. */
export const balanceRoutes: FastifyPluginAsyncZod = async (app) => {
  const money = () => moneyConfigured(app.money);
  app.get(
    "/balance",
    { schema: { ...common, operationId: "getBalance", summary: "Token balance, amounts held in escrow and pending payouts", response: { 200: balanceView, ...problemResponses } } },
    async (request) => {
      const merchant = merchantOf(request);
      const lines = await money().balance(merchant);
      return {
        object: "balance" as const,
        merchant: merchant.address,
        balances: lines.map((l) => ({
          currency: l.currency,
          token: l.token,
          available: l.available.toString(),
          heldInEscrow: l.heldInEscrow.toString(),
          pendingPayouts: l.pendingPayouts.toString(),
          pendingTopups: l.pendingTopups.toString(),
        })),
      };
    },
  );
};
