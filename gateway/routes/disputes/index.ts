/** GET /v1/disputes: the merchant's disputed payments with the payer's reason (behaviour in domain/payments.ts and domain/payer-actions.ts). */
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";

import { merchantOf } from "../../plugins/app/auth.js";
import { paymentViewOf } from "../payments/views.js";
import { SIGNED, problemResponses } from "../schemas.js";
import { disputeList, disputeListQuery } from "./schemas.js";

const iso = (ms: number) => new Date(ms).toISOString();

/** Registers the disputes listing on the signed /v1 scope. */
export const disputeRoutes: FastifyPluginAsyncZod = async (app) => {
  /** The payer actions relayed for an order (none without money modules). */
  const actionsOf = (orderId: string) => (app.payerActions ? app.payerActions.actionsOf(orderId) : Promise.resolve([]));
  app.get(
    "/disputes",
    {
      schema: {
        tags: ["payments"],
        security: SIGNED,
        operationId: "listDisputes",
        summary: "The merchant's disputed payments (newest first, cursor pagination)",
        querystring: disputeListQuery,
        response: { 200: disputeList, ...problemResponses },
      },
    },
    async (request) => {
      const merchant = merchantOf(request);
      const { status, limit, cursor } = request.query;
      const page = await app.payments.list(merchant, { status, limit, ...(cursor ? { cursor } : {}) });
      const items = await Promise.all(
        page.items.map(async (order) => {
          const dispute = (await actionsOf(order.id)).filter((a) => a.action === "dispute").pop();
          return {
            object: "dispute" as const,
            payment: paymentViewOf(order, app.payments),
            reason: dispute?.reason ?? null,
            reasonHash: dispute?.reasonHash ?? null,
            openedAt: dispute ? iso(dispute.submittedAtMs) : null,
          };
        }),
      );
      return { object: "list" as const, items, nextCursor: page.next ?? null };
    },
  );
};
