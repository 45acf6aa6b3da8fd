/**
 * PaymentService without HTTP: built straight from the gateway's parts (LevelDB in a temp dir, the
 * chain's registry, one institution node process, the change feed follower that keeps the orders
 * current) and called as the routes call it. What it stores, relays and refuses is checked on the
 * records, the node and the chain. The node's timeouts and its 503 with Retry-After (admission
 * control, which this branch's node does not have yet) are produced by an HTTP relay in front of
 * the real node.
 */
import { expect } from "chai";
import { TypedDataEncoder, Wallet, verifyTypedData, type HDNodeWallet } from "ethers";
import { pino } from "pino";
import { Registry } from "prom-client";

import { NodeApiClient } from "../../../core/api/client.js";
import { NodeBatcher, type NodeSubmitter } from "../../../gateway/adapters/node-batcher.js";
import { FeedFollower } from "../../../gateway/jobs/feed.js";
import { NodeRelay } from "../../helpers/node-relay.js";
import { orderDefaultsSchema } from "../../../gateway/config.js";
import { NodeRefusal } from "../../../gateway/domain/node-refusal.js";
import { PaymentService, type NewPaymentOrder } from "../../../gateway/domain/payments.js";
import type { MerchantRecord, OrderRecord } from "../../../gateway/domain/records.js";
import { refusalOf } from "../../helpers/errors.js";
import { launchNetwork, waitFor, waitForOperation, type NodeHandle, type TestNetwork } from "../../helpers/network.js";
import { NO_NODE, gatewayStore, nodeAndChain, type GatewayStore } from "../parts.js";

