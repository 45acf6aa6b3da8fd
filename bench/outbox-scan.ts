/**
 * `tsx bench/outbox-scan.ts [--events=20000] [--passes=200] [--data-dir=DIR]`: what one webhook fan-out
 * pass costs once many events have gone through the outbox. Events are written as the gateway writes
 * them (an order change with its events, one synced batch each) and fanned out; then, with the outbox
 * empty, it times (process CPU) the gateway's fan-out pass, which scans from its floor, and a scan of
 * the outbox from its head, which is what a pass did without the floor: LevelDB steps over the
 * tombstone of every entry fanned out since the last compaction. Prints CPU microseconds per pass at
 * each step of the event count.
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
  const cpuPerPass = async (fn: () => Promise<unknown>) => {
    const start = process.cpuUsage();
    for (let i = 0; i < passes; i++) await fn();
    const used = process.cpuUsage(start);
    return (used.user + used.system) / passes;
  };
  process.stdout.write(`events fanned out | fan-out pass (from its floor), µs CPU | scan from the outbox's head, µs CPU\n`);
  let written = 0;
  for (const step of [0, 1_000, 5_000, total].filter((n, i, all) => n <= total && all.indexOf(n) === i)) {
    // Ten events per order change, fanned out a hundred at a time, as the dispatcher does.
    while (written < step) {
      const events = Array.from({ length: 10 }, (_, i) => ({ id: `evt_${written + i}`, merchantId: "m1", type: "payment.held" as const, createdAtMs: now + written + i, data: {} }));
      await storage.orders.update(order.id, (o) => ({ next: { ...o, updatedAtMs: o.updatedAtMs + 1 }, events }));
      written += events.length;
      if (written % 100 === 0) await storage.webhooks.fanOut(now, 100);
    }
    while ((await storage.webhooks.fanOut(now, 100)).length > 0);
    const pass = await cpuPerPass(() => storage.webhooks.fanOut(now, 100));
    const head = await cpuPerPass(() => ctx.read(() => ctx.spaces.outbox.keys({ limit: 100 }).all()));
    process.stdout.write(`${String(step).padStart(17)} | ${pass.toFixed(0).padStart(37)} | ${head.toFixed(0).padStart(36)}\n`);
  }
} finally {
  await store.close();
  await rm(dir, { recursive: true, force: true });
}
