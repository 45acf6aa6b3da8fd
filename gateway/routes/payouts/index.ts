/** The /v1 payout routes: withdraw to the merchant's registered bank account (behaviour in domain/money.ts). */
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";

import type { PayoutRecord } from "../../domain/money-types.js";
import { merchantOf } from "../../plugins/app/auth.js";
import { moneyConfigured } from "../../plugins/app/services.js";
import { SIGNED, requiredIdempotencyHeaders, problemResponses } from "../schemas.js";
import { payoutBody, payoutIdParam, payoutList, payoutListQuery, payoutView } from "./schemas.js";
import { payoutToView } from "./views.js";

const common = { tags: ["money"], security: SIGNED } as const;

/** Registers the payout routes on the signed /v1 scope. */
export const payoutRoutes: FastifyPluginAsyncZod = async (app) => {
  const money = () => moneyConfigured(app.money);
  const view = (r: PayoutRecord) => payoutToView(r, app.overdueWatch.isOverdue("payout", r));
  app.post(
    "/payouts",
    {
      schema: {
        ...common,
        operationId: "createPayout",
        summary: "Withdraw to the merchant's registered bank account",
        description: "The merchant redeems the amount from its own balance first (signed with its key, relayed through the node), then the bank pays against that redemption: payout.paid. If the bank rejects the payout, the custodian institution, reading the rejection from the bank itself, mints the amount back (reversed: true) and the payout ends failed: payout.failed.",
        headers: requiredIdempotencyHeaders,
        body: payoutBody,
        response: { 202: payoutView, ...problemResponses },
      },
    },
    async (request, reply) => reply.status(202).send(view(await money().createPayout(merchantOf(request), request.body))),
  );

  app.get(
    "/payouts",
    { schema: { ...common, operationId: "listPayouts", summary: "The merchant's payouts (newest first)", querystring: payoutListQuery, response: { 200: payoutList, ...problemResponses } } },
    async (request) => {
      const { limit, cursor } = request.query;
      const page = await money().listPayouts(merchantOf(request), { limit, ...(cursor ? { cursor } : {}) });
      return { object: "list" as const, items: page.items.map(view), nextCursor: page.next ?? null };
    },
  );

  app.get(
    "/payouts/:id",
    { schema: { ...common, operationId: "getPayout", summary: "A payout and its stage", params: payoutIdParam, response: { 200: payoutView, ...problemResponses } } },
    async (request) => view(await money().getPayout(merchantOf(request), request.params.id)),
  );
};
