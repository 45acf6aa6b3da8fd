/**
 * Wire schemas of the webhook endpoint routes (endpoints and their delivery logs). Inputs are strict:
 * unknown fields are refused.
 */
import { z } from "zod";

import { EVENT_TYPES } from "../../domain/events.js";
import { isoTime } from "../schemas.js";

export const endpointIdParam = z.strictObject({
  id: z.string().regex(/^we_[0-9a-f]{24}$/, "expected a webhook endpoint id (we_…)").describe("Webhook endpoint id (we_…)"),
});

export const createEndpointBody = z.strictObject({
  url: z
    .url({ protocol: /^https?$/ })
    .max(2_048)
    .describe("Where events are POSTed (https unless the gateway allows http for development)"),
  description: z.string().max(200).optional(),
  eventTypes: z
    .array(z.enum(EVENT_TYPES))
    .min(1)
    .max(EVENT_TYPES.length)
    .optional()
    .describe("Event types to deliver here (default: all)"),
});

export const endpointView = z.object({
  id: z.string(),
  object: z.literal("webhook_endpoint"),
  url: z.string(),
  description: z.string().nullable(),
  eventTypes: z.array(z.enum(EVENT_TYPES)),
  status: z.enum(["active", "disabled"]).describe("disabled after the receiver answered 410 Gone"),
  createdAt: isoTime,
});
export type EndpointView = z.infer<typeof endpointView>;

export const createdEndpointView = endpointView.extend({
  secret: z.string().describe("whsec_ + base64: the Standard Webhooks signing secret, returned only now"),
});

export const endpointList = z.object({ object: z.literal("list"), items: z.array(endpointView) });

export const deletedEndpointView = z.object({ id: z.string(), object: z.literal("webhook_endpoint"), deleted: z.literal(true) });

export const deliveryView = z.object({
  object: z.literal("webhook_delivery"),
  endpointId: z.string(),
  eventId: z.string(),
  eventType: z.enum(EVENT_TYPES),
  status: z.enum(["pending", "succeeded", "failed", "cancelled"]),
  createdAt: isoTime,
  updatedAt: isoTime,
  nextAttemptAt: isoTime.nullable(),
  attemptCount: z.number().int(),
  attempts: z.array(
    z.object({
      at: isoTime,
      durationMs: z.number().int(),
      statusCode: z.number().int().nullable(),
      error: z.string().nullable().describe("Why no HTTP answer came: UNREACHABLE (refused, reset, timed out or not HTTP: not told apart) or ADDRESS_FORBIDDEN (the host now resolves to a refused address)"),
      succeeded: z.boolean(),
    }),
  ),
});
export type DeliveryView = z.infer<typeof deliveryView>;

export const deliveryList = z.object({ object: z.literal("list"), items: z.array(deliveryView), nextCursor: z.string().nullable() });
