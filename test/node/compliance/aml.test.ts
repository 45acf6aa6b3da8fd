import { expect } from "chai";
import { Registry } from "prom-client";

import type { AlertRecord } from "../../../node/compliance/alert.js";
import { AmlMonitor } from "../../../node/compliance/aml.js";
import { amlConfigSchema, type ComplianceConfigInput } from "../../../node/compliance/config.js";
import type { SettlenetError } from "../../../core/errors.js";
import { openStorage, type IndexedStep, type NodeStorage } from "../../../node/storage/db.js";
import { deployScenario, startChain, type LocalChain, type Scenario } from "../../helpers/chain.js";
import { DAY, indexedStorage, nextDayAt, pay, silent } from "./fixture.js";

type AmlInput = NonNullable<ComplianceConfigInput["aml"]>;

describe("AML monitoring of indexed payments", function () {
  this.timeout(90_000);

  let chain: LocalChain;
  let s: Scenario;
  const cleanups: (() => Promise<void>)[] = [];

  before(async function () {
    chain = await startChain();
    s = await deployScenario(chain, { payers: 12, merchants: 2 });
  });
  afterEach(async function () {
    while (cleanups.length > 0) await cleanups.pop()!();
  });
  after(async function () {
    await chain.close();
  });

  /** Indexes the chain into a fresh store and evaluates it with `rules`; returns the new alerts. */
  async function evaluate(rules: AmlInput): Promise<{ alerts: AlertRecord[]; monitor: AmlMonitor; storage: NodeStorage; run: () => Promise<AlertRecord[]> }> {
    const store = await indexedStorage(s);
    cleanups.push(store.cleanup);
    const monitor = new AmlMonitor({ rules: amlConfigSchema.parse(rules), reporter: s.institutions[0]!.address }, { storage: store.storage, logger: silent, metrics: new Registry() });
    const run = async () => {
      await store.indexer.syncOnce();
      return monitor.evaluateOnce();
    };
    return { alerts: await run(), monitor, storage: store.storage, run };
  }

  const about = (alerts: AlertRecord[], paymentId: string) => alerts.filter((a) => a.paymentIds.at(-1) === paymentId);

  it("raises LARGE_VALUE for a payment at the threshold and not for one minor unit below", async function () {
    const [below, at, above] = await pay(s, 0, [9_999n, 10_000n, 10_001n]);
    const { alerts } = await evaluate({ largeValue: { threshold: "10000" } });
    expect(about(alerts, below!)).to.deep.equal([]);
    const [alert] = about(alerts, at!);
    expect(alert).to.include({ rule: "LARGE_VALUE", category: "aml", amount: "10000", threshold: "10000", origin: "local" });
    expect(alert!.account).to.equal(s.payers[0]!.address);
    expect(alert!.reportedBy).to.deep.equal([s.institutions[0]!.address]);
    expect(about(alerts, above!).map((a) => a.rule)).to.deep.equal(["LARGE_VALUE"]);
  });

  it("raises PAYER_DAILY_TOTAL once when a payer's UTC-day total reaches the threshold, not one minor unit below", async function () {
    const day = await nextDayAt(s, 600);
    // Payer 1 stays one unit below; payer 2 reaches it exactly on its third payment, then pays more.
    await pay(s, 1, [10_000n, 19_999n], { at: day });
    const reaching = await pay(s, 2, [10_000n, 10_000n], { at: day + 1 });
    const [third, fourth] = await pay(s, 2, [10_000n, 5n], { at: day + 2 });
    // The next UTC day starts from zero again.
    const nextDay = await pay(s, 2, [29_999n], { at: day - 600 + DAY });
    const { alerts } = await evaluate({ payerDaily: { threshold: "30000" } });
    const mine = new Set([s.payers[1]!.address, s.payers[2]!.address]);
    const daily = alerts.filter((a) => a.rule === "PAYER_DAILY_TOTAL" && mine.has(a.account));
    expect(daily.map((a) => a.account)).to.deep.equal([s.payers[2]!.address]);
    expect(daily[0]).to.include({ amount: "30000", threshold: "30000" });
    expect(daily[0]!.paymentIds).to.deep.equal([...reaching, third]);
    expect(daily[0]!.facts).to.deep.include({ count: "3", day: new Date((day - 600) * 1000).toISOString().slice(0, 10) });
    expect(about(alerts, fourth!)).to.deep.equal([]);
    expect(about(alerts, nextDay[0]!)).to.deep.equal([]);
  });

  it("raises STRUCTURING on the count-th payment just under the threshold, counting the band's edges exactly", async function () {
    const t = await nextDayAt(s, 7_200);
    const rules: AmlInput = { structuring: { threshold: "10000", band: "1000", count: 3 } };
    // Payer 3: one payment one unit below the band, so only two count.
    await pay(s, 3, [8_999n, 9_000n, 9_999n], { at: t });
    // Payer 4: the threshold itself is not "just under".
    await pay(s, 4, [9_000n, 9_999n, 10_000n], { at: t + 1 });
    // Payer 5: the band's lower edge and the unit below the threshold both count; the third completes it.
    const [p1, p2] = await pay(s, 5, [9_000n, 9_999n], { at: t + 2 });
    const first = await evaluate(rules);
    expect(first.alerts).to.deep.equal([]);
    const [p3] = await pay(s, 5, [9_500n], { at: t + 3 });
    const alerts = await first.run();
    expect(alerts).to.have.length(1);
    expect(alerts[0]).to.include({ rule: "STRUCTURING", amount: "28499", threshold: "10000" });
    expect(alerts[0]!.account).to.equal(s.payers[5]!.address);
    expect(alerts[0]!.paymentIds).to.deep.equal([p1, p2, p3]);
    expect(alerts[0]!.facts).to.deep.include({ count: "3", lowerBound: "9000" });
  });

  it("counts STRUCTURING and VELOCITY windows as (t - window, t]: a payment exactly one window earlier is out", async function () {
    const t = await nextDayAt(s, 10_800);
    await pay(s, 6, [9_500n], { at: t });
    await pay(s, 6, [9_500n], { at: t + 1 });
    // Exactly one window after the first: it has left the window, so only two count.
    const [edge] = await pay(s, 6, [9_500n], { at: t + 3_600 });
    // One second later the second has left too; a window with the third and two fresh ones fires.
    const [late1, late2] = await pay(s, 6, [9_500n, 9_500n], { at: t + 3_601 });
    const rules: AmlInput = { structuring: { threshold: "10000", band: "1000", count: 3, windowSeconds: 3_600 }, velocity: { count: 3, windowSeconds: 3_600 } };
    const { alerts } = await evaluate(rules);
    const mine = alerts.filter((a) => a.account === s.payers[6]!.address);
    expect(mine.map((a) => [a.rule, a.paymentIds.at(-1)])).to.deep.equal([
      ["STRUCTURING", late2],
      ["VELOCITY", late2],
    ]);
    expect(mine[0]!.paymentIds).to.deep.equal([edge, late1, late2]);
  });

  it("raises VELOCITY on the count-th payment within the window and not on the one before", async function () {
    const t = await nextDayAt(s, 14_400);
    const [a, b] = await pay(s, 7, [100n, 100n], { at: t });
    const monitor = await evaluate({ velocity: { count: 3, windowSeconds: 600 } });
    expect(monitor.alerts.filter((x) => x.account === s.payers[7]!.address)).to.deep.equal([]);
    const [c] = await pay(s, 7, [100n], { at: t + 599 });
    const alerts = await monitor.run();
    expect(alerts.map((x) => x.rule)).to.deep.equal(["VELOCITY"]);
    expect(alerts[0]!.paymentIds).to.deep.equal([a, b, c]);
    expect(alerts[0]!.facts).to.deep.equal({ count: "3", windowSeconds: "600" });
  });

  it("raises BLACKLISTED_COUNTERPARTY for a payment to or from a listed account, once per party", async function () {
    const listedMerchant = s.merchants[1]!.address;
    const listedPayer = s.payers[8]!.address;
    const [clean] = await pay(s, 9, [100n], { merchantIndex: 0 });
    const [toListed] = await pay(s, 9, [100n], { merchantIndex: 1 });
    const [both] = await pay(s, 8, [100n], { merchantIndex: 1 });
    const { alerts } = await evaluate({ blacklist: [listedMerchant.toLowerCase(), listedPayer] });
    expect(about(alerts, clean!)).to.deep.equal([]);
    expect(about(alerts, toListed!).map((a) => [a.account, a.facts["role"]])).to.deep.equal([[listedMerchant, "merchant"]]);
    expect(about(alerts, both!).map((a) => [a.account, a.facts["role"]])).to.deep.equal([
      [listedPayer, "payer"],
      [listedMerchant, "merchant"],
    ]);
  });

  it("is deterministic and exactly-once: another store raises the same ids, a re-run or a reopened store raises nothing new", async function () {
    const rules: AmlInput = { largeValue: { threshold: "10000" }, velocity: { count: 2, windowSeconds: 600 }, structuring: { band: "1000", count: 2 } };
    await pay(s, 10, [9_500n, 10_000n]);
    const one = await evaluate(rules);
    const two = await evaluate(rules);
    expect(one.alerts.length).to.be.greaterThan(3);
    expect(two.alerts.map((a) => a.id)).to.deep.equal(one.alerts.map((a) => a.id));
    expect(await one.run()).to.deep.equal([]);

    const store = await indexedStorage(s);
    await store.indexer.syncOnce();
    const monitor = new AmlMonitor({ rules: amlConfigSchema.parse(rules) }, { storage: store.storage, logger: silent, metrics: new Registry() });
    const first = await monitor.evaluateOnce();
    await store.storage.close();
    const reopened = await openStorage(store.dir);
    cleanups.push(async () => {
      await reopened.close();
      await store.cleanup();
    });
    const again = new AmlMonitor({ rules: amlConfigSchema.parse(rules) }, { storage: reopened, logger: silent, metrics: new Registry() });
    expect(await again.evaluateOnce()).to.deep.equal([]);
    const listed = await reopened.alerts.list({ limit: 500 });
    expect(listed.items.map((a) => a.id).sort()).to.deep.equal(first.map((a) => a.id).sort());
  });

  it("reads each payer's history once per evaluation, and none when no rule looks back", async function () {
    const t = await nextDayAt(s, 21_600);
    await pay(s, 0, [100n, 100n, 100n], { at: t });
    for (const [rules, looksBack] of [
      [{ velocity: { count: 10, windowSeconds: 60 } }, true],
      [{ largeValue: { threshold: "10000" }, blacklist: [s.payers[0]!.address] }, false],
    ] as const) {
      const store = await indexedStorage(s);
      cleanups.push(store.cleanup);
      await store.indexer.syncOnce();
      const reads: string[] = [];
      const payments = store.storage.payments;
      const list = payments.listByPayer.bind(payments);
      payments.listByPayer = (payer, options) => {
        reads.push(payer.toLowerCase());
        return list(payer, options);
      };
      const monitor = new AmlMonitor({ rules: amlConfigSchema.parse(rules) }, { storage: store.storage, logger: silent, metrics: new Registry() });
      const alerts = await monitor.evaluateOnce();
      if (looksBack) {
        expect(reads).to.include(s.payers[0]!.address.toLowerCase());
        expect(reads).to.have.length(new Set(reads).size);
      } else {
        expect(reads).to.deep.equal([]);
        expect(alerts.filter((a) => a.rule === "BLACKLISTED_COUNTERPARTY")).to.have.length.greaterThan(2);
      }
    }
  });

  it("takes newly indexed payments from the indexer's steps, and reads them back after a step it did not see, raising the same alerts", async function () {
    const rules: AmlInput = { largeValue: { threshold: "10000" }, velocity: { count: 2, windowSeconds: 600 } };
    await pay(s, 4, [10_000n, 20_000n]);
    const readBack = (registry: Registry) => registry.getSingleMetric("settlenet_aml_payments_read_back_total")?.get().then((m) => m.values[0]?.value);
    const evaluated = (registry: Registry) => registry.getSingleMetric("settlenet_aml_payments_evaluated_total")?.get().then((m) => m.values[0]?.value);
    // Read back: the monitor hears of no step.
    const plain = await evaluate(rules);

    // Fed from a step of at most 2 blocks at a time, and from the first one on: nothing read back.
    const fedStore = await indexedStorage(s, { maxBlocksPerStep: 2 });
    cleanups.push(fedStore.cleanup);
    const fedMetrics = new Registry();
    const fed = new AmlMonitor({ rules: amlConfigSchema.parse(rules), reporter: s.institutions[0]!.address }, { storage: fedStore.storage, logger: silent, metrics: fedMetrics });
    // The last step's hand-over comes late (the index already holds it): the first evaluation stops
    // short of it, the next one takes it.
    const held: IndexedStep[] = [];
    fedStore.storage.onIndexed((step) => held.push(step));
    await fedStore.indexer.syncOnce();
    expect(held.length).to.be.greaterThan(2);
    for (const step of held.slice(0, -1)) fed.indexed(step);
    const early = await fed.evaluateOnce();
    fed.indexed(held.at(-1)!);
    const rest = await fed.evaluateOnce();
    expect(rest.length).to.be.greaterThan(0);
    expect([...early, ...rest].map((a) => a.id).sort()).to.deep.equal(plain.alerts.map((a) => a.id).sort());
    expect(await evaluated(fedMetrics)).to.be.greaterThan(2);
    expect(await readBack(fedMetrics)).to.equal(0);

    // Subscribed after the first steps: what it missed is read back, with the steps after them.
    const lateStore = await indexedStorage(s, { maxBlocksPerStep: 2 });
    cleanups.push(lateStore.cleanup);
    const lateMetrics = new Registry();
    const late = new AmlMonitor({ rules: amlConfigSchema.parse(rules), reporter: s.institutions[0]!.address }, { storage: lateStore.storage, logger: silent, metrics: lateMetrics });
    await lateStore.indexer.syncOnce();
    lateStore.storage.onIndexed((step) => late.indexed(step));
    const more = await pay(s, 4, [10_000n]);
    await lateStore.indexer.syncOnce();
    const afterGap = await late.evaluateOnce();
    expect(afterGap.map((a) => a.id)).to.include.members(plain.alerts.map((a) => a.id));
    expect(about(afterGap, more[0]!).map((a) => a.rule)).to.deep.equal(["LARGE_VALUE"]);
    expect(await readBack(lateMetrics)).to.equal(await evaluated(lateMetrics));

    // And the steps after that follow on from its cursor: nothing read back.
    const last = await pay(s, 4, [10_001n]);
    await lateStore.indexer.syncOnce();
    const next = await late.evaluateOnce();
    expect(about(next, last[0]!).map((a) => a.rule)).to.deep.equal(["LARGE_VALUE"]);
    expect(next.every((a) => a.paymentIds.at(-1) === last[0])).to.equal(true);
    expect(await evaluated(lateMetrics)).to.equal((await readBack(lateMetrics))! + 1);
  });

  it("lists alerts newest first with filters and a cursor, and records one acknowledgement", async function () {
    const t = await nextDayAt(s, 18_000);
    await pay(s, 11, [20_000n], { at: t });
    await pay(s, 11, [30_000n], { at: t + 10 });
    await pay(s, 11, [40_000n], { at: t + 20 });
    const { alerts, monitor, storage } = await evaluate({ largeValue: { threshold: "20000" }, velocity: { count: 3, windowSeconds: 60 } });
    expect(await monitor.evaluatedBlock()).to.equal(await chain.provider.getBlockNumber());
    const account = s.payers[11]!.address;
    const page1 = await storage.alerts.list({ limit: 2, account, rule: "LARGE_VALUE" });
    expect(page1.items.map((a) => a.amount)).to.deep.equal(["40000", "30000"]);
    const page2 = await storage.alerts.list({ limit: 2, account, rule: "LARGE_VALUE", cursor: page1.next! });
    expect(page2.items.map((a) => a.amount)).to.deep.equal(["20000"]);
    expect(page2.next).to.equal(undefined);

    const velocity = alerts.find((a) => a.rule === "VELOCITY" && a.account === account)!;
    const acked = await storage.alerts.acknowledge(velocity.id, { by: "officer-1", role: "operator", note: "customer called" }, 1_700_000_000_000);
    expect(acked.ack).to.deep.equal({ by: "officer-1", atMs: 1_700_000_000_000, note: "customer called" });
    const again = await storage.alerts.acknowledge(velocity.id, { by: "officer-2", role: "operator", note: "" }, 1).catch((e: unknown) => e);
    expect((again as SettlenetError).code).to.equal("ALERT_ALREADY_ACKNOWLEDGED");
    const missing = await storage.alerts.acknowledge(`0x${"ab".repeat(32)}`, { by: "x", role: "operator", note: "" }, 1).catch((e: unknown) => e);
    expect((missing as SettlenetError).code).to.equal("ALERT_NOT_FOUND");
    // The acknowledgement is in the audit log (once: refused attempts leave nothing), and the log verifies.
    const logged = (await storage.audit.list({ limit: 10 })).entries.filter((e) => e.action === "alert.acknowledge");
    expect(logged.map((e) => [e.actor, e.role, e.target])).to.deep.equal([["officer-1", "operator", velocity.id.toLowerCase()]]);
    expect((await storage.audit.verify()).ok).to.equal(true);
    expect((await storage.alerts.list({ limit: 10, account, status: "acknowledged" })).items.map((a) => a.id)).to.deep.equal([velocity.id]);
    expect((await storage.alerts.list({ limit: 10, account, status: "open" })).items).to.have.length(3);
    const bad = await storage.alerts.list({ limit: 10, cursor: "garbage" }).catch((e: unknown) => e);
    expect((bad as SettlenetError).code).to.equal("INVALID_CURSOR");
  });
});
