import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { expect } from "chai";

import { updateOrder } from "../../../gateway/domain/orders.js";
import type { OrderRecord } from "../../../gateway/domain/records.js";
import { openGatewayStorage, type GatewayStorage } from "../../../gateway/storage/db.js";

function order(overrides: Partial<OrderRecord> = {}): OrderRecord {
  const now = Date.now();
  return {
    id: `pay_${randomBytes(16).toString("hex")}`,
    merchantId: "m1",
    merchantOrderId: `o-${randomBytes(4).toString("hex")}`,
    requestHash: "h",
    status: "processing",
    amount: "100",
    currency: "CNY",
    description: null,
    mode: "escrow",
    terms: {} as OrderRecord["terms"],
    paymentId: `0x${randomBytes(32).toString("hex")}`,
    createdAtMs: now,
    updatedAtMs: now,
    expiresAtMs: now + 60_000,
    refunds: [],
    ...overrides,
  };
}

describe("gateway domain: order changes and the events they mean", function () {
  let dir: string;
  let storage: GatewayStorage;

  beforeEach(async function () {
    dir = await mkdtemp(join(tmpdir(), "settlenet-gw-orders-"));
    storage = await openGatewayStorage(join(dir, "db"));
  });
  afterEach(async function () {
    await storage?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("stores an order change with its events in the merchant's log and the webhook outbox", async function () {
    const stored = order();
    await storage.orders.create(stored);
    const atMs = stored.createdAtMs + 1_000;
    const held = await updateOrder(storage.orders, stored.id, (o) => ({ ...o, status: "held", onChain: { status: "held", amount: "100", refunded: "0", deadline: 0 }, updatedAtMs: atMs }));
    expect(held.changed).to.equal(true);
    expect(held.events.map((e) => [e.type, e.merchantId, e.createdAtMs, e.data["status"]])).to.deep.equal([["payment.held", "m1", atMs, "held"]]);
    const log = await storage.webhooks.listEvents("m1", { limit: 10 });
    expect(log.items.map((e) => e.id)).to.deep.equal(held.events.map((e) => e.id));
    // The outbox entry fans out to endpoints: none here, but the entry is consumed.
    expect((await storage.webhooks.fanOut(atMs, 10)).map((e) => e.id)).to.deep.equal(held.events.map((e) => e.id));

    const refunded = await updateOrder(storage.orders, stored.id, (o) => ({ ...o, onChain: { status: "held", amount: "100", refunded: "40", deadline: 0 }, updatedAtMs: atMs + 1 }));
    expect(refunded.events.map((e) => [e.type, e.data["refund"]])).to.deep.equal([["payment.refunded", { amount: "40" }]]);
    // A change that means nothing to the merchant writes no event, and no change writes nothing.
    expect((await updateOrder(storage.orders, stored.id, (o) => ({ ...o, description: "gift", updatedAtMs: atMs + 2 }))).events).to.deep.equal([]);
    expect((await updateOrder(storage.orders, stored.id, () => undefined)).changed).to.equal(false);
    expect((await storage.webhooks.listEvents("m1", { limit: 10 })).items).to.have.length(2);
  });

  it("logs a repair with the events of the same change, and only when the caller calls it one", async function () {
    const stored = order({ status: "awaiting_authorization" });
    await storage.orders.create(stored);
    const atMs = stored.createdAtMs + 5_000;
    const result = await updateOrder(
      storage.orders,
      stored.id,
      (o) => ({ ...o, status: "released", onChain: { status: "released", amount: "100", refunded: "0", deadline: 0 }, updatedAtMs: atMs }),
      { repair: (current, next) => (current.status === "awaiting_authorization" && next.status === "released" ? "payment_adopted" : undefined) },
    );
    expect(result.events.map((e) => e.type)).to.deep.equal(["payment.held", "payment.released"]);
    expect(result.repair).to.include({ kind: "payment_adopted", orderId: stored.id, from: "awaiting_authorization", to: "released", onChainStatus: "released", atMs });
    expect(result.repair?.eventIds).to.deep.equal(result.events.map((e) => e.id));
    expect((await storage.reconcile.list({ limit: 10 })).items).to.deep.equal([result.repair]);

    const plain = await updateOrder(storage.orders, stored.id, (o) => ({ ...o, description: "x", updatedAtMs: atMs + 1 }), { repair: () => undefined });
    expect(plain.repair).to.equal(undefined);
    expect((await storage.reconcile.list({ limit: 10 })).items).to.have.length(1);
  });
});
