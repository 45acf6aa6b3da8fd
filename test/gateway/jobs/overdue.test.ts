/**
 * The gateway's overdue check on a real LevelDB, with its clock moved by the test: a top-up, a payout
 * and a webhook delivery waiting past their thresholds raise one alert each (one warn log, the
 * gauges), merchants' views would call them overdue, and each alert clears when its item ends; the
 * raised alerts survive a restart of the store (not logged or counted again) and clear once their item ends.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";

import { expect } from "chai";
import { pino } from "pino";
import { Registry } from "prom-client";

import { overdueConfigSchema } from "../../../gateway/config.js";
import type { WebhookEndpointRecord } from "../../../gateway/domain/events.js";
import type { PayoutRecord, TopupRecord } from "../../../gateway/domain/money-types.js";
import { OverdueWatch } from "../../../gateway/jobs/overdue.js";
import { openGatewayStorage, type GatewayStorage } from "../../../gateway/storage/db.js";

const T0 = 1_800_000_000_000;
const MERCHANT = "0x" + "11".repeat(20);

function payout(id: string, createdAtMs: number): PayoutRecord {
  return {
    id,
    merchantId: "m1",
    merchant: MERCHANT,
    currency: "CNY",
    token: "0x" + "33".repeat(20),
    amount: "3000",
    account: "merchant-0",
    stage: "paying",
    burn: { operationId: "0x" + "aa".repeat(32), submitted: true, status: "executed", createdAtMs },
    bank: { bankRef: "bt_1", status: "pending" },
    reversalAttempts: 0,
    reversed: false,
    createdAtMs,
    updatedAtMs: createdAtMs,
  };
}

function topup(id: string, createdAtMs: number): TopupRecord {
  return { id, merchantId: "m1", merchant: MERCHANT, currency: "CNY", token: "0x" + "33".repeat(20), amount: "5000", account: "merchant-0", stage: "awaiting_bank", bank: { bankRef: "bt_2", status: "pending" }, mintAttempts: 0, createdAtMs, updatedAtMs: createdAtMs };
}

describe("gateway overdue check: payouts, top-ups and webhook deliveries stuck too long", function () {
  this.timeout(60_000);
  let dir: string;
  let storage: GatewayStorage;
  let clock: number;
  let logs: { level: number; msg: string; kind?: string; id?: string; stage?: string }[];
  let metrics: Registry;
  let watch: OverdueWatch;

  beforeEach(async function () {
    dir = await mkdtemp(join(tmpdir(), "settlenet-gw-overdue-"));
    storage = await openGatewayStorage(join(dir, "db"));
    clock = T0;
    logs = [];
    metrics = new Registry();
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        logs.push(JSON.parse(chunk.toString("utf8")) as (typeof logs)[number]);
        done();
      },
    });
    watch = newWatch(sink);
  });
  function newWatch(sink: Writable): OverdueWatch {
    return new OverdueWatch(overdueConfigSchema.parse({ topupSeconds: 60, payoutSeconds: 120, webhookSeconds: 300 }), { storage, logger: pino({ level: "info" }, sink), metrics, now: () => clock });
  }
  afterEach(async function () {
    await storage.close();
    await rm(dir, { recursive: true, force: true });
  });

  const warned = (kind: string, id: string) => logs.filter((l) => l.level === 40 && l.kind === kind && l.id === id).length;
  const gauge = async (name: string, kind: string) => (await metrics.getSingleMetric(name)?.get())?.values.find((v) => v.labels["kind"] === kind)?.value;

  it("raises a payout the bank has not confirmed and a top-up not completed past their thresholds, once each, and clears them when they end", async function () {
    await storage.money.create("payout", payout("po_1", T0));
    await storage.money.create("topup", topup("tu_1", T0));
    clock = T0 + 61_000;
    await watch.checkOnce();
    await watch.checkOnce();
    expect(watch.alerts().map((a) => [a.kind, a.id])).to.deep.equal([["topup", "tu_1"]]);
    const paying = (await storage.money.get("payout", "po_1"))!;
    expect([watch.isOverdue("topup", (await storage.money.get("topup", "tu_1"))!), watch.isOverdue("payout", paying)]).to.deep.equal([true, false]);

    clock = T0 + 121_000;
    await watch.checkOnce();
    expect(watch.alerts().map((a) => [a.kind, a.id]).sort()).to.deep.equal([["payout", "po_1"], ["topup", "tu_1"]]);
    expect(watch.isOverdue("payout", paying)).to.equal(true);
    expect(warned("topup", "tu_1"), "one warn log over three checks").to.equal(1);
    expect(warned("payout", "po_1")).to.equal(1);
    expect(logs.find((l) => l.id === "po_1")).to.deep.include({ stage: "paying", msg: "money overdue" });
    expect(await gauge("gateway_overdue_items", "payout")).to.equal(1);
    expect(await gauge("gateway_overdue_oldest_age_seconds", "payout")).to.equal(121);
    expect(await gauge("gateway_overdue_alerts_raised_total", "topup")).to.equal(1);

    // The bank confirms: the payout is paid; the top-up fails.
    await storage.money.update("payout", "po_1", (r) => ({ next: { ...r, stage: "paid", bank: { bankRef: "bt_1", status: "confirmed" } } }));
    await storage.money.update("topup", "tu_1", (r) => ({ next: { ...r, stage: "failed", failure: { code: "BANK_REJECTED", message: "rejected" } } }));
    await watch.checkOnce();
    expect(watch.alerts()).to.deep.equal([]);
    expect(watch.isOverdue("payout", (await storage.money.get("payout", "po_1"))!)).to.equal(false);
    expect(await gauge("gateway_overdue_items", "payout")).to.equal(0);
    expect(await gauge("gateway_overdue_oldest_age_seconds", "topup")).to.equal(0);
  });

  it("raises a webhook delivery retrying past its threshold and clears it once delivered", async function () {
    const endpoint: WebhookEndpointRecord = { id: "we_1", merchantId: "m1", url: "https://example.com/hook", description: null, eventTypes: ["payout.paid"], secret: {} as WebhookEndpointRecord["secret"], status: "active", createdAtMs: T0 };
    await storage.webhooks.createEndpoint(endpoint, 10);
    await storage.money.create("payout", payout("po_2", T0));
    await storage.money.update("payout", "po_2", (r) => ({ next: { ...r, stage: "paid" }, events: [{ id: "evt_1", merchantId: "m1", type: "payout.paid", createdAtMs: T0, data: {} }] }));
    await storage.webhooks.fanOut(T0, 10);
    await storage.webhooks.recordAttempt("we_1", "evt_1", { atMs: T0 + 1_000, durationMs: 1, statusCode: 500, succeeded: false }, { status: "pending", nextAttemptAtMs: T0 + 600_000 });
    clock = T0 + 299_000;
    await watch.checkOnce();
    expect(watch.alerts()).to.deep.equal([]);
    clock = T0 + 301_000;
    await watch.checkOnce();
    await watch.checkOnce();
    expect(watch.alerts().map((a) => [a.kind, a.id, a.sinceMs])).to.deep.equal([["webhook_delivery", "we_1/evt_1", T0]]);
    expect(warned("webhook_delivery", "we_1/evt_1")).to.equal(1);

    // The retry, when due, is delivered.
    clock = T0 + 600_000;
    await storage.webhooks.recordAttempt("we_1", "evt_1", { atMs: clock, durationMs: 1, statusCode: 200, succeeded: true }, { status: "succeeded" });
    await watch.checkOnce();
    expect(watch.alerts()).to.deep.equal([]);
    expect(await gauge("gateway_overdue_items", "webhook_delivery")).to.equal(0);
  });

  it("keeps its raised alerts across a restart of the store: not logged or counted again, cleared once the item ends", async function () {
    await storage.money.create("payout", payout("po_3", T0));
    await storage.money.create("topup", topup("tu_3", T0));
    clock = T0 + 121_000;
    await watch.checkOnce();
    expect(warned("payout", "po_3") + warned("topup", "tu_3")).to.equal(2);

    const restart = async () => {
      await storage.close();
      storage = await openGatewayStorage(join(dir, "db"));
      logs = [];
      metrics = new Registry();
      watch = newWatch(
        new Writable({
          write(chunk: Buffer, _encoding, done) {
            logs.push(JSON.parse(chunk.toString("utf8")) as (typeof logs)[number]);
            done();
          },
        }),
      );
    };
    await restart();
    clock = T0 + 130_000;
    await watch.checkOnce();
    expect(watch.alerts().map((a) => [a.kind, a.id, a.raisedAtMs]).sort()).to.deep.equal([["payout", "po_3", T0 + 121_000], ["topup", "tu_3", T0 + 121_000]]);
    expect(logs.filter((l) => l.level === 40)).to.deep.equal([]);
    expect(await gauge("gateway_overdue_alerts_raised_total", "payout")).to.equal(0);

    // The bank confirms the payout while the gateway is down: the next process clears it at once.
    await storage.money.update("payout", "po_3", (r) => ({ next: { ...r, stage: "paid", bank: { bankRef: "bt_1", status: "confirmed" } } }));
    await restart();
    await watch.checkOnce();
    expect(watch.alerts().map((a) => [a.kind, a.id])).to.deep.equal([["topup", "tu_3"]]);
    expect(logs.filter((l) => l.msg === "money no longer overdue").map((l) => l.id)).to.deep.equal(["po_3"]);
    await restart();
    await watch.checkOnce();
    expect(watch.alerts().map((a) => [a.kind, a.id])).to.deep.equal([["topup", "tu_3"]]);
    expect(logs.filter((l) => l.level === 40 || l.msg === "money no longer overdue")).to.deep.equal([]);
  });
});
