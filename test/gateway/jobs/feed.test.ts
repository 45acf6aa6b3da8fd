/**
 * The gateway following its node's change feed, with the reconciler behind it, on real parts (one
 * institution node process, the chain, the gateway's LevelDB): the follower resumes exactly after the
 * last change it applied (events once), a cursor the node cannot continue from leads to one full
 * pass of the reconciler, and the reconciler looks only at orders the feed has not explained, once per
 * run, submitting again an authorization the node never received. The node is reached through an HTTP
 * relay that can lose a submission (the gateway hears nothing and the node never sees it).
 */
import { expect } from "chai";
import type { HDNodeWallet, Wallet } from "ethers";
import { pino } from "pino";
import { Registry } from "prom-client";

import { NodeApiClient } from "../../../core/api/client.js";
import { NodeBatcher } from "../../../gateway/adapters/node-batcher.js";
import { orderDefaultsSchema } from "../../../gateway/config.js";
import { CHECK_PENDING_AFTER_MS } from "../../../gateway/domain/orders.js";
import { PaymentService, type NewPaymentOrder } from "../../../gateway/domain/payments.js";
import type { MerchantRecord, OrderRecord } from "../../../gateway/domain/records.js";
import { FEED_CURSOR_META, FULL_PASS_META, FeedFollower, type FullPassMeta } from "../../../gateway/jobs/feed.js";
import { Reconciler } from "../../../gateway/jobs/reconciler.js";
import { launchNetwork, waitFor, type NodeHandle, type TestNetwork } from "../../helpers/network.js";
import { NodeRelay } from "../../helpers/node-relay.js";
import { gatewayStore, nodeAndChain, type GatewayStore } from "../parts.js";

