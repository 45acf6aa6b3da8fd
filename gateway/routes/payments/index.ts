/**
 * The /v1 payment routes: every /payments and /payments/:id/* route, the merchant's (create, list,
 * get, authorization, fulfilment, refunds, cancel) and the payer's (confirm, dispute, reclaim: the
 * payload to sign, then the signature to relay). Schemas in schemas.ts, views in views.ts, behaviour
 * in domain/payments.ts and domain/payer-actions.ts.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";

import type { OrderRecord } from "../../domain/records.js";
import { merchantOf } from "../../plugins/app/auth.js";
import { JSON_ANSWER } from "../../plugins/app/idempotency.js";
import { moneyConfigured } from "../../plugins/app/services.js";
import { countAnswer } from "../../plugins/app/work.js";
import type { WriteOp } from "../../storage/keyspaces.js";
import { SIGNED, emptyBody, requiredIdempotencyHeaders, problemResponses } from "../schemas.js";
import {
  authorizationBody,
  cancelBody,
  confirmBody,
  createPaymentBody,
  disputeBody,
  disputePayloadQuery,
  listQuery,
  payerActionPayloadView,
  payerActionResult,
  paymentIdParam,
  paymentList,
  paymentView,
  reclaimBody,
  refundBody,
  refundResult,
  type PaymentView,
} from "./schemas.js";
import { payerActionViewOf, paymentViewOf, refundViewOf } from "./views.js";

const common = { tags: ["payments"], security: SIGNED } as const;

/**
 * A route's answer recorded in the batch of the change it reports (its Idempotency-Key record and
 * nonce, plugins/app/idempotency.ts): one synced write per request on the payment path instead of
 * one for the change and one for the answer. When the change did not take the answer (nothing
 * written, or an existing order), the answer is recorded as usual when it is sent.
 */
class AnswerInBatch {
  private taken: { status: number; payload: string; recorded: () => void } | undefined;

  constructor(
    private readonly app: FastifyInstance,
    private readonly request: FastifyRequest,
  ) {}

  /** The writes recording `view` as the answer with `status` (called inside the change's write section). */
  writes(status: number, view: PaymentView): WriteOp[] {
    const payload = JSON.stringify(view);
    const { writes, recorded } = this.app.idempotency.answerWrites(this.request, status, payload);
    this.taken = { status, payload, recorded };
    return writes;
  }

  /** Sends the answer recorded with the change if its status is `status`, else `view()` as usual. */
  send(reply: FastifyReply, status: number, view: () => PaymentView) {
    const taken = this.taken;
    if (taken && taken.status === status) {
      // The change's batch is synced (the domain call returned): the answer is on record.
      taken.recorded();
      countAnswer(this.app.httpWork, this.request.method, this.request.routeOptions.url ?? "", status);
      return reply.status(status).type(JSON_ANSWER).send(taken.payload);
    }
    return reply.status(status).send(view());
  }
}

