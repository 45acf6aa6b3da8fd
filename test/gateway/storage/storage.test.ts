import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { expect } from "chai";

import { openLevelStore } from "../../../core/storage/level.js";
import { openGatewayStorage, type GatewayStorage } from "../../../gateway/storage/db.js";
import { KEYSPACES } from "../../../gateway/storage/keyspaces.js";
import type { WebhookEndpointRecord } from "../../../gateway/domain/events.js";
import type { OrderRecord } from "../../../gateway/domain/records.js";
import { refusalOf } from "../../helpers/errors.js";

/** The code of what `fn` throws or rejects with. */
const codeOf = async (fn: () => unknown): Promise<string> => (await refusalOf((async () => fn())())).code;

function order(overrides: Partial<OrderRecord>): OrderRecord {
  return {
    id: `pay_${randomBytes(16).toString("hex")}`,
    merchantId: "m1",
    merchantOrderId: "o-1",
    requestHash: "h",
    status: "awaiting_authorization",
    amount: "100",
    currency: "CNY",
    description: null,
    mode: "escrow",
    terms: {} as OrderRecord["terms"],
    paymentId: `0x${randomBytes(32).toString("hex")}`,
    createdAtMs: Date.now(),
    updatedAtMs: Date.now(),
    expiresAtMs: Date.now() + 60_000,
    refunds: [],
    ...overrides,
  };
}

