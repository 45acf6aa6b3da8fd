/** The /v1 transfer routes: to another registered merchant, as a direct escrow payment (behaviour in domain/money.ts). */
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";

import { merchantOf } from "../../plugins/app/auth.js";
import { moneyConfigured } from "../../plugins/app/services.js";
import type { TransferRecord } from "../../domain/money-types.js";
import { SIGNED, requiredIdempotencyHeaders, problemResponses } from "../schemas.js";
import { transferBody, transferIdParam, transferList, transferListQuery, transferView } from "./schemas.js";

const iso = (ms: number) => new Date(ms).toISOString();
const common = { tags: ["money"], security: SIGNED } as const;

/** API view of a transfer: what the recipient's fee takes and what it receives. */
function transferToView(r: TransferRecord) {
  const fee = (BigInt(r.amount) * BigInt(r.feeBps)) / 10_000n;
  return {
    id: r.id,
    object: "transfer" as const,
    status: r.operation.status,
    reference: r.reference,
    from: r.from,
    to: r.to,
    amount: r.amount,
    currency: r.currency,
    feeBps: r.feeBps,
    fee: fee.toString(),
    netAmount: (BigInt(r.amount) - fee).toString(),
    paymentId: r.paymentId,
    description: r.description,
    ...(r.operation.error ? { error: r.operation.error } : {}),
    createdAt: iso(r.createdAtMs),
    updatedAt: iso(r.updatedAtMs),
  };
}

/** Registers the transfer routes on the signed /v1 scope. */
export const transferRoutes: FastifyPluginAsyncZod = async (app) => {
  const money = () => moneyConfigured(app.money);
  app.post(
    "/transfers",
    {
      schema: {
        ...common,
        operationId: "createTransfer",
        summary: "Transfer to another registered merchant",
        description:
          "Carried by a direct escrow payment the gateway signs with this merchant's key as payer (the token has no signed transfer): the recipient must be an active merchant and the escrow deducts the recipient's registered fee.",
        headers: requiredIdempotencyHeaders,
        body: transferBody,
        response: { 200: transferView, 202: transferView, ...problemResponses },
      },
    },
    async (request, reply) => {
      const { created, record } = await money().createTransfer(merchantOf(request), request.body);
      return reply.status(created ? 202 : 200).send(transferToView(record));
    },
  );

  app.get(
    "/transfers",
    { schema: { ...common, operationId: "listTransfers", summary: "The merchant's transfers (newest first); a pending one is brought up to date as a read by id does", querystring: transferListQuery, response: { 200: transferList, ...problemResponses } } },
    async (request) => {
      const { limit, cursor } = request.query;
      const merchant = merchantOf(request);
      const page = await money().listTransfers(merchant, { limit, ...(cursor ? { cursor } : {}) });
      // Only a read asks the node about a pending transfer: the list does it for the ones it shows.
      const items = await Promise.all(page.items.map((r) => (r.operation.status === "pending" ? money().getTransfer(merchant, r.id) : r)));
      return { object: "list" as const, items: items.map(transferToView), nextCursor: page.next ?? null };
    },
  );

  app.get(
    "/transfers/:id",
    { schema: { ...common, operationId: "getTransfer", summary: "A transfer and its status", params: transferIdParam, response: { 200: transferView, ...problemResponses } } },
    async (request) => transferToView(await money().getTransfer(merchantOf(request), request.params.id)),
  );
};
