/**
 * Order changes with what they mean. Every change of a stored order goes through `updateOrder`, which
 * hands the orders repository the merchant events the change causes (`deriveOrderEvents`) and, when
 * the reconciler calls it a repair, the repair record: the repository writes them with the order in
 * one synced batch, so an event or a repair exists exactly when its change does.
 */
import { randomBytes } from "node:crypto";

import type { LevelOrderRepository, OrderUpdateResult } from "../storage/orders.js";
import { deriveOrderEvents, newEvent, type ReconcileRecord, type RepairKind } from "./events.js";
import type { OrderRecord } from "./records.js";

export interface OrderUpdateOptions {
  /** The reconciler's verdict on the change: a repair kind (logged in the same batch) or undefined. */
  repair?: (current: OrderRecord, next: OrderRecord) => RepairKind | undefined;
}

/**
 * Read-modify-write of one order: `change` gets the stored order and returns the next one (or
 * undefined to leave it); the events it means and its repair record are written with it.
 */
export function updateOrder(
  orders: Pick<LevelOrderRepository, "update">,
  id: string,
  change: (current: OrderRecord) => OrderRecord | undefined,
  options: OrderUpdateOptions = {},
): Promise<OrderUpdateResult> {
  return orders.update(id, (current) => {
    const proposed = change(current);
    if (!proposed) return undefined;
    const next: OrderRecord = { ...proposed, id: current.id, merchantId: current.merchantId, createdAtMs: current.createdAtMs };
    const events = deriveOrderEvents(current, next).map((draft) => newEvent(draft, next.updatedAtMs));
    const kind = options.repair?.(current, next);
    const repair: ReconcileRecord | undefined = kind
      ? {
          id: `rec_${randomBytes(12).toString("hex")}`,
          atMs: next.updatedAtMs,
          kind,
          orderId: id,
          merchantId: current.merchantId,
          paymentId: current.paymentId,
          from: current.status,
          to: next.status,
          onChainStatus: next.onChain?.status ?? null,
          eventIds: events.map((e) => e.id),
        }
      : undefined;
    return { next, events, ...(repair ? { repair } : {}) };
  });
}
