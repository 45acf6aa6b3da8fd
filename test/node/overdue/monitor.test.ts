/**
 * The node's overdue monitor on a real LevelDB (the node's operation store and a custody store), with
 * its clock moved by the test: an alert is raised once the threshold passes, logged once, counted in
 * the gauges, and cleared when the operation or the mint moves on; the raised alerts survive a restart
 * of the store (not logged or counted again), and one whose item moved on meanwhile clears.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";

import { expect } from "chai";
import { Wallet, hexlify } from "ethers";
import { pino } from "pino";
import { Registry } from "prom-client";

import type { StoredOperation } from "../../../core/records.js";
import { CustodyStore, type CustodyRecord } from "../../../node/custodian/store.js";
import { overdueConfigSchema, type OverdueConfigInput } from "../../../node/overdue/config.js";
import { OverdueMonitor } from "../../../node/overdue/monitor.js";
import { openStorage, type NodeStorage } from "../../../node/storage/db.js";
import { wireTerms } from "../../helpers/operations.js";

const hex32 = () => hexlify(randomBytes(32));
const T0 = 1_800_000_000_000;

/** A release of a fresh payment received at `receivedAtMs` (no signature or nonce: storage does not care). */
function release(receivedAtMs: number): StoredOperation {
  const terms = wireTerms({ payer: Wallet.createRandom().address, merchant: Wallet.createRandom().address, orderId: hex32() });
  return { id: hex32(), kind: "release", paymentId: hex32(), op: { kind: "release", terms }, signer: null, origin: "api", status: "accepted", receivedAtMs, updatedAtMs: receivedAtMs };
}

function minting(bankRef: string, createdAtMs: number): CustodyRecord {
  return {
    bankRef,
    kind: "deposit",
    reference: "tu_1",
    to: Wallet.createRandom().address,
    token: "0x" + "33".repeat(20),
    amount: "500",
    currency: "CNY",
    chainBankRef: hex32(),
    status: "minting",
    attempts: 1,
    operationId: hex32(),
    createdAtMs,
    updatedAtMs: createdAtMs,
  };
}