describe("gateway storage: orders, idempotency records and request nonces", function () {
  let dir: string;
  let storage: GatewayStorage;

  beforeEach(async function () {
    dir = await mkdtemp(join(tmpdir(), "settlenet-gw-storage-"));
    storage = await openGatewayStorage(join(dir, "db"));
  });
  afterEach(async function () {
    await storage?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("keeps merchantOrderId unique per merchant and moves the status index with the order", async function () {
    const first = order({ merchantOrderId: "o-1" });
    expect((await storage.orders.create(first)).created).to.equal(true);
    const clash = await storage.orders.create(order({ merchantOrderId: "o-1" }));
    expect(clash.created).to.equal(false);
    if (!clash.created) expect(clash.existing.id).to.equal(first.id);
    expect((await storage.orders.create(order({ merchantId: "m2", merchantOrderId: "o-1" }))).created).to.equal(true);

    await storage.orders.update(first.id, (o) => ({ next: { ...o, status: "held" } }));
    expect((await storage.orders.list("m1", { limit: 10, status: "awaiting_authorization" })).items).to.have.length(0);
    expect((await storage.orders.list("m1", { limit: 10, status: "held" })).items.map((o) => o.id)).to.deep.equal([first.id]);
    expect((await storage.orders.getByPaymentId(first.paymentId))?.id).to.equal(first.id);
    expect(await codeOf(() => storage.orders.list("m2", { limit: 1, cursor: "garbage" }))).to.equal("MALFORMED");
  });

  it("counts the keys it writes by keyspace (the work metrics)", async function () {
    const before = { keys: storage.work.writtenKeys, byKeyspace: new Map(storage.work.writtenByKeyspace) };
    const first = order({ merchantOrderId: "o-count" });
    await storage.orders.create(first);
    // A clash writes nothing.
    await storage.orders.create(order({ merchantOrderId: "o-count" }));
    await storage.orders.update(first.id, (o) => ({ next: { ...o, status: "held" } }));
    const delta = (name: string) => (storage.work.writtenByKeyspace.get(name) ?? 0) - (before.byKeyspace.get(name) ?? 0);
    expect(delta("orders"), "the order, put twice").to.equal(2);
    expect(delta("ordersByStatus"), "its status entry put, moved (deleted and put)").to.equal(3);
    expect(delta("ordersByOrderId")).to.equal(1);
    const counted = [...storage.work.writtenByKeyspace.keys()].reduce((sum, name) => sum + delta(name), 0);
    expect(counted, "every key under its keyspace").to.equal(storage.work.writtenKeys - before.keys);
  });

  it("indexes orders by reconciler check time and fulfilled orders by auto-release time, moving both with every change", async function () {
    const now = Date.now();
    const unpaid = order({ checkAtMs: now + 1_000 });
    const fulfilled = order({ merchantOrderId: "o-2", status: "fulfilled", onChain: { status: "fulfilled", amount: "100", refunded: "0", deadline: 5_000 } });
    await storage.orders.create(unpaid);
    await storage.orders.create(fulfilled);
    expect(await storage.orders.listCheckDue(now + 999, 10)).to.deep.equal([]);
    expect(await storage.orders.listCheckDue(now + 1_000, 10)).to.deep.equal([unpaid.id]);
    expect(await storage.orders.listReleaseDue(4_999, 10)).to.deep.equal([]);
    expect(await storage.orders.listReleaseDue(5_000, 10)).to.deep.equal([fulfilled.id]);

    const moved = new Map<string, (o: OrderRecord) => { next: OrderRecord }>([
      [unpaid.id, (o) => ({ next: { ...o, checkAtMs: now + 9_000 } })],
      [fulfilled.id, (o) => ({ next: { ...o, status: "released" } })],
    ]);
    await storage.orders.updateMany(moved, [storage.metaWrite("test.marker", 7)]);
    expect(await storage.getMeta("test.marker")).to.equal(7);
    expect(await storage.orders.listCheckDue(now + 1_000, 10)).to.deep.equal([]);
    expect(await storage.orders.listCheckDue(now + 9_000, 10)).to.deep.equal([unpaid.id]);
    expect(await storage.orders.listReleaseDue(10_000, 10)).to.deep.equal([]);
    expect(await storage.orders.idsByPayment([fulfilled.paymentId, "0x" + "00".repeat(32)])).to.deep.equal(new Map([[fulfilled.paymentId.toLowerCase(), fulfilled.id]]));

    // A schema-1 database is indexed again at open, without duplicates.
    await storage.putMeta("schema.version", 1);
    await storage.close();
    storage = await openGatewayStorage(join(dir, "db"));
    expect(await storage.getMeta("schema.version")).to.equal(2);
    expect(await storage.orders.listCheckDue(now + 9_000, 10)).to.deep.equal([unpaid.id]);
  });

  it("keeps an Idempotency-Key in progress only in the running process, records the response once and prunes it after expiry", async function () {
    const now = Date.now();
    const response = { status: 201, contentType: "application/json", body: "{}" };
    expect((await storage.idempotency.begin("m1", "k", "f", now)).state).to.equal("started");
    expect((await storage.idempotency.begin("m1", "k", "f", now)).state).to.equal("in_progress");
    expect((await storage.idempotency.begin("m1", "k", "other", now)).state).to.equal("mismatch");
    // A restart: the request that never answered runs again.
    await storage.close();
    storage = await openGatewayStorage(join(dir, "db"));
    expect((await storage.idempotency.begin("m1", "k", "f", now)).state).to.equal("started");
    await storage.idempotency.complete("m1", "k", response, now, 60_000);
    expect(await storage.idempotency.begin("m1", "k", "f", now)).to.deep.equal({ state: "replay", response });
    expect((await storage.idempotency.begin("m1", "k", "other", now)).state).to.equal("mismatch");
    // An abandoned request leaves nothing behind.
    expect((await storage.idempotency.begin("m1", "k2", "f", now)).state).to.equal("started");
    storage.idempotency.abandon("m1", "k2");
    expect((await storage.idempotency.begin("m1", "k2", "f", now)).state).to.equal("started");
    // A key whose record expired runs again; its new record replaces the old one's expiry entry.
    expect((await storage.idempotency.begin("m1", "k3", "f", now)).state).to.equal("started");
    await storage.idempotency.complete("m1", "k3", response, now, 1_000);
    expect((await storage.idempotency.begin("m1", "k3", "f", now + 5_000)).state).to.equal("started");
    await storage.idempotency.complete("m1", "k3", response, now + 5_000, 60_000);
    expect(await storage.idempotency.prune(now + 10_000)).to.equal(0);
    expect((await storage.idempotency.begin("m1", "k3", "f", now + 10_000)).state).to.equal("replay");
    // Expired records are pruned.
    expect(await storage.idempotency.prune(now + 120_000)).to.equal(2);
    expect((await storage.idempotency.begin("m1", "k", "other", now + 120_000)).state).to.equal("started");
  });

  it("disregards an in-progress Idempotency-Key record an earlier version left behind", async function () {
    await storage.close();
    const now = Date.now();
    const store = await openLevelStore(join(dir, "db"), KEYSPACES, { label: "gateway" });
    const stale = { merchantId: "m1", key: "k", fingerprint: "f", state: "in_progress", owner: "gone", createdAtMs: now, expiresAtMs: now + 60_000 };
    await store.ctx.write(() => store.ctx.commit([{ type: "put", sublevel: store.spaces.idempotency, key: "m1!k", value: stale }]));
    await store.close();
    storage = await openGatewayStorage(join(dir, "db"));
    expect((await storage.idempotency.begin("m1", "k", "f", now)).state).to.equal("started");
  });

  it("refuses a nonce again until it expires, and prunes only expired nonces", async function () {
    const now = Date.now();
    expect(await storage.nonces.claim("key_1", "n-1", now + 1_000, now)).to.equal(true);
    expect(await storage.nonces.claim("key_1", "n-1", now + 1_000, now + 500)).to.equal(false);
    expect(await storage.nonces.claim("key_1", "n-2", now + 5_000, now)).to.equal(true);
    expect(await storage.nonces.prune(now + 2_000)).to.equal(1);
    expect(await storage.nonces.claim("key_1", "n-2", now + 5_000, now + 2_000)).to.equal(false);
    expect(await storage.nonces.claim("key_1", "n-1", now + 9_000, now + 2_000)).to.equal(true);
  });

  it("fans every outbox entry out once, in key order, also one whose earlier time sorts before entries already fanned out", async function () {
    const held = order({ merchantOrderId: "o-outbox" });
    await storage.orders.create(held);
    const t = Date.now();
    const event = (id: string, createdAtMs: number) => ({ id, merchantId: "m1", type: "payment.held" as const, createdAtMs, data: {} });
    const write = (...events: ReturnType<typeof event>[]) => storage.orders.update(held.id, (o) => ({ next: { ...o, updatedAtMs: o.updatedAtMs + 1 }, events }));
    const ids = async (limit: number) => (await storage.webhooks.fanOut(t, limit)).map((e) => e.id);

    await write(event("evt_b", t + 2), event("evt_c", t + 3), event("evt_d", t + 4));
    expect(await ids(2)).to.deep.equal(["evt_b", "evt_c"]);
    // Taken before its write section ran: it sorts before what the last pass fanned out.
    await write(event("evt_a", t + 1));
    expect(await ids(10)).to.deep.equal(["evt_a", "evt_d"]);
    expect(await ids(10)).to.deep.equal([]);
    await write(event("evt_e", t + 5));
    expect(await ids(10)).to.deep.equal(["evt_e"]);
  });

  it("finds every due delivery once earlier ones are done, also one queued at a time before where the last scan started", async function () {
    const held = order({ merchantOrderId: "o-queue" });
    await storage.orders.create(held);
    const endpoint = { id: "we_1", merchantId: "m1", url: "https://example.com/hook", description: null, eventTypes: ["payment.held" as const], secret: {} as WebhookEndpointRecord["secret"], status: "active" as const, createdAtMs: 0 };
    await storage.webhooks.createEndpoint(endpoint, 10);
    const t = Date.now();
    const event = (id: string) => ({ id, merchantId: "m1", type: "payment.held" as const, createdAtMs: t, data: {} });
    const write = (...events: ReturnType<typeof event>[]) => storage.orders.update(held.id, (o) => ({ next: { ...o, updatedAtMs: o.updatedAtMs + 1 }, events }));
    const due = async (atMs: number) => (await storage.webhooks.due(atMs, 10, new Set())).map((d) => d.event.id);
    const succeed = (eventId: string, atMs: number) => storage.webhooks.recordAttempt("we_1", eventId, { atMs, durationMs: 1, statusCode: 200, succeeded: true }, { status: "succeeded" });

    await write(event("evt_1"), event("evt_2"));
    await storage.webhooks.fanOut(t + 10, 10);
    expect(await due(t + 10)).to.deep.equal(["evt_1", "evt_2"]);
    await succeed("evt_1", t + 10);
    await succeed("evt_2", t + 10);
    expect(await due(t + 20)).to.deep.equal([]);
    // Fanned out at a time before the last scan's end (the pass took its clock reading earlier).
    await write(event("evt_3"));
    await storage.webhooks.fanOut(t + 15, 10);
    expect(await due(t + 20)).to.deep.equal(["evt_3"]);
    await storage.webhooks.recordAttempt("we_1", "evt_3", { atMs: t + 20, durationMs: 1, statusCode: 500, succeeded: false }, { status: "pending", nextAttemptAtMs: t + 40 });
    expect(await due(t + 30)).to.deep.equal([]);
    expect(await due(t + 40)).to.deep.equal(["evt_3"]);
  });

  it("records several attempts in one batch, a later attempt of the same delivery after the earlier one, and skips a delivery that is gone", async function () {
    const held = order({ merchantOrderId: "o-attempts" });
    await storage.orders.create(held);
    const endpoint = { id: "we_2", merchantId: "m1", url: "https://example.com/hook", description: null, eventTypes: ["payment.held" as const], secret: {} as WebhookEndpointRecord["secret"], status: "active" as const, createdAtMs: 0 };
    await storage.webhooks.createEndpoint(endpoint, 10);
    const t = Date.now();
    const events = ["evt_a", "evt_b"].map((id) => ({ id, merchantId: "m1", type: "payment.held" as const, createdAtMs: t, data: {} }));
    await storage.orders.update(held.id, (o) => ({ next: { ...o, updatedAtMs: o.updatedAtMs + 1 }, events }));
    const { deliveries } = await storage.webhooks.fanOutDue(t + 10, 10);
    expect(deliveries.map((d) => [d.endpoint.id, d.event.id, d.delivery.status])).to.deep.include.members([
      ["we_2", "evt_a", "pending"],
      ["we_2", "evt_b", "pending"],
    ]);
    const sections = storage.work.writeSections;
    const records = await storage.webhooks.recordAttempts([
      { endpointId: "we_2", eventId: "evt_a", attempt: { atMs: t + 20, durationMs: 1, statusCode: 500, succeeded: false }, outcome: { status: "pending", nextAttemptAtMs: t + 30 } },
      { endpointId: "we_2", eventId: "evt_missing", attempt: { atMs: t + 20, durationMs: 1, statusCode: 200, succeeded: true }, outcome: { status: "succeeded" } },
      { endpointId: "we_2", eventId: "evt_b", attempt: { atMs: t + 20, durationMs: 1, statusCode: 200, succeeded: true }, outcome: { status: "succeeded" } },
      { endpointId: "we_2", eventId: "evt_a", attempt: { atMs: t + 30, durationMs: 1, statusCode: 200, succeeded: true }, outcome: { status: "succeeded" } },
    ]);
    expect(storage.work.writeSections - sections, "one section").to.equal(1);
    expect(records.map((r) => r && [r.eventId, r.status, r.attemptCount])).to.deep.equal([["evt_a", "pending", 1], undefined, ["evt_b", "succeeded", 1], ["evt_a", "succeeded", 2]]);
    const stored = await storage.webhooks.getDelivery("we_2", "evt_a");
    expect(stored?.attempts.map((a) => a.statusCode)).to.deep.equal([500, 200]);
    expect(stored?.nextAttemptAtMs).to.equal(undefined);
    // Nothing left queued: the retry key the first attempt set went with the second.
    expect(await storage.webhooks.due(t + 1_000, 10, new Set())).to.deep.equal([]);
  });

});