/** Registers the payment routes on the signed /v1 scope. */
export const paymentRoutes: FastifyPluginAsyncZod = async (app) => {
  const { payments } = app;
  /** The view with the hosted checkout's URL, for the merchant to send the payer to. */
  const viewOf = (request: FastifyRequest, order: OrderRecord) => ({ ...paymentViewOf(order, payments), checkoutUrl: app.checkoutUrl(request, order.id) });
  /** Without money modules the payer's routes answer MONEY_NOT_CONFIGURED. */
  const payerActions = () => moneyConfigured(app.payerActions);
  app.post(
    "/payments",
    {
      schema: {
        ...common,
        operationId: "createPayment",
        summary: "Create a payment order",
        description:
          "Builds the payment terms (with the merchant's registered fee) and returns the EIP-712 typed data the payer must sign, and `checkoutUrl`: the hosted checkout page where the payer signs with a browser wallet instead.",
        headers: requiredIdempotencyHeaders,
        body: createPaymentBody,
        response: { 200: paymentView, 201: paymentView, ...problemResponses },
      },
      // A repeat finds the order by its merchantOrderId: the nonce can go with the answer.
      config: { nonceWithAnswer: true },
    },
    async (request, reply) => {
      const answer = new AnswerInBatch(app, request);
      const { created, order } = await payments.create(merchantOf(request), request.body, (stored) => answer.writes(201, viewOf(request, stored)));
      return answer.send(reply, created ? 201 : 200, () => viewOf(request, order));
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
        return { object: "list" as const, items: matches ? [viewOf(request, order)] : [], nextCursor: null };
      }
      const page = await payments.list(merchant, {
        limit,
        ...(status ? { status } : {}),
        ...(from ? { fromMs: Date.parse(from) } : {}),
        ...(to ? { toMs: Date.parse(to) } : {}),
        ...(cursor ? { cursor } : {}),
      });
      return { object: "list" as const, items: page.items.map((o) => viewOf(request, o)), nextCursor: page.next ?? null };
    },
  );

  app.get(
    "/payments/:id",
    {
      schema: {
        ...common,
        operationId: "getPayment",
        summary: "Get a payment, as the institution node's change feed keeps it",
        params: paymentIdParam,
        response: { 200: paymentView, ...problemResponses },
      },
    },
    async (request) => {
      const { order } = await payments.get(merchantOf(request), request.params.id);
      return viewOf(request, order);
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
        headers: requiredIdempotencyHeaders,
        params: paymentIdParam,
        body: authorizationBody,
        response: { 202: paymentView, ...problemResponses },
      },
      // A repeat finds the authorization recorded, or the node answers DUPLICATE: the nonce can go with the answer.
      config: { nonceWithAnswer: true },
    },
    async (request, reply) => {
      const answer = new AnswerInBatch(app, request);
      const order = await payments.authorize(merchantOf(request), request.params.id, request.body.signature, (stored) => answer.writes(202, paymentViewOf(stored, payments)));
      return answer.send(reply, 202, () => paymentViewOf(order, payments));
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
        headers: requiredIdempotencyHeaders,
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
        headers: requiredIdempotencyHeaders,
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
        headers: requiredIdempotencyHeaders,
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

  app.get(
    "/payments/:id/confirm",
    {
      schema: {
        ...common,
        operationId: "getConfirmPayload",
        summary: "The payload the payer signs to confirm receipt",
        description: "EIP-712 Confirm data (fresh nonce, deadline in chain time). The payer signs `typedData`; post the signature with the same nonce and deadline.",
        params: paymentIdParam,
        response: { 200: payerActionPayloadView, ...problemResponses },
      },
    },
    async (request) => ({ object: "payer_action_payload" as const, ...(await payerActions().payload(merchantOf(request), request.params.id, "confirm")) }),
  );

  app.get(
    "/payments/:id/dispute",
    {
      schema: {
        ...common,
        operationId: "getDisputePayload",
        summary: "The payload the payer signs to dispute a payment",
        description: "EIP-712 Dispute data for the given reason (its keccak256 is signed and goes on-chain).",
        params: paymentIdParam,
        querystring: disputePayloadQuery,
        response: { 200: payerActionPayloadView, ...problemResponses },
      },
    },
    async (request) => ({ object: "payer_action_payload" as const, ...(await payerActions().payload(merchantOf(request), request.params.id, "dispute", request.query.reason)) }),
  );

  app.post(
    "/payments/:id/confirm",
    {
      schema: {
        ...common,
        operationId: "confirmPayment",
        summary: "Relay the payer's signed confirmation (releases the payment)",
        description: "A signature by anyone but the payer is refused with BAD_SIGNATURE and changes nothing. Node refusals keep the node's code.",
        headers: requiredIdempotencyHeaders,
        params: paymentIdParam,
        body: confirmBody,
        response: { 202: payerActionResult, ...problemResponses },
      },
    },
    async (request, reply) => {
      const { action, order } = await payerActions().submit(merchantOf(request), request.params.id, "confirm", request.body);
      return reply.status(202).send({ action: payerActionViewOf(action), payment: paymentViewOf(order, payments) });
    },
  );

  app.post(
    "/payments/:id/dispute",
    {
      schema: {
        ...common,
        operationId: "disputePayment",
        summary: "Relay the payer's signed dispute (freezes the held payment)",
        headers: requiredIdempotencyHeaders,
        params: paymentIdParam,
        body: disputeBody,
        response: { 202: payerActionResult, ...problemResponses },
      },
    },
    async (request, reply) => {
      const { action, order } = await payerActions().submit(merchantOf(request), request.params.id, "dispute", request.body);
      return reply.status(202).send({ action: payerActionViewOf(action), payment: paymentViewOf(order, payments) });
    },
  );

  app.get(
    "/payments/:id/reclaim",
    {
      schema: {
        ...common,
        operationId: "getReclaimPayload",
        summary: "The payload the payer signs to reclaim a payment the merchant never fulfilled",
        description:
          "EIP-712 Reclaim data (fresh nonce, deadline in chain time). Only for a held payment whose fulfilment period has ended in chain time (else RECLAIM_NOT_DUE, or INVALID_PAYMENT_STATUS once fulfilled).",
        params: paymentIdParam,
        response: { 200: payerActionPayloadView, ...problemResponses },
      },
    },
    async (request) => ({ object: "payer_action_payload" as const, ...(await payerActions().payload(merchantOf(request), request.params.id, "reclaim")) }),
  );

  app.post(
    "/payments/:id/reclaim",
    {
      schema: {
        ...common,
        operationId: "reclaimPayment",
        summary: "Relay the payer's signed reclaim (returns the held amount to the payer)",
        description: "A signature by anyone but the payer is refused with BAD_SIGNATURE and changes nothing; before the fulfilment deadline, RECLAIM_NOT_DUE. Emits payment.reclaimed once executed.",
        headers: requiredIdempotencyHeaders,
        params: paymentIdParam,
        body: reclaimBody,
        response: { 202: payerActionResult, ...problemResponses },
      },
    },
    async (request, reply) => {
      const { action, order } = await payerActions().submit(merchantOf(request), request.params.id, "reclaim", request.body);
      return reply.status(202).send({ action: payerActionViewOf(action), payment: paymentViewOf(order, payments) });
    },
  );
};
