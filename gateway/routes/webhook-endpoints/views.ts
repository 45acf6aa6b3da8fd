/** What merchants see of their webhook endpoints (never the secret after creation) and deliveries. */
import type { DeliveryRecord, WebhookEndpointRecord } from "../../domain/events.js";
import type { DeliveryView, EndpointView } from "./schemas.js";

const iso = (ms: number) => new Date(ms).toISOString();

/** The API view of an endpoint (never its secret). */
export function endpointViewOf(e: WebhookEndpointRecord): EndpointView {
  return { id: e.id, object: "webhook_endpoint", url: e.url, description: e.description, eventTypes: e.eventTypes, status: e.status, createdAt: iso(e.createdAtMs) };
}

/** The API view of a delivery and its latest attempts. */
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