describe("node overdue monitor: money stuck in an intermediate state", function () {
  this.timeout(60_000);
  let dir: string;
  let storage: NodeStorage;
  let custody: CustodyStore;
  let clock: number;
  let logs: { level: number; msg: string; kind?: string; id?: string }[];
  let metrics: Registry;

  beforeEach(async function () {
    dir = await mkdtemp(join(tmpdir(), "settlenet-overdue-"));
    storage = await openStorage(join(dir, "db"));
    custody = await CustodyStore.open(join(dir, "custody"));
    clock = T0;
    logs = [];
    metrics = new Registry();
  });
  afterEach(async function () {
    await storage.close();
    await custody.close();
    await rm(dir, { recursive: true, force: true });
  });

  function monitor(config: OverdueConfigInput = {}): OverdueMonitor {
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        logs.push(JSON.parse(chunk.toString("utf8")) as (typeof logs)[number]);
        done();
      },
    });
    return new OverdueMonitor(overdueConfigSchema.parse({ notRelayedSeconds: 60, noOutcomeSeconds: 300, custodyMintingSeconds: 600, ...config }), {
      operations: storage.operations,
      store: storage,
      minting: (limit) => custody.minting(limit),
      logger: pino({ level: "info" }, sink),
      metrics,
      now: () => clock,
    });
  }
  const warned = (kind: string, id: string) => logs.filter((l) => l.level === 40 && l.kind === kind && l.id === id.toLowerCase()).length;
  const gauge = async (name: string, kind: string) => (await metrics.getSingleMetric(name)?.get())?.values.find((v) => v.labels["kind"] === kind)?.value;

  it("raises a not-relayed alert once the threshold passes, logs it once, and clears it once the operation is relayed", async function () {
    const m = monitor();
    const op = release(T0);
    await storage.operations.putAccepted([op]);
    clock = T0 + 59_000;
    await m.checkOnce();
    expect(m.report(10).alerts).to.deep.equal([]);
    expect(await gauge("settlenet_overdue_items", "operation_not_relayed")).to.equal(0);

    clock = T0 + 61_000;
    await m.checkOnce();
    clock = T0 + 90_000;
    await m.checkOnce();
    const report = m.report(10);
    expect(report.alerts).to.have.length(1);
    expect(report.alerts[0]).to.deep.include({ kind: "operation_not_relayed", id: op.id.toLowerCase(), operationKind: "release", sinceMs: T0, raisedAtMs: T0 + 61_000, ageSeconds: 90 });
    expect(report.kinds.find((k) => k.kind === "operation_not_relayed")).to.deep.equal({ kind: "operation_not_relayed", thresholdSeconds: 60, count: 1, oldestAgeSeconds: 90, truncated: false });
    expect(await gauge("settlenet_overdue_items", "operation_not_relayed")).to.equal(1);
    expect(await gauge("settlenet_overdue_oldest_age_seconds", "operation_not_relayed")).to.equal(90);
    expect(warned("operation_not_relayed", op.id), "one warn log for two checks").to.equal(1);
    expect(await gauge("settlenet_overdue_alerts_raised_total", "operation_not_relayed")).to.equal(1);

    // Relayed: the not-relayed alert clears; received 100 s ago, it is not yet overdue for an outcome.
    await storage.operations.update(op.id, { status: "submitted", txHash: hex32() });
    clock = T0 + 100_000;
    await m.checkOnce();
    expect(m.report(10).alerts).to.deep.equal([]);
    expect(await gauge("settlenet_overdue_items", "operation_not_relayed")).to.equal(0);
    expect(await gauge("settlenet_overdue_oldest_age_seconds", "operation_not_relayed")).to.equal(0);
  });

  it("raises a no-outcome alert for a relayed operation with no outcome and clears it once it executes or fails", async function () {
    const m = monitor();
    const executes = release(T0);
    const fails = release(T0 + 1_000);
    await storage.operations.putAccepted([executes, fails]);
    await storage.operations.updateMany([executes, fails].map((op) => ({ id: op.id, patch: { status: "submitted" as const, txHash: hex32() } })));
    clock = T0 + 302_000;
    await m.checkOnce();
    await m.checkOnce();
    expect(m.report(10).alerts.map((a) => [a.kind, a.id])).to.deep.equal([
      ["operation_no_outcome", executes.id.toLowerCase()],
      ["operation_no_outcome", fails.id.toLowerCase()],
    ]);
    expect(warned("operation_no_outcome", executes.id)).to.equal(1);
    expect(warned("operation_no_outcome", fails.id)).to.equal(1);

    await storage.operations.update(executes.id, { status: "executed" });
    await storage.operations.update(fails.id, { status: "failed", error: { code: "PaymentExpired", message: "expired" } });
    await m.checkOnce();
    expect(m.report(10).alerts).to.deep.equal([]);
    expect(await gauge("settlenet_overdue_items", "operation_no_outcome")).to.equal(0);
    expect(logs.filter((l) => l.msg === "money no longer overdue")).to.have.length(2);
  });

  it("looks at most maxItems operations per check: the count is a lower bound and nothing it did not look at is cleared", async function () {
    const m = monitor({ maxItems: 2 });
    const ops = [release(T0), release(T0 + 1_000), release(T0 + 2_000)];
    await storage.operations.putAccepted(ops);
    clock = T0 + 120_000;
    await m.checkOnce();
    expect(m.report(10).kinds.find((k) => k.kind === "operation_not_relayed")).to.deep.include({ count: 2, truncated: true, oldestAgeSeconds: 120 });
    expect(m.report(10).alerts.map((a) => a.id)).to.deep.equal(ops.slice(0, 2).map((op) => op.id.toLowerCase()));
    // The oldest executes: the next check reaches the third, and the first clears.
    await storage.operations.update(ops[0]!.id, { status: "executed" });
    await m.checkOnce();
    expect(m.report(10).alerts.map((a) => a.id)).to.deep.equal(ops.slice(1).map((op) => op.id.toLowerCase()));
  });

  it("keeps an alert the truncated check did not reach (received after the last item it looked at)", async function () {
    const m = monitor({ maxItems: 2 });
    const [early1, early2, late] = [release(T0), release(T0 + 1_000), release(T0 + 2_000)];
    await storage.operations.putAccepted([early1!, early2!, late!]);
    await storage.operations.update(late!.id, { status: "submitted", txHash: hex32() });
    clock = T0 + 400_000;
    await m.checkOnce();
    expect(m.report(10).alerts.filter((a) => a.kind === "operation_no_outcome").map((a) => a.id)).to.deep.equal([late!.id.toLowerCase()]);
    // Two operations received before it are relayed too: the check's two items are theirs, the late one still waits.
    await storage.operations.updateMany([early1!, early2!].map((op) => ({ id: op.id, patch: { status: "submitted" as const, txHash: hex32() } })));
    await m.checkOnce();
    expect(m.report(10).alerts.filter((a) => a.kind === "operation_no_outcome").map((a) => a.id)).to.deep.equal([early1!, early2!, late!].map((op) => op.id.toLowerCase()));
    expect(warned("operation_no_outcome", late!.id)).to.equal(1);
  });

  it("raises an alert for a custody record minting too long and clears it once minted", async function () {
    const m = monitor();
    await custody.addPage([minting("bt_old", T0), minting("bt_new", T0 + 500_000)], "1");
    clock = T0 + 601_000;
    await m.checkOnce();
    await m.checkOnce();
    const alerts = m.report(10).alerts;
    expect(alerts.map((a) => [a.kind, a.id, a.sinceMs])).to.deep.equal([["custody_minting", "bt_old", T0]]);
    expect(alerts[0]?.operationId).to.match(/^0x[0-9a-f]{64}$/);
    expect(warned("custody_minting", "bt_old")).to.equal(1);
    expect(await gauge("settlenet_overdue_oldest_age_seconds", "custody_minting")).to.equal(601);

    await custody.update("bt_old", (r) => ({ ...r, status: "minted" }));
    await m.checkOnce();
    expect(m.report(10).alerts).to.deep.equal([]);
    expect(await gauge("settlenet_overdue_items", "custody_minting")).to.equal(0);
  });

  it("keeps its raised alerts across a restart of the store: not logged or counted again, cleared once the item moves on", async function () {
    const stays = release(T0);
    const moves = release(T0 + 1_000);
    await storage.operations.putAccepted([stays, moves]);
    clock = T0 + 70_000;
    await monitor().checkOnce();
    expect(warned("operation_not_relayed", stays.id)).to.equal(1);
    expect(warned("operation_not_relayed", moves.id)).to.equal(1);

    const restart = async () => {
      await storage.close();
      storage = await openStorage(join(dir, "db"));
      logs = [];
      metrics = new Registry();
      return monitor();
    };
    // A restart with both still waiting: both open, as raised before, with no new log or count.
    let m = await restart();
    clock = T0 + 80_000;
    await m.checkOnce();
    expect(m.report(10).alerts.map((a) => [a.id, a.raisedAtMs, a.ageSeconds])).to.deep.equal([
      [stays.id.toLowerCase(), T0 + 70_000, 80],
      [moves.id.toLowerCase(), T0 + 70_000, 79],
    ]);
    expect(logs.filter((l) => l.level === 40)).to.deep.equal([]);
    expect(await gauge("settlenet_overdue_alerts_raised_total", "operation_not_relayed")).to.equal(0);
    expect(await gauge("settlenet_overdue_items", "operation_not_relayed")).to.equal(2);

    // One moves on while the node is down: the next process clears it at its first check, and a later restart has only the other.
    await storage.operations.update(moves.id, { status: "executed" });
    m = await restart();
    await m.checkOnce();
    expect(m.report(10).alerts.map((a) => a.id)).to.deep.equal([stays.id.toLowerCase()]);
    expect(logs.filter((l) => l.msg === "money no longer overdue").map((l) => l.id)).to.deep.equal([moves.id.toLowerCase()]);
    m = await restart();
    await m.checkOnce();
    expect(m.report(10).alerts.map((a) => a.id)).to.deep.equal([stays.id.toLowerCase()]);
    expect(logs.filter((l) => l.level === 40 || l.msg === "money no longer overdue")).to.deep.equal([]);
    expect(await gauge("settlenet_overdue_alerts_raised_total", "operation_not_relayed")).to.equal(0);
  });
});
