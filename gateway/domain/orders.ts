/**
 * Order changes with what they mean. Every change of a stored order goes through `updateOrder` (or
 * `updateOrders` for several at once), which hands the orders repository the merchant events the
 * change causes (`deriveOrderEvents`) and, when the caller calls it a repair, the repair record: the
 * repository writes them with the order in one synced batch, so an event or a repair exists exactly
 * when its change does. Each change also sets when the reconciler should look at the order
 * (`checkTimeOf`), so its worklist is exactly the orders the change feed has not settled.
 */
import { randomHex } from "../../core/random-ids.js";
import type { WriteOp } from "../storage/keyspaces.js";
import type { LevelOrderRepository, OrderChange, OrderUpdateResult } from "../storage/orders.js";
import { deriveOrderEvents, newEvent, type ReconcileRecord, type RepairKind } from "./events.js";
import type { OrderRecord, SubmittedOperation } from "./records.js";

/** An operation still pending this long after its submission, and not settled by the change feed, is compared with the node. */
export const CHECK_PENDING_AFTER_MS = 30_000;
/** After a comparison that left an operation pending, the next one waits this long. */
export const RECHECK_AFTER_MS = 60_000;

/** The operations of an order the gateway submitted and has not seen final yet. */
export function pendingOperations(order: OrderRecord): SubmittedOperation[] {
  return [order.authorization, order.fulfilment, order.autoRelease, ...order.refunds].filter((op): op is SubmittedOperation => op?.status === "pending");
}

/**
 * When the reconciler should compare `order` with the node if the change feed has not settled it by
 * then: an unauthorised order at its expiry (to close it), an order with a pending operation a while
 * after its submission (and again a while after each comparison); never otherwise.
 */
export function checkTimeOf(order: OrderRecord): number | undefined {
  if (order.status === "awaiting_authorization" && !order.authorization) return order.expiresAtMs;
  const pending = pendingOperations(order);
  if (pending.length === 0) return undefined;
  const due = Math.min(...pending.map((op) => op.submittedAtMs)) + CHECK_PENDING_AFTER_MS;
  return order.checkedAtMs === undefined ? due : Math.max(due, order.checkedAtMs + RECHECK_AFTER_MS);
}

/** `order` with its reconciler check time set from its state. */
export function withCheckTime(order: OrderRecord): OrderRecord {
  const { checkAtMs: _previous, ...rest } = order;
  const checkAtMs = checkTimeOf(rest);
  return checkAtMs === undefined ? rest : { ...rest, checkAtMs };
}

export interface OrderUpdateOptions {
  /** The reconciler's verdict on the change: a repair kind (logged in the same batch) or undefined. */
  repair?: (current: OrderRecord, next: OrderRecord) => RepairKind | undefined;
}

/** Writes made from the order as a change leaves it, for the change's batch (a request's answer). */
export type WithOrder = (order: OrderRecord) => WriteOp[];

/**
 * Read-modify-write of one order: `change` gets the stored order and returns the next one (or
 * undefined to leave it); the events it means and its repair record are written with it.
 */
export function updateOrder(
  orders: Pick<LevelOrderRepository, "update">,
  id: string,
  change: (current: OrderRecord) => OrderRecord | undefined,
  options: OrderUpdateOptions & { with?: WithOrder } = {},
): Promise<OrderUpdateResult> {
  return orders.update(id, (current) => orderChange(current, change, options), options.with);
}

/**
 * Read-modify-write of several orders in one synced batch with `extra` writes (the change feed
 * follower's page and its cursor); `changes` maps order ids to their change, as `updateOrder` takes it.
 */
export function updateOrders(
  orders: Pick<LevelOrderRepository, "updateMany">,
  changes: ReadonlyMap<string, (current: OrderRecord) => OrderRecord | undefined>,
  extra: WriteOp[],
  options: OrderUpdateOptions = {},
): Promise<OrderUpdateResult[]> {
  const wrapped = new Map([...changes].map(([id, change]) => [id, (current: OrderRecord) => orderChange(current, change, options)]));
  return orders.updateMany(wrapped, extra);
}

/** The repository's change of one order: the next record, its events and its repair record. */
function orderChange(current: OrderRecord, change: (current: OrderRecord) => OrderRecord | undefined, options: OrderUpdateOptions): OrderChange | undefined {
  const proposed = change(current);
  if (!proposed) return undefined;
  const next = withCheckTime({ ...proposed, id: current.id, merchantId: current.merchantId, createdAtMs: current.createdAtMs });
  const events = deriveOrderEvents(current, next).map((draft) => newEvent(draft, next.updatedAtMs));
  const kind = options.repair?.(current, next);
  const repair: ReconcileRecord | undefined = kind
    ? {
        id: `rec_${randomHex(12)}`,
        atMs: next.updatedAtMs,
        kind,
        orderId: current.id,
        merchantId: current.merchantId,
        paymentId: current.paymentId,
        from: current.status,
        to: next.status,
        onChainStatus: next.onChain?.status ?? null,
        eventIds: events.map((e) => e.id),
      }
    : undefined;
  return { next, events, ...(repair ? { repair } : {}) };
}