describe("gateway domain: PaymentService on real storage, chain and node (no HTTP)", function () {
  this.timeout(180_000);
  let net: TestNetwork;
  let node: NodeHandle;
  let store: GatewayStore;
  let parts: ReturnType<typeof nodeAndChain>;
  let payments: PaymentService;
  let merchant: MerchantRecord;
  let payer: Wallet | HDNodeWallet;
  let other: Wallet | HDNodeWallet;
  let follower: FeedFollower;
  let relay: NodeRelay;

  before(async function () {
    net = await launchNetwork({ institutions: 1, regulator: false, merchants: 1, payers: 2 });
    node = net.nodes[0] as NodeHandle;
    store = await gatewayStore(net.scenario);
    parts = nodeAndChain(net.scenario, node.apiUrl);
    payments = service(parts.node);
    follower = new FeedFollower(
      { waitMs: 0, pageSize: 500, dropAfterSeconds: 60 },
      { storage: store.storage, node: parts.node, logger: silent, metrics: new Registry(), now: Date.now },
    );
    merchant = await store.merchant(0);
    [payer, other] = net.scenario.payers as [Wallet, Wallet];
    relay = new NodeRelay(node.apiUrl);
    await relay.start();
  });

  after(async function () {
    await relay?.stop();
    await parts?.close();
    await store?.close();
    await net?.stop();
  });

  const silent = pino({ level: "silent" });
  /** A PaymentService on the shared storage submitting through `submitter` (the node client itself by default). */
  const service = (node: NodeApiClient, submitter?: NodeSubmitter) =>
    new PaymentService(
      { deployment: net.scenario.deployment, orders: orderDefaultsSchema.parse({}) },
      { storage: store.storage, secrets: store.secrets, node, ...(submitter ? { submitter } : {}), chain: parts.chain, logger: silent },
    );

  const newOrder = (merchantOrderId: string, overrides: Partial<NewPaymentOrder> = {}): NewPaymentOrder => ({
    amount: "10000",
    currency: "CNY",
    merchantOrderId,
    mode: "escrow",
    payer: payer.address,
    ...overrides,
  });

  async function signed(order: OrderRecord, signer: Wallet | HDNodeWallet = payer): Promise<string> {
    const { domain, types, message } = payments.typedData(order);
    return signer.signTypedData(domain, types, message);
  }

  /** The order as PaymentService reads it once the feed brought `status`. */
  const until = (order: OrderRecord, status: string) =>
    waitFor(`${order.merchantOrderId} to be ${status}`, async () => {
      const stored = await current(order);
      return stored.status === status ? stored : undefined;
    }, 60_000, 250);

  /** The stored order once the feed follower has applied every change the node has made. */
  const current = async (order: OrderRecord) => {
    await follower.catchUp();
    return (await payments.get(merchant, order.id)).order;
  };

  const eventsOf = async (order: OrderRecord) =>
    (await store.storage.webhooks.listEvents(merchant.id, { limit: 100 })).items.filter((e) => e.data["id"] === order.id).map((e) => e.type).reverse();

  it("creates an order with the merchant's registered fee whose typed data is the payment id, once per merchantOrderId", async function () {
    const { created, order } = await payments.create(merchant, newOrder("dom-1"));
    expect(created).to.equal(true);
    expect([order.status, order.terms.feeBps, order.terms.merchant, order.terms.payer]).to.deep.equal(["awaiting_authorization", 100, merchant.address, payer.address]);
    const { domain, types, message } = payments.typedData(order);
    expect(TypedDataEncoder.hash(domain, types, message)).to.equal(order.paymentId);
    expect(verifyTypedData(domain, types, message, await signed(order))).to.equal(payer.address);
    expect(await store.storage.orders.get(order.id)).to.deep.equal(order);

    const again = await payments.create(merchant, newOrder("dom-1"));
    expect([again.created, again.order.id]).to.deep.equal([false, order.id]);
    expect((await refusalOf(payments.create(merchant, newOrder("dom-1", { amount: "1" })))).code).to.equal("MERCHANT_ORDER_ID_CONFLICT");
    expect((await refusalOf(payments.create(merchant, newOrder("dom-2", { currency: "USD" })))).code).to.equal("UNSUPPORTED_CURRENCY");
    expect((await refusalOf(payments.create(merchant, newOrder("dom-3", { amount: (1n << 96n).toString() })))).code).to.equal("AMOUNT_TOO_LARGE");
    const unregistered = { ...merchant, id: "ghost", address: Wallet.createRandom().address };
    expect((await refusalOf(payments.create(unregistered, newOrder("dom-4")))).code).to.equal("MERCHANT_NOT_REGISTERED");
    expect((await store.storage.orders.list(merchant.id, { limit: 10 })).items.map((o) => o.id)).to.deep.equal([order.id]);
  });

  it("passes the node's refusal on with the node's code and status, and records it on the order", async function () {
    const { order } = await payments.create(merchant, newOrder("dom-forged"));
    const error = await refusalOf(payments.authorize(merchant, order.id, await signed(order, other)));
    expect(error).to.be.instanceOf(NodeRefusal);
    expect([error.code, (error as NodeRefusal).status, error.meta["upstream"]]).to.deep.equal(["BAD_SIGNATURE", 422, "node"]);
    const stored = await store.storage.orders.get(order.id);
    expect([stored?.status, stored?.lastError?.code, stored?.authorization]).to.deep.equal(["awaiting_authorization", "BAD_SIGNATURE", undefined]);
    const cancelled = await payments.cancel(merchant, order.id, "customer left");
    expect([cancelled.status, cancelled.cancelReason]).to.deep.equal(["cancelled", "customer left"]);
    expect((await refusalOf(payments.authorize(merchant, order.id, await signed(order)))).code).to.equal("INVALID_PAYMENT_STATUS");
  });

  it("relays the payer's authorization, follows the chain to held (payment.held), fulfils and partly refunds with the merchant's key", async function () {
    const { order } = await payments.create(merchant, newOrder("dom-paid"));
    const signature = await signed(order);
    const authorized = await payments.authorize(merchant, order.id, signature);
    expect([authorized.status, authorized.authorization?.status, authorized.authorization?.operationId]).to.deep.equal(["processing", "pending", order.paymentId]);
    // The same signature again is the same authorization; another one is refused.
    expect((await payments.authorize(merchant, order.id, signature)).authorization?.submittedAtMs).to.equal(authorized.authorization?.submittedAtMs);
    expect((await refusalOf(payments.authorize(merchant, order.id, await signed(order, other)))).code).to.equal("ALREADY_AUTHORIZED");

    const held = await until(order, "held");
    expect(held.authorization?.status).to.equal("executed");
    // Where the chain executed it, as the node recorded it.
    const [pay] = await waitForOperation([node], order.paymentId, "executed");
    expect(held.authorization?.execution).to.deep.equal({ txHash: pay?.execution?.txHash, blockNumber: pay?.execution?.blockNumber, timestamp: pay?.execution?.timestamp });
    expect((await net.scenario.contracts.escrow.paymentOf(order.paymentId)).status).to.equal(1n);
    expect(await eventsOf(order)).to.deep.equal(["payment.held"]);
    expect((await refusalOf(payments.cancel(merchant, order.id))).code).to.equal("INVALID_PAYMENT_STATUS");

    const fulfilled = await payments.fulfil(merchant, order.id);
    expect(fulfilled.fulfilment?.status).to.equal("pending");
    await waitForOperation([node], fulfilled.fulfilment?.operationId ?? "", "executed", 60_000);
    await until(order, "fulfilled");

    const tooMuch = await refusalOf(payments.refund(merchant, order.id, { amount: "10001", reason: "too much" }));
    expect([tooMuch.code, tooMuch.meta["available"]]).to.deep.equal(["REFUND_EXCEEDS_AVAILABLE", "10000"]);
    const { refund } = await payments.refund(merchant, order.id, { amount: "2500", reason: "one item out of stock" });
    expect([refund.amount, refund.status]).to.deep.equal(["2500", "pending"]);
    // A pending refund counts against what is left.
    expect((await refusalOf(payments.refund(merchant, order.id, { amount: "7501", reason: "rest" }))).meta["available"]).to.equal("7500");
    await waitForOperation([node], refund.operationId, "executed", 60_000);
    const refunded = await waitFor("the refund on-chain", async () => {
      const stored = await current(order);
      return stored.onChain?.refunded === "2500" ? stored : undefined;
    }, 60_000, 250);
    expect(refunded.refunds.map((r) => r.status)).to.deep.equal(["executed"]);
    const [refundOp] = await waitForOperation([node], refund.operationId, "executed");
    expect(refunded.refunds[0]?.execution?.txHash).to.equal(refundOp?.execution?.txHash);
    expect((await net.scenario.contracts.escrow.paymentOf(order.paymentId)).refunded).to.equal(2_500n);
    expect(await eventsOf(order)).to.deep.equal(["payment.held", "payment.refunded"]);
  });

  it("submits concurrent authorizations to the node in one request and answers each caller with its own item's result", async function () {
    const viaRelay = new NodeApiClient({ baseUrl: relay.url, timeoutMs: 10_000 });
    // The group is sent when its fourth operation arrives: its window is far longer than the test.
    const grouped = service(viaRelay, new NodeBatcher({ windowMs: 600_000, maxOperations: 4 }, { node: viaRelay, logger: silent }));
    const orders = await Promise.all(["dom-group-1", "dom-group-2", "dom-group-3", "dom-group-4"].map(async (id) => (await payments.create(merchant, newOrder(id))).order));
    const signatures = await Promise.all(orders.map((order, i) => signed(order, i === 2 ? other : payer)));
    const before = relay.submissions.length;
    const outcomes = await Promise.allSettled(orders.map((order, i) => grouped.authorize(merchant, order.id, signatures[i] ?? "")));
    expect(relay.submissions.slice(before)).to.deep.equal([4]);
    expect(outcomes.map((o) => (o.status === "fulfilled" ? o.value.status : (o.reason as NodeRefusal).code))).to.deep.equal(["processing", "processing", "BAD_SIGNATURE", "processing"]);
    for (const [i, order] of orders.entries()) if (i !== 2) await until(order, "held");
  });

  it("records an authorization the node took without answering as pending (processing, never failed), and the feed settles it", async function () {
    const viaRelay = new NodeApiClient({ baseUrl: relay.url, timeoutMs: 500 });
    const slow = service(viaRelay, new NodeBatcher({ windowMs: 1, maxOperations: 100 }, { node: viaRelay, logger: silent }));
    const { order } = await payments.create(merchant, newOrder("dom-timeout"));
    relay.submissionMode = "withhold";
    try {
      const authorized = await slow.authorize(merchant, order.id, await signed(order));
      expect([authorized.status, authorized.authorization?.status, authorized.lastError]).to.deep.equal(["processing", "pending", undefined]);
      expect(relay.withheld.at(-1)?.status).to.equal(202);
    } finally {
      relay.submissionMode = "pass";
    }
    const held = await until(order, "held");
    expect(held.authorization?.status).to.equal("executed");
    expect(await eventsOf(order)).to.deep.equal(["payment.held"]);
  });

  it("passes a node's 503 with Retry-After on as a retryable refusal, storing nothing; the same request then goes through", async function () {
    const viaRelay = new NodeApiClient({ baseUrl: relay.url, timeoutMs: 10_000 });
    const busy = service(viaRelay, new NodeBatcher({ windowMs: 1, maxOperations: 100 }, { node: viaRelay, logger: silent }));
    const { order } = await payments.create(merchant, newOrder("dom-busy"));
    const signature = await signed(order);
    relay.submissionMode = "busy";
    let refusal: NodeRefusal;
    try {
      refusal = (await refusalOf(busy.authorize(merchant, order.id, signature))) as NodeRefusal;
    } finally {
      relay.submissionMode = "pass";
    }
    expect(refusal).to.be.instanceOf(NodeRefusal);
    expect([refusal.status, refusal.code, refusal.retryAfterSeconds, refusal.meta["retryable"]]).to.deep.equal([503, "RELAY_BACKLOG", 2, true]);
    expect(await store.storage.orders.get(order.id)).to.deep.equal(order);
    expect(await parts.node.operation(order.paymentId)).to.equal(undefined);
    expect((await busy.authorize(merchant, order.id, signature)).status).to.equal("processing");
    await until(order, "held");
  });

  it("answers with the stored order without asking the node, and never shows another merchant's order", async function () {
    const offline = new PaymentService(
      { deployment: net.scenario.deployment, orders: orderDefaultsSchema.parse({}) },
      { storage: store.storage, secrets: store.secrets, node: new NodeApiClient({ baseUrl: NO_NODE, timeoutMs: 5_000 }), chain: parts.chain, logger: pino({ level: "silent" }) },
    );
    const [order] = (await store.storage.orders.list(merchant.id, { limit: 1 })).items;
    if (!order) throw new Error("no order");
    const answer = await offline.get(merchant, order.id);
    expect(answer.order).to.deep.equal(await store.storage.orders.get(order.id));
    const stranger = { ...merchant, id: "merchant-x" };
    expect((await refusalOf(payments.get(stranger, order.id))).code).to.equal("PAYMENT_NOT_FOUND");
    expect((await refusalOf(payments.refund(stranger, order.id, { amount: "1", reason: "x" }))).code).to.equal("PAYMENT_NOT_FOUND");
  });
});
