/**
 * `tsx bench/outbox-scan.ts [--events=20000] [--passes=200] [--data-dir=DIR]`: what the webhook
 * dispatcher's two scans cost once many events have gone through the outbox and their deliveries
 * through the queue. Events are written as the gateway writes them (an order change with its events,
 * one synced batch each), fanned out to one endpoint, and each delivery recorded as succeeded; then,
 * with nothing left to do, it times (process CPU) the fan-out pass and the due-deliveries scan, which
 * start from their floors, against scans of the outbox and of the queue from their heads, which is what
 * they did without the floors: LevelDB steps over the tombstone of every entry done since the last
 * compaction. Prints CPU microseconds per pass at each step of the event count.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";

import { openLevelStore } from "../core/storage/level.js";
import type { OrderRecord } from "../gateway/domain/records.js";
import { KEYSPACES } from "../gateway/storage/keyspaces.js";
import { LevelOrderRepository } from "../gateway/storage/orders.js";
import { LevelWebhookRepository } from "../gateway/storage/webhooks.js";
import { chooseDataRoot } from "./lib/data-dir.js";

const { values } = parseArgs({
  options: { events: { type: "string", default: "20000" }, passes: { type: "string", default: "200" }, "data-dir": { type: "string" } },
  strict: true,
});
const total = Number(values.events);
const passes = Number(values.passes);
const root = chooseDataRoot(values["data-dir"]);
const dir = await mkdtemp(join(root.path, "settlenet-outbox-scan-"));
const store = await openLevelStore(join(dir, "db"), KEYSPACES, { label: "gateway" });
const { ctx } = store;
const storage = { orders: new LevelOrderRepository(ctx), webhooks: new LevelWebhookRepository(ctx) };
try {
  const now = Date.now();
  const order: OrderRecord = {
    id: "pay_outboxscan",
    merchantId: "m1",
    merchantOrderId: "o-1",
    requestHash: "h",
    status: "held",
    amount: "100",
    currency: "CNY",
    description: null,
    mode: "escrow",
    terms: {} as OrderRecord["terms"],
    paymentId: `0x${"11".repeat(32)}`,
    createdAtMs: now,
    updatedAtMs: now,
    expiresAtMs: now + 60_000,
    refunds: [],
  };
  await storage.orders.create(order);
  const endpoint = { id: "we_1", merchantId: "m1", url: "https://example.com/hook", description: null, eventTypes: ["payment.held" as const], secret: { v: 1 } as never, status: "active" as const, createdAtMs: now };
  await storage.webhooks.createEndpoint(endpoint, 10);
  const fanOutAndDeliver = async () => {
    const fanned = await storage.webhooks.fanOut(now, 100);
    const attempt = { atMs: now, durationMs: 1, statusCode: 200, succeeded: true };
    await Promise.all(fanned.map((e) => storage.webhooks.recordAttempt("we_1", e.id, attempt, { status: "succeeded" })));
    return fanned.length;
  };
  const cpuPerPass = async (fn: () => Promise<unknown>) => {
    const start = process.cpuUsage();
    for (let i = 0; i < passes; i++) await fn();
    const used = process.cpuUsage(start);
    return (used.user + used.system) / passes;
  };
  const later = now + 60_000;
  const columns = ["events done", "fan-out pass", "outbox from its head", "due deliveries", "queue from its head"];
  process.stdout.write(`µs of CPU per pass\n${columns.join(" | ")}\n`);
  let written = 0;
  for (const step of [0, 1_000, 5_000, total].filter((n, i, all) => n <= total && all.indexOf(n) === i)) {
    // Ten events per order change, fanned out a hundred at a time, as the dispatcher does.
    while (written < step) {
      const events = Array.from({ length: 10 }, (_, i) => ({ id: `evt_${written + i}`, merchantId: "m1", type: "payment.held" as const, createdAtMs: now + written + i, data: {} }));
      await storage.orders.update(order.id, (o) => ({ next: { ...o, updatedAtMs: o.updatedAtMs + 1 }, events }));
      written += events.length;
      if (written % 100 === 0) await fanOutAndDeliver();
    }
    while ((await fanOutAndDeliver()) > 0);
    const figures = [
      await cpuPerPass(() => storage.webhooks.fanOut(now, 100)),
      await cpuPerPass(() => ctx.read(() => ctx.spaces.outbox.keys({ limit: 100 }).all())),
      await cpuPerPass(() => storage.webhooks.due(later, 16, new Set())),
      await cpuPerPass(() => ctx.read(() => ctx.spaces.webhookQueue.keys({ lt: String(later + 1).padStart(16, "0"), limit: 16 }).all())),
    ];
    process.stdout.write([String(step), ...figures.map((f) => f.toFixed(0))].map((cell, i) => cell.padStart((columns[i] as string).length)).join(" | ") + "\n");
  }
} finally {
  await store.close();
  await rm(dir, { recursive: true, force: true });
}
