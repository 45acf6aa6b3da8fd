/** The /v1 webhook endpoint routes and their delivery logs (schemas in schemas.ts, behaviour in domain/webhooks.ts). */
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";

import { merchantOf } from "../../plugins/app/auth.js";
import { SIGNED, emptyBody, idempotencyHeaders, pageQuery, problemResponses } from "../schemas.js";
import {
  createEndpointBody,
  createdEndpointView,
  deletedEndpointView,
  deliveryList,
  endpointIdParam,
  endpointList,
  endpointView,
} from "./schemas.js";
import { deliveryViewOf, endpointViewOf } from "./views.js";

const endpoints = { tags: ["webhooks"], security: SIGNED } as const;

/** Registers the webhook endpoint routes on the signed /v1 scope. */
export const webhookEndpointRoutes: FastifyPluginAsyncZod = async (app) => {
  const { webhooks } = app;
  app.post(
    "/webhook-endpoints",
    {
      // The answer carries the endpoint's secret: an Idempotency-Key replay keeps it sealed at rest.
      config: { idempotencySealed: true },
      schema: {
        ...endpoints,
        operationId: "createWebhookEndpoint",
        summary: "Register a webhook endpoint",
        description:
          "Events are POSTed as Standard Webhooks: headers webhook-id (the event id, the same on every retry), webhook-timestamp (unix seconds of the attempt) and webhook-signature (`v1,` + base64 HMAC-SHA256 of `id.timestamp.body`, keyed with the base64-decoded part of the secret after `whsec_`). The secret is returned only in this answer. Deliveries are retried with exponential backoff and jitter until a 2xx answer, for at least 24 hours; 410 Gone disables the endpoint.",
        headers: idempotencyHeaders,
        body: createEndpointBody,
        response: { 201: createdEndpointView, ...problemResponses },
      },
    },
    async (request, reply) => {
      const { endpoint, secret } = await webhooks.createEndpoint(merchantOf(request), request.body);
      return reply.status(201).send({ ...endpointViewOf(endpoint), secret });
    },
  );

  app.get(
    "/webhook-endpoints",
    { schema: { ...endpoints, operationId: "listWebhookEndpoints", summary: "List the merchant's webhook endpoints", response: { 200: endpointList, ...problemResponses } } },
    async (request) => ({ object: "list" as const, items: (await webhooks.listEndpoints(merchantOf(request))).map(endpointViewOf) }),
  );

  app.get(
    "/webhook-endpoints/:id",
    { schema: { ...endpoints, operationId: "getWebhookEndpoint", summary: "Get a webhook endpoint", params: endpointIdParam, response: { 200: endpointView, ...problemResponses } } },
    async (request) => endpointViewOf(await webhooks.endpoint(merchantOf(request), request.params.id)),
  );

  app.delete(
    "/webhook-endpoints/:id",
    {
      schema: {
        ...endpoints,
        operationId: "deleteWebhookEndpoint",
        summary: "Delete a webhook endpoint",
        description: "Pending deliveries to it are dropped with its delivery log. Events stay in GET /v1/events.",
        params: endpointIdParam,
        response: { 200: deletedEndpointView, ...problemResponses },
      },
    },
    async (request) => {
      const endpoint = await webhooks.deleteEndpoint(merchantOf(request), request.params.id);
      return { id: endpoint.id, object: "webhook_endpoint" as const, deleted: true as const };
    },
  );

  app.post(
    "/webhook-endpoints/:id/secret/rotate",
    {
      // The answer carries the new secret: an Idempotency-Key replay keeps it sealed at rest.
      config: { idempotencySealed: true },
      schema: {
        ...endpoints,
        operationId: "rotateWebhookSecret",
        summary: "Give a webhook endpoint a new signing secret",
        description:
          "The new secret is returned only in this answer and signs every attempt from now on, including retries of earlier events; the old one stops at once. Deliveries the receiver refuses while it still has the old secret are retried (with the same webhook-id) until it accepts them.",
        headers: idempotencyHeaders,
        params: endpointIdParam,
        body: emptyBody,
        response: { 200: createdEndpointView, ...problemResponses },
      },
    },
    async (request) => {
      const { endpoint, secret } = await webhooks.rotateSecret(merchantOf(request), request.params.id);
      return { ...endpointViewOf(endpoint), secret };
    },
  );

  app.get(
    "/webhook-endpoints/:id/deliveries",
    {
      schema: {
        ...endpoints,
        operationId: "listWebhookDeliveries",
        summary: "Delivery log of an endpoint (newest first, cursor pagination)",
        params: endpointIdParam,
        querystring: pageQuery,
        response: { 200: deliveryList, ...problemResponses },
      },
    },
    async (request) => {
      const page = await webhooks.deliveries(merchantOf(request), request.params.id, request.query);
      return { object: "list" as const, items: page.items.map(deliveryViewOf), nextCursor: page.next ?? null };
    },
  );
};
