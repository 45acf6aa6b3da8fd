/**
 * Merchant events: what the gateway tells merchants (through GET /v1/events and webhooks). Payment
 * and dispute events are derived from an order's change (`deriveOrderEvents`, applied to every order
 * change by orders.ts) and handed to the orders repository with it, so they are written in the same
 * synced batch as the change itself: an event exists exactly when its change does. Payout events join
 * the payout's batch the same way (money.ts). Records of endpoints and deliveries live here too.
 */
import { randomHex } from "../../core/random-ids.js";
import type { SealedSecret } from "./secrets.js";
import { ON_CHAIN_ORDER_STATUSES, type OrderRecord, type OrderStatus } from "./records.js";

/** Every event type a merchant can receive. */
export const EVENT_TYPES = [
  "payment.held",
  "payment.released",
  "payment.refunded",
  "payment.reclaimed",
  "dispute.opened",
  "dispute.resolved",
  "payout.paid",
  "payout.failed",
  "topup.completed",
  "topup.failed",
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** An event as stored; its id is the `webhook-id` of every delivery of it. */
export interface EventRecord {
  /** `evt_` + 32 hex: never contains a full stop (it is part of the signed content). */
  id: string;
  merchantId: string;
  type: EventType;
  createdAtMs: number;
  data: Record<string, unknown>;
}

/** An event before it is stored (`newEvent` gives it an id and a time). */
export interface EventDraft {
  merchantId: string;
  type: EventType;
  data: Record<string, unknown>;
}

/** A merchant's webhook endpoint. The signing secret is sealed (context `webhookEndpoint:<id>`). */
export interface WebhookEndpointRecord {
  id: string;
  merchantId: string;
  url: string;
  description: string | null;
  /** Types delivered to this endpoint. */
  eventTypes: EventType[];
  secret: SealedSecret;
  /** `disabled` after the receiver answered 410 Gone (Standard Webhooks: stop sending). */
  status: "active" | "disabled";
  createdAtMs: number;
}

/** One attempt to deliver an event to an endpoint. */
export interface DeliveryAttempt {
  atMs: number;
  durationMs: number;
  /** The receiver's HTTP status, absent when no answer came (refused, reset, timeout). */
  statusCode?: number;
  /** Why it failed without an HTTP answer: UNREACHABLE (any network failure or timeout, deliberately not told apart) or ADDRESS_FORBIDDEN. */
  error?: string;
  succeeded: boolean;
}

/** An event's delivery to one endpoint, with its attempts. */
export interface DeliveryRecord {
  endpointId: string;
  eventId: string;
  eventType: EventType;
  merchantId: string;
  status: "pending" | "succeeded" | "failed" | "cancelled";
  createdAtMs: number;
  updatedAtMs: number;
  /** When the retry period began (creation, or the last redelivery request). */
  retryFromMs: number;
  /** Set while pending: when the next attempt is due (its key in `webhookQueue`). */
  nextAttemptAtMs?: number;
  attemptCount: number;
  /** The latest attempts (bounded), oldest first. */
  attempts: DeliveryAttempt[];
}

/** A change the reconciler made to an order, logged in the `reconcile` keyspace. */
export interface ReconcileRecord {
  id: string;
  atMs: number;
  kind: RepairKind;
  orderId: string;
  merchantId: string;
  paymentId: string;
  from: OrderStatus;
  to: OrderStatus;
  onChainStatus: string | null;
  /** Events written with the repair (same batch). */
  eventIds: string[];
}

/**
 * `payment_adopted`: the chain has a pay the gateway never recorded (a crash between relaying and
 * storing, or a pay that reached the network another way). `status_repaired`: an operation the
 * gateway recorded executed long ago (beyond the drop threshold) but the order still showed the old
 * state. `order_expired`: nobody authorised the order before its deadline and the node knows no pay.
 */
export const REPAIR_KINDS = ["payment_adopted", "status_repaired", "order_expired"] as const;
export type RepairKind = (typeof REPAIR_KINDS)[number];

/** The event record of `draft`, created at `atMs` with a fresh id. */
export function newEvent(draft: EventDraft, atMs: number): EventRecord {
  return { id: `evt_${randomHex(16)}`, merchantId: draft.merchantId, type: draft.type, createdAtMs: atMs, data: draft.data };
}

const ON_CHAIN = new Set<OrderStatus>(Object.values(ON_CHAIN_ORDER_STATUSES));

/** The `data` of a payment or dispute event: a snapshot of the order after the change. */
export function paymentEventData(order: OrderRecord): Record<string, unknown> {
  return {
    object: "payment",
    id: order.id,
    merchantOrderId: order.merchantOrderId,
    paymentId: order.paymentId,
    status: order.status,
    mode: order.mode,
    amount: order.amount,
    currency: order.currency,
    refundedAmount: order.onChain?.refunded ?? "0",
  };
}

/**
 * The events an order change means. Events follow what the gateway observes; a state passed between
 * two observations is implied only where the escrow allows no other path (an escrow payment was held
 * before any later state; a resolved dispute was opened).
 */
export function deriveOrderEvents(current: OrderRecord, next: OrderRecord): EventDraft[] {
  const drafts: EventDraft[] = [];
  const data = paymentEventData(next);
  const add = (type: EventType, extra: Record<string, unknown> = {}) => drafts.push({ merchantId: next.merchantId, type, data: { ...data, ...extra } });
  const was = current.status;
  const is = next.status;
  if (is !== was) {
    if (next.mode === "escrow" && ON_CHAIN.has(is) && !ON_CHAIN.has(was)) add("payment.held");
    if ((is === "disputed" || is === "resolved") && was !== "disputed" && was !== "resolved") add("dispute.opened");
    if (is === "released") add("payment.released");
    if (is === "resolved") add("dispute.resolved");
    if (is === "reclaimed") add("payment.reclaimed");
  }
  const refundedBefore = BigInt(current.onChain?.refunded ?? "0");
  const refundedAfter = BigInt(next.onChain?.refunded ?? "0");
  if (refundedAfter > refundedBefore) add("payment.refunded", { refund: { amount: (refundedAfter - refundedBefore).toString() } });
  return drafts;
}
