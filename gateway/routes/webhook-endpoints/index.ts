/** The /v1 webhook endpoint, delivery log and event routes (schemas in webhook-schemas.ts, behaviour in ../webhooks.ts). */
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";

import { SettlenetError } from "../../../core/errors.js";
import type { DeliveryRecord, EventRecord, WebhookEndpointRecord } from "../../domain/events.js";
import type { MerchantRecord } from "../../domain/records.js";
import type { WebhookService } from "../../domain/webhooks.js";
import { SIGNED, idempotencyHeaders, problemResponses } from "../payments/schemas.js";
import {
  createEndpointBody,
  createdEndpointView,
  deletedEndpointView,
  deliveryList,
  endpointIdParam,
  endpointList,
  endpointView,
  eventIdParam,
  eventList,
  eventView,
  pageQuery,
  redeliverBody,
  redeliveryResult,
  type DeliveryView,
  type EndpointView,
  type EventView,
} from "./schemas.js";

export interface WebhookRoutesOptions {
  webhooks: WebhookService;
}

function merchantOf(request: { merchant: MerchantRecord | null }): MerchantRecord {
  if (!request.merchant) throw new SettlenetError("INTERNAL", "route reached without an authenticated merchant");
  return request.merchant;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** The API view of an endpoint (never its secret). */
export function endpointViewOf(e: WebhookEndpointRecord): EndpointView {
  return { id: e.id, object: "webhook_endpoint", url: e.url, description: e.description, eventTypes: e.eventTypes, status: e.status, createdAt: iso(e.createdAtMs) };
}

export function eventViewOf(e: EventRecord): EventView {
  return { id: e.id, object: "event", type: e.type, createdAt: iso(e.createdAtMs), data: e.data };
}

export function deliveryViewOf(d: DeliveryRecord): DeliveryView {
  return {
    object: "webhook_delivery",
    endpointId: d.endpointId,
    eventId: d.eventId,
    eventType: d.eventType,
    status: d.status,
    createdAt: iso(d.createdAtMs),
    updatedAt: iso(d.updatedAtMs),
    nextAttemptAt: d.status === "pending" && d.nextAttemptAtMs !== undefined ? iso(d.nextAttemptAtMs) : null,
    attemptCount: d.attemptCount,
    attempts: d.attempts.map((a) => ({ at: iso(a.atMs), durationMs: a.durationMs, statusCode: a.statusCode ?? null, error: a.error ?? null, succeeded: a.succeeded })),
  };
}

const endpoints = { tags: ["webhooks"], security: SIGNED } as const;
const events = { tags: ["events"], security: SIGNED } as const;

/** Registers the webhook and event routes on an authenticated /v1 scope. */
export const webhookRoutes: FastifyPluginAsyncZod<WebhookRoutesOptions> = async (app, { webhooks }) => {
  app.post(
    "/webhook-endpoints",
    {
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

  app.get(
    "/events",
    {
      schema: { ...events, operationId: "listEvents", summary: "The merchant's events (newest first, cursor pagination)", querystring: pageQuery, response: { 200: eventList, ...problemResponses } },
    },
    async (request) => {
      const page = await webhooks.events(merchantOf(request), request.query);
      return { object: "list" as const, items: page.items.map(eventViewOf), nextCursor: page.next ?? null };
    },
  );

  app.get(
    "/events/:id",
    { schema: { ...events, operationId: "getEvent", summary: "Get an event", params: eventIdParam, response: { 200: eventView, ...problemResponses } } },
    async (request) => eventViewOf(await webhooks.event(merchantOf(request), request.params.id)),
  );

  app.post(
    "/events/:id/redeliver",
    {
      schema: {
        ...events,
        operationId: "redeliverEvent",
        summary: "Send an event again",
        description: "Queues the event (same webhook-id, so receivers deduplicate it) for one endpoint or every active endpoint taking its type, due at once and with a fresh retry period.",
        headers: idempotencyHeaders,
        params: eventIdParam,
        body: redeliverBody,
        response: { 202: redeliveryResult, ...problemResponses },
      },
    },
    async (request, reply) => {
      const deliveries = await webhooks.redeliver(merchantOf(request), request.params.id, request.body?.endpointId);
      return reply.status(202).send({ object: "list" as const, items: deliveries.map(deliveryViewOf) });
    },
  );
};
