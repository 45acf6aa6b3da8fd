/** Wire schemas of the merchant's event log and of redelivery. Inputs are strict: unknown fields are refused. */
import { z } from "zod";

import { EVENT_TYPES } from "../../domain/events.js";
import { deliveryView, endpointIdParam } from "../webhook-endpoints/schemas.js";
import { isoTime } from "../schemas.js";

export const eventIdParam = z.strictObject({
  id: z.string().regex(/^evt_[0-9a-f]{32}$/, "expected an event id (evt_…)").describe("Event id (evt_…), also the webhook-id of its deliveries"),
});

export const redeliverBody = z
  .strictObject({
    endpointId: endpointIdParam.shape.id.optional().describe("Only to this endpoint (default: every active endpoint taking the event's type)"),
  })
  .optional();

export const eventView = z.object({
  id: z.string().describe("Also the webhook-id header of every delivery"),
  object: z.literal("event"),
  type: z.enum(EVENT_TYPES),
  createdAt: isoTime,
  data: z.record(z.string(), z.unknown()),
});
export type EventView = z.infer<typeof eventView>;

export const eventList = z.object({ object: z.literal("list"), items: z.array(eventView), nextCursor: z.string().nullable() });

export const redeliveryResult = z.object({ object: z.literal("list"), items: z.array(deliveryView) });
