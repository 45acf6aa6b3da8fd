/** The /v1 top-up routes: deposit from a bank account, minted once the bank confirms (behaviour in domain/money.ts). */
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";

import { merchantOf } from "../../plugins/app/auth.js";
import { moneyConfigured } from "../../plugins/app/services.js";
import type { TopupRecord } from "../../domain/money-types.js";
import { opView } from "../payouts/views.js";
import { SIGNED, requiredIdempotencyHeaders, problemResponses } from "../schemas.js";
import { topupBody, topupIdParam, topupList, topupListQuery, topupView } from "./schemas.js";

const iso = (ms: number) => new Date(ms).toISOString();
const common = { tags: ["money"], security: SIGNED } as const;

/** API view of a top-up; `overdue` as the gateway's overdue check judges it now. */
function topupToView(r: TopupRecord, overdue: boolean) {
  return {
    id: r.id,
    object: "topup" as const,
    status: r.stage === "completed" ? ("completed" as const) : r.stage === "failed" ? ("failed" as const) : ("pending" as const),
    stage: r.stage,
    amount: r.amount,
    currency: r.currency,
    account: r.account,
    bank: r.bank ?? null,
    mint: opView(r.mint),
    failure: r.failure ?? null,
    overdue,
    createdAt: iso(r.createdAtMs),
    updatedAt: iso(r.updatedAtMs),
  };
}

/** Registers the top-up routes on the signed /v1 scope. */
export const topupRoutes: FastifyPluginAsyncZod = async (app) => {
  const money = () => moneyConfigured(app.money);
  const view = (r: TopupRecord) => topupToView(r, app.overdueWatch.isOverdue("topup", r));
  app.post(
    "/topups",
    {
      schema: {
        ...common,
        operationId: "createTopup",
        summary: "Deposit from a bank account",
        description: "The bank collects the deposit from the merchant's registered account and confirms asynchronously. The custodian institution (not the gateway) learns of the confirmation from the bank itself and mints the tokens to the merchant: topup.completed. A rejected deposit ends failed; so does a mint the custodian refuses or gives up on after bounded retries (e.g. above the attested reserves), with topup.failed.",
        headers: requiredIdempotencyHeaders,
        body: topupBody,
        response: { 202: topupView, ...problemResponses },
      },
    },
    async (request, reply) => reply.status(202).send(view(await money().createTopup(merchantOf(request), request.body))),
  );

  app.get(
    "/topups",
    { schema: { ...common, operationId: "listTopups", summary: "The merchant's top-ups (newest first); a pending one is advanced as a read by id does", querystring: topupListQuery, response: { 200: topupList, ...problemResponses } } },
    async (request) => {
      const { limit, cursor } = request.query;
      const merchant = merchantOf(request);
      const page = await money().listTopups(merchant, { limit, ...(cursor ? { cursor } : {}) });
      const items = await Promise.all(page.items.map((r) => (r.stage === "completed" || r.stage === "failed" ? r : money().getTopup(merchant, r.id))));
      return { object: "list" as const, items: items.map(view), nextCursor: page.next ?? null };
    },
  );

  app.get(
    "/topups/:id",
    { schema: { ...common, operationId: "getTopup", summary: "A top-up and its stage", params: topupIdParam, response: { 200: topupView, ...problemResponses } } },
    async (request) => view(await money().getTopup(merchantOf(request), request.params.id)),
  );
};
