/** The /v1 payment routes (schemas in schemas.ts, behaviour in ../payments.ts). */
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";

import { SettlenetError } from "../../../core/errors.js";
import type { PaymentService } from "../../domain/payments.js";
import type { MerchantRecord } from "../../domain/records.js";
import { paymentViewOf, refundViewOf } from "./views.js";
import {
  SIGNED,
  authorizationBody,
  cancelBody,
  createPaymentBody,
  emptyBody,
  idempotencyHeaders,
  listQuery,
  paymentIdParam,
  paymentList,
  paymentView,
  problemResponses,
  refundBody,
  refundResult,
} from "./schemas.js";

export interface PaymentRoutesOptions {
  payments: PaymentService;
}

function merchantOf(request: { merchant: MerchantRecord | null }): MerchantRecord {
  if (!request.merchant) throw new SettlenetError("INTERNAL", "route reached without an authenticated merchant");
  return request.merchant;
}

const common = { tags: ["payments"], security: SIGNED } as const;

/** Registers the payment routes on an authenticated /v1 scope. */
export const paymentRoutes: FastifyPluginAsyncZod<PaymentRoutesOptions> = async (app, { payments }) => {
  app.post(
    "/payments",
    {
      schema: {
        ...common,
        operationId: "createPayment",
        summary: "Create a payment order",
        description: "Builds the payment terms (with the merchant's registered fee) and returns the EIP-712 typed data the payer must sign.",
        headers: idempotencyHeaders,
        body: createPaymentBody,
        response: { 200: paymentView, 201: paymentView, ...problemResponses },
      },
    },
    async (request, reply) => {
      const { created, order } = await payments.create(merchantOf(request), request.body);
      return reply.status(created ? 201 : 200).send(paymentViewOf(order, payments));
    },
  );

  app.get(
    "/payments",
    {
      schema: {
        ...common,
        operationId: "listPayments",
        summary: "List payments (newest first, cursor pagination)",
        querystring: listQuery,
        response: { 200: paymentList, ...problemResponses },
      },
    },
    async (request) => {
      const merchant = merchantOf(request);
      const { status, from, to, merchantOrderId, limit, cursor } = request.query;
      if (merchantOrderId !== undefined) {
        const order = await payments.getByMerchantOrderId(merchant, merchantOrderId);
        const matches = order && (!status || order.status === status) && (!from || order.createdAtMs >= Date.parse(from)) && (!to || order.createdAtMs <= Date.parse(to));
        return { object: "list" as const, items: matches ? [paymentViewOf(order, payments)] : [], nextCursor: null };
      }
      const page = await payments.list(merchant, {
        limit,
        ...(status ? { status } : {}),
        ...(from ? { fromMs: Date.parse(from) } : {}),
        ...(to ? { toMs: Date.parse(to) } : {}),
        ...(cursor ? { cursor } : {}),
      });
      return { object: "list" as const, items: page.items.map((o) => paymentViewOf(o, payments)), nextCursor: page.next ?? null };
    },
  );

  app.get(
    "/payments/:id",
    {
      schema: {
        ...common,
        operationId: "getPayment",
        summary: "Get a payment, merged with the institution node's view",
        params: paymentIdParam,
        response: { 200: paymentView, ...problemResponses },
      },
    },
    async (request) => {
      const { order } = await payments.get(merchantOf(request), request.params.id);
      return paymentViewOf(order, payments);
    },
  );

  app.post(
    "/payments/:id/authorization",
    {
      schema: {
        ...common,
        operationId: "authorizePayment",
        summary: "Submit the payer's signature",
        description: "Relays the signed pay operation through the institution node. Node refusals keep the node's code (e.g. BAD_SIGNATURE, FEE_MISMATCH).",
        headers: idempotencyHeaders,
        params: paymentIdParam,
        body: authorizationBody,
        response: { 202: paymentView, ...problemResponses },
      },
    },
    async (request, reply) => {
      const order = await payments.authorize(merchantOf(request), request.params.id, request.body.signature);
      return reply.status(202).send(paymentViewOf(order, payments));
    },
  );

  app.post(
    "/payments/:id/fulfilment",
    {
      schema: {
        ...common,
        operationId: "fulfilPayment",
        summary: "Mark the order fulfilled",
        description: "The gateway signs markFulfilled with the merchant's key and submits it. The payment must be held.",
        headers: idempotencyHeaders,
        params: paymentIdParam,
        body: emptyBody,
        response: { 202: paymentView, ...problemResponses },
      },
    },
    async (request, reply) => {
      const order = await payments.fulfil(merchantOf(request), request.params.id);
      return reply.status(202).send(paymentViewOf(order, payments));
    },
  );

  app.post(
    "/payments/:id/refunds",
    {
      schema: {
        ...common,
        operationId: "refundPayment",
        summary: "Refund part or all of a payment",
        description: "The gateway signs a refund with the merchant's key. While held, the escrow pays the payer; after release, within the refund window, it pulls from the merchant's balance.",
        headers: idempotencyHeaders,
        params: paymentIdParam,
        body: refundBody,
        response: { 202: refundResult, ...problemResponses },
      },
    },
    async (request, reply) => {
      const { order, refund } = await payments.refund(merchantOf(request), request.params.id, request.body);
      return reply.status(202).send({ refund: refundViewOf(refund), payment: paymentViewOf(order, payments) });
    },
  );

  app.post(
    "/payments/:id/cancel",
    {
      schema: {
        ...common,
        operationId: "cancelPayment",
        summary: "Cancel an order nobody has authorised yet",
        headers: idempotencyHeaders,
        params: paymentIdParam,
        body: cancelBody,
        response: { 200: paymentView, ...problemResponses },
      },
    },
    async (request) => {
      const order = await payments.cancel(merchantOf(request), request.params.id, request.body?.reason);
      return paymentViewOf(order, payments);
    },
  );
};