describe("gateway: following the node's change feed, and the reconciler behind it (real node and chain)", function () {
  this.timeout(180_000);
  const silent = pino({ level: "silent" });
  let net: TestNetwork;
  let node: NodeHandle;
  let store: GatewayStore;
  let parts: ReturnType<typeof nodeAndChain>;
  let relay: NodeRelay;
  let payments: PaymentService;
  let merchant: MerchantRecord;
  let payer: Wallet | HDNodeWallet;
  /** The gateway's clock as the reconciler sees it (moved forward to make checks due). */
  let offsetMs = 0;
  const now = () => Date.now() + offsetMs;

  before(async function () {
    net = await launchNetwork({ institutions: 1, regulator: false, merchants: 1, payers: 1 });
    node = net.nodes[0] as NodeHandle;
    store = await gatewayStore(net.scenario);
    parts = nodeAndChain(net.scenario, node.apiUrl);
    relay = new NodeRelay(node.apiUrl);
    await relay.start();
    const viaRelay = new NodeApiClient({ baseUrl: relay.url, timeoutMs: 500 });
    payments = new PaymentService(
      { deployment: net.scenario.deployment, orders: orderDefaultsSchema.parse({}) },
      { storage: store.storage, secrets: store.secrets, node: viaRelay, submitter: new NodeBatcher({ windowMs: 1, maxOperations: 100 }, { node: viaRelay, logger: silent }), chain: parts.chain, logger: silent },
    );
    merchant = await store.merchant(0);
    [payer] = net.scenario.payers as [Wallet];
  });

  after(async function () {
    await relay?.stop();
    await parts?.close();
    await store?.close();
    await net?.stop();
  });

  const follower = () =>
    new FeedFollower({ waitMs: 0, pageSize: 2, dropAfterSeconds: 60 }, { storage: store.storage, node: parts.node, logger: silent, metrics: new Registry(), now: Date.now });
  const reconciler = () =>
    new Reconciler({ intervalMs: 0, dropAfterSeconds: 60, expiredGraceSeconds: 3_600 }, { storage: store.storage, node: parts.node, logger: silent, metrics: new Registry(), now });

  const newOrder = (merchantOrderId: string): NewPaymentOrder => ({ amount: "10000", currency: "CNY", merchantOrderId, mode: "escrow", payer: payer.address });
  async function authorized(merchantOrderId: string): Promise<OrderRecord> {
    const { order } = await payments.create(merchant, newOrder(merchantOrderId));
    const { domain, types, message } = payments.typedData(order);
    return payments.authorize(merchant, order.id, await payer.signTypedData(domain, types, message));
  }
  const eventsOf = async (order: OrderRecord) =>
    (await store.storage.webhooks.listEvents(merchant.id, { limit: 100 })).items.filter((e) => e.data["id"] === order.id).map((e) => e.type);
  const heldVia = (f: FeedFollower, order: OrderRecord) =>
    waitFor(`${order.merchantOrderId} held`, async () => {
      await f.catchUp();
      const stored = await store.storage.orders.get(order.id);
      return stored?.status === "held" ? stored : undefined;
    }, 60_000, 250);

  it("applies each page with its cursor and resumes after the last change applied: nothing lost, nothing twice", async function () {
    const first = follower();
    await first.catchUp();
    const order = await authorized("feed-1");
    // The first follower applies what the node has recorded so far (the pay accepted), then stops (a crash)...
    await first.catchUp();
    const cursor = await store.storage.getMeta<string>(FEED_CURSOR_META);
    expect(cursor).to.match(/^[0-9a-f]{16}-[1-9][0-9]*$/);
    // ...and a new follower on the same storage continues from the stored cursor, in pages of two.
    const second = follower();
    const held = await heldVia(second, order);
    expect([held.authorization?.status, held.checkAtMs]).to.deep.equal(["executed", undefined]);
    // Re-reading from an older cursor applies nothing twice: statuses never move back, events are not repeated.
    await store.storage.putMeta(FEED_CURSOR_META, `${(cursor ?? "").split("-")[0]}-0`);
    await follower().catchUp();
    expect(await eventsOf(order)).to.deep.equal(["payment.held"]);
    expect((await store.storage.orders.get(order.id))?.status).to.equal("held");
  });

  it("after a page that was not full lets changes gather before asking again, and stopping ends the wait", async function () {
    const metrics = new Registry();
    // A gathering far longer than this test: whatever the node records after the first page waits for the next request.
    const running = new FeedFollower({ waitMs: 10_000, pageSize: 500, gatherMs: 600_000, dropAfterSeconds: 60 }, { storage: store.storage, node: parts.node, logger: silent, metrics, now: Date.now });
    const pages = async () => (await metrics.getSingleMetric("gateway_feed_pages_total")?.get())?.values[0]?.value ?? 0;
    await authorized("feed-gather-1");
    running.start();
    try {
      await waitFor("the first page", async () => (await pages()) >= 1);
      const applied = await pages();
      const second = await authorized("feed-gather-2");
      await waitFor("the second order held at the node", async () => (await parts.node.payment(second.paymentId))?.payment?.status === "held");
      expect((await store.storage.orders.get(second.id))?.status).to.equal("processing");
      expect(await pages()).to.equal(applied);
    } finally {
      await running.stop();
    }
    // What gathered comes with the next request.
    await follower().catchUp();
    for (const id of ["feed-gather-1", "feed-gather-2"]) expect((await store.storage.orders.getByMerchantOrderId(merchant.id, id))?.status, id).to.equal("held");
  });

  it("continues from the newest change after a cursor the node cannot continue from, and the reconciler then compares every open order created before once", async function () {
    await store.storage.putMeta(FEED_CURSOR_META, `${"0".repeat(16)}-5`);
    const before = Date.now();
    await follower().catchUp();
    const owed = await store.storage.getMeta<FullPassMeta>(FULL_PASS_META);
    expect(owed).to.have.property("createdBeforeMs").within(before, Date.now());
    expect(await store.storage.getMeta<string>(FEED_CURSOR_META)).to.not.equal(`${"0".repeat(16)}-5`);
    const open = (await store.storage.orders.list(merchant.id, { limit: 100 })).items.filter((o) => o.status === "held").length;
    // An order created after the follower continued has all its changes in the feed: not compared.
    const later = (await payments.create(merchant, newOrder("feed-after-restart"))).order;
    expect(later.createdAtMs).to.be.greaterThan((owed as { createdBeforeMs: number }).createdBeforeMs);
    const pass = await reconciler().runOnce();
    expect([pass.complete, pass.checked]).to.deep.equal([true, open]);
    expect(await store.storage.getMeta(FULL_PASS_META)).to.equal(false);
    // Done: the next run has nothing to look at.
    expect((await reconciler().runOnce()).checked).to.equal(0);
  });

  it("compares only the orders the feed has not explained, once per run, and submits again an authorization the node never received", async function () {
    const f = follower();
    const explained = await authorized("feed-2");
    relay.submissionMode = "lose";
    let lost: OrderRecord;
    try {
      lost = await authorized("feed-3");
    } finally {
      relay.submissionMode = "pass";
    }
    expect([lost.status, lost.authorization?.status]).to.deep.equal(["processing", "pending"]);
    expect(await parts.node.operation(lost.paymentId)).to.equal(undefined);
    await heldVia(f, explained);

    // Not due yet: nothing to compare.
    expect((await reconciler().runOnce()).checked).to.equal(0);
    // Once due, only the order the feed has not explained is compared; its pay is submitted again.
    offsetMs = CHECK_PENDING_AFTER_MS + 1_000;
    try {
      const run = await reconciler().runOnce();
      expect(run.checked).to.equal(1);
      expect((await parts.node.operation(lost.paymentId))?.kind).to.equal("pay");
      // Compared in this run: the next comparison waits, so a second run does not look at it again.
      expect((await reconciler().runOnce()).checked).to.equal(0);
    } finally {
      offsetMs = 0;
    }
    const held = await heldVia(f, lost);
    expect([held.authorization?.status, held.checkAtMs]).to.deep.equal(["executed", undefined]);
    expect(await eventsOf(lost)).to.deep.equal(["payment.held"]);
  });
});
