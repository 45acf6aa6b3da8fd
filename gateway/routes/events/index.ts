/** The /v1 event log: the merchant's events and their redelivery (schemas in schemas.ts, behaviour in domain/webhooks.ts). */
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";

import type { EventRecord } from "../../domain/events.js";
import { merchantOf } from "../../plugins/app/auth.js";
import { SIGNED, idempotencyHeaders, pageQuery, problemResponses } from "../schemas.js";
import { deliveryViewOf } from "../webhook-endpoints/views.js";
import { eventIdParam, eventList, eventView, redeliverBody, redeliveryResult, type EventView } from "./schemas.js";

const iso = (ms: number) => new Date(ms).toISOString();

/** The API view of an event. */
export function eventViewOf(e: EventRecord): EventView {
  return { id: e.id, object: "event", type: e.type, createdAt: iso(e.createdAtMs), data: e.data };
}

const events = { tags: ["events"], security: SIGNED } as const;

/** Registers the event routes on the signed /v1 scope. */
export const eventRoutes: FastifyPluginAsyncZod = async (app) => {
  const { webhooks } = app;
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
