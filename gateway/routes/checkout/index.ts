/**
 * The hosted checkout's public JSON routes under /v1/checkout/:id, called by the payer's browser
 * without a merchant credential: the payment view, then the payer's signed authorization, permit,
 * confirm, dispute and reclaim. Every write must carry the order's payer's signature (domain/checkout.ts
 * checks it first); the id is unguessable; requests are budgeted per client address.
 */
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";

import { SettlenetError } from "../../../core/errors.js";
import type { CheckoutPayment } from "../../domain/checkout.js";
import { problemResponses } from "../schemas.js";
import {
  actionBody,
  actionPayloadQuery,
  actionPayloadView,
  authorizeBody,
  checkoutActionParams,
  checkoutIdParam,
  checkoutView,
  permitBody,
  permitPayloadView,
  type CheckoutView,
} from "./schemas.js";

export interface CheckoutRoutesOptions {
  /** Requests per client address in the window. */
  rateLimit: { max: number; timeWindowMs: number };
}

const PUBLIC = [] as const;
const common = { tags: ["checkout"], security: [...PUBLIC] };
const iso = (ms: number) => new Date(ms).toISOString();

/** The payer's view of a payment. */
export function checkoutViewOf(p: CheckoutPayment): CheckoutView {
  const { order } = p;
  return {
    object: "checkout",
    id: order.id,
    status: order.status,
    merchantName: p.merchant.name,
    merchantAccount: p.merchant.address,
    merchantOrderId: order.merchantOrderId,
    description: order.description,
    amount: order.amount,
    currency: order.currency,
    decimals: p.token.decimals,
    mode: order.mode,
    payer: order.terms.payer,
    expiresAt: iso(order.expiresAtMs),
    expired: p.expired,
    terms: {
      fulfilmentPeriodSeconds: order.terms.fulfilmentPeriod,
      autoReleasePeriodSeconds: order.terms.autoReleasePeriod,
      refundPeriodSeconds: order.terms.refundPeriod,
    },
    fulfilBy: order.status === "held" && order.onChain ? iso(order.onChain.deadline * 1000) : null,
    typedData: p.typedData,
    payerAccount: p.payerAccount,
    actions: p.actions,
    lastError: order.lastError ? { code: order.lastError.code, message: order.lastError.message } : null,
  };
}

/** Registers the checkout routes (prefix /v1/checkout). */
export const checkoutRoutes: FastifyPluginAsyncZod<CheckoutRoutesOptions> = async (app, options) => {
  const { checkout } = app;
  app.addHook(
    "onRequest",
    app.rateLimit({
      max: options.rateLimit.max,
      timeWindow: options.rateLimit.timeWindowMs,
      keyGenerator: (request) => `checkout:${request.ip}`,
      errorResponseBuilder: (_request, context) =>
        new SettlenetError("RATE_LIMITED", `rate limit of ${context.max} checkout requests per client address exceeded, retry in ${context.after}`, {
          limit: context.max,
          retryAfterSeconds: Math.ceil(context.ttl / 1000),
        }),
    }),
  );

  app.get(
    "/:id",
    {
      schema: {
        ...common,
        operationId: "getCheckout",
        summary: "The payment as its payer sees it (hosted checkout)",
        description: "Merchant name, amount, order reference, the escrow terms, the typed data to sign while awaiting authorization and the payer's token account. No credential: the id is unguessable.",
        params: checkoutIdParam,
        response: { 200: checkoutView, ...problemResponses },
      },
    },
    async (request) => checkoutViewOf(await checkout.view(request.params.id)),
  );

  app.post(
    "/:id/authorization",
    {
      schema: {
        ...common,
        operationId: "authorizeCheckout",
        summary: "Submit the payer's signature of the payment terms",
        description:
          "Only the payer's signature is accepted (BAD_SIGNATURE otherwise, nothing stored). Refused in advance: ORDER_EXPIRED, ACCOUNT_FROZEN, PAYER_INSUFFICIENT_BALANCE, PAYER_ALLOWANCE_MISSING. The same signature again is answered as before.",
        params: checkoutIdParam,
        body: authorizeBody,
        response: { 202: checkoutView, ...problemResponses },
      },
    },
    async (request, reply) => {
      await checkout.authorize(request.params.id, request.body.signature);
      return reply.status(202).send(checkoutViewOf(await checkout.view(request.params.id)));
    },
  );

  app.get(
    "/:id/permit",
    {
      schema: {
        ...common,
        operationId: "getCheckoutPermit",
        summary: "The ERC-2612 permit the payer signs when the escrow's allowance is missing",
        params: checkoutIdParam,
        response: { 200: permitPayloadView, ...problemResponses },
      },
    },
    async (request) => ({ object: "permit_payload" as const, ...(await checkout.permitPayload(request.params.id)) }),
  );

  app.post(
    "/:id/permit",
    {
      schema: {
        ...common,
        operationId: "submitCheckoutPermit",
        summary: "Submit the payer's signed permit (the gateway's permit relayer sends it and waits for the receipt)",
        params: checkoutIdParam,
        body: permitBody,
        response: { 200: checkoutView, ...problemResponses },
      },
    },
    async (request) => {
      await checkout.permit(request.params.id, request.body);
      return checkoutViewOf(await checkout.view(request.params.id));
    },
  );

  app.get(
    "/:id/:action",
    {
      schema: {
        ...common,
        operationId: "getCheckoutActionPayload",
        summary: "What the payer signs to confirm receipt, dispute (with a reason) or reclaim",
        params: checkoutActionParams,
        querystring: actionPayloadQuery,
        response: { 200: actionPayloadView, ...problemResponses },
      },
    },
    async (request) => {
      const { action, nonce, deadline, reason, typedData } = await checkout.actionPayload(request.params.id, request.params.action, request.query.reason);
      return { object: "payer_action_payload" as const, action, nonce, deadline, reason, typedData };
    },
  );

  app.post(
    "/:id/:action",
    {
      schema: {
        ...common,
        operationId: "submitCheckoutAction",
        summary: "Relay the payer's signed confirm, dispute or reclaim",
        description: "A signature by anyone but the payer is refused with BAD_SIGNATURE and changes nothing.",
        params: checkoutActionParams,
        body: actionBody,
        response: { 202: checkoutView, ...problemResponses },
      },
    },
    async (request, reply) => {
      await checkout.submitAction(request.params.id, request.params.action, request.body);
      return reply.status(202).send(checkoutViewOf(await checkout.view(request.params.id)));
    },
  );
};
