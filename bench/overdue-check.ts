/**
 * `tsx bench/overdue-check.ts [--operations=100000] [--passes=200] [--data-dir=DIR]`: what one check of
 * the node's overdue monitor (node/overdue/monitor.ts) costs as the operation pool grows. The node's
 * store is filled as the node fills it (synced batches of 500): mostly executed operations, with 2% still
 * accepted and not yet overdue, and a fixed 20 accepted and 20 submitted past their thresholds. At each
 * step of the pool's size it times (process CPU) a check, and a walk of every accepted and submitted
 * operation (what a check would cost if it read the waiting operations rather than the index keys
 * before the cut-off). Prints CPU microseconds per pass; every check must find exactly the 40 overdue
 * operations, or the run fails.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";

import { hexlify } from "ethers";
import { pino } from "pino";
import { Registry } from "prom-client";

import type { OperationStatus, StoredOperation } from "../core/records.js";
import { overdueConfigSchema } from "../node/overdue/config.js";
import { OverdueMonitor } from "../node/overdue/monitor.js";
import { openStorage } from "../node/storage/db.js";
import { chooseDataRoot } from "./lib/data-dir.js";

const { values } = parseArgs({
  options: { operations: { type: "string", default: "100000" }, passes: { type: "string", default: "200" }, "data-dir": { type: "string" } },
  strict: true,
});
const total = Number(values.operations);
const passes = Number(values.passes);
const root = chooseDataRoot(values["data-dir"]);
const dir = await mkdtemp(join(root.path, "settlenet-overdue-check-"));
const storage = await openStorage(join(dir, "db"));
const OVERDUE_EACH = 20;
const hex32 = () => hexlify(randomBytes(32));
const terms = { payer: `0x${"22".repeat(20)}`, merchant: `0x${"33".repeat(20)}`, token: `0x${"44".repeat(20)}`, amount: "1000", feeBps: 100, direct: false, payDeadline: "1900000000", fulfilmentPeriod: 60, autoReleasePeriod: 60, refundPeriod: 60, nonce: "1" };
const release = (status: OperationStatus, receivedAtMs: number): StoredOperation => ({
  id: hex32(),
  kind: "release",
  paymentId: hex32(),
  op: { kind: "release", terms: { ...terms, orderId: hex32() } },
  signer: null,
  origin: "gossip",
  status,
  receivedAtMs,
  updatedAtMs: receivedAtMs,
});

try {
  const now = Date.now();
  const monitor = new OverdueMonitor(overdueConfigSchema.parse({ notRelayedSeconds: 120, noOutcomeSeconds: 300 }), {
    operations: storage.operations,
    store: storage,
    logger: pino({ level: "silent" }),
    metrics: new Registry(),
    now: () => now,
  });
  // The overdue ones: received an hour ago.
  await storage.operations.putAccepted([...Array.from({ length: OVERDUE_EACH }, () => release("accepted", now - 3_600_000)), ...Array.from({ length: OVERDUE_EACH }, () => release("submitted", now - 3_600_000))]);
  const cpuPerPass = async (fn: () => Promise<unknown>) => {
    const start = process.cpuUsage();
    for (let i = 0; i < passes; i++) await fn();
    const used = process.cpuUsage(start);
    return (used.user + used.system) / passes;
  };
  const columns = ["operations stored", "waiting (not overdue)", "overdue check", "walk of every waiting operation"];
  process.stdout.write(`µs of CPU per pass (${passes} passes)\n${columns.join(" | ")}\n`);
  let written = 0;
  let waiting = 0;
  for (const step of [1_000, 10_000, total].filter((n, i, all) => n <= total && all.indexOf(n) === i)) {
    while (written < step) {
      // Received over the last minute: executed, or (one in fifty) still waiting, within its threshold.
      const batch = Array.from({ length: Math.min(500, step - written) }, (_, i) => release((written + i) % 50 === 0 ? "accepted" : "executed", now - 60_000 + ((written + i) % 60_000)));
      waiting += batch.filter((op) => op.status === "accepted").length;
      await storage.operations.putAccepted(batch);
      written += batch.length;
    }
    const check = await cpuPerPass(async () => {
      await monitor.checkOnce();
      const found = monitor.report(1_000).alerts.length;
      if (found !== 2 * OVERDUE_EACH) throw new Error(`the check found ${found} overdue operations, not ${2 * OVERDUE_EACH}`);
    });
    const walk = await cpuPerPass(async () => {
      await storage.operations.listByStatus("accepted", 1_000_000);
      await storage.operations.listByStatus("submitted", 1_000_000);
    });
    process.stdout.write([String(written + 2 * OVERDUE_EACH), String(waiting), check.toFixed(0), walk.toFixed(0)].map((cell, i) => cell.padStart((columns[i] as string).length)).join(" | ") + "\n");
  }
} finally {
  await storage.close();
  await rm(dir, { recursive: true, force: true });
}
