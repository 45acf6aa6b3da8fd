/**
 * Webhooks and the merchant event log on real parts: a gateway app (LevelDB in a temp dir) in front
 * of a real institution node process and chain, and a real receiver on 127.0.0.1 that verifies every
 * delivery with its own implementation of the Standard Webhooks specification.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer as createHttpServer } from "node:http";
import { createServer as createTcpServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { expect } from "chai";
import { pino } from "pino";
import { Registry } from "prom-client";

import { parseGatewayConfig, webhookConfigSchema } from "../../../gateway/config.js";
import { EVENT_TYPES } from "../../../gateway/domain/events.js";
import { SecretBox } from "../../../gateway/domain/secrets.js";
import { webhookSecretContext } from "../../../gateway/domain/webhooks.js";
import { backoffDelayMs, signWebhook, WebhookDispatcher } from "../../../gateway/jobs/webhooks.js";
import { openGatewayStorage, type GatewayStorage } from "../../../gateway/storage/db.js";
import type { EventRecord } from "../../../gateway/domain/events.js";
import type { OrderRecord } from "../../../gateway/domain/records.js";
import type { SettlenetError } from "../../../core/errors.js";
import { paymentTermsSchema } from "../../../core/operations/index.js";
import { launchNetwork, postJson, waitFor, type TestNetwork } from "../../helpers/network.js";
import { signedConfirm } from "../../helpers/operations.js";
import { gatewayFixture, paymentBody, signedInject, type GatewayFixture, type TestMerchant } from "../fixture.js";
import { WebhookReceiver, verifyStandardWebhook } from "../../../scripts/lib/webhook-receiver.js";

interface View {
  id: string;
  status: string;
  paymentId: string;
  typedData: { domain: Record<string, unknown>; types: Record<string, { name: string; type: string }[]>; message: Record<string, unknown> } | null;
}
interface EndpointView {
  id: string;
  url: string;
  status: string;
  eventTypes: string[];
  secret?: string;
}
interface EventView {
  id: string;
  type: string;
  data: { id: string; status: string; refundedAmount: string; refund?: { amount: string } };
}
interface DeliveryView {
  eventId: string;
  status: string;
  attemptCount: number;
  attempts: { statusCode: number | null; error: string | null; succeeded: boolean }[];
}
interface List<T> {
  items: T[];
  nextCursor: string | null;
}

describe("gateway: webhooks, the event log and the dropped-order reconciler", function () {
  this.timeout(180_000);
  let net: TestNetwork;
  let gw: GatewayFixture;
  let a: TestMerchant;
  let b: TestMerchant;
  let offsetMs = 0;
  const receiver = new WebhookReceiver();
  let endpoint: EndpointView & { secret: string };
  let orderSeq = 0;
  // Host names only this test's resolver knows; "rebind.test" answers a public address once, then loopback.
  let rebindAnswers = 0;
  const resolve = async (host: string) => {
    if (host === "hooks.test") return [{ address: "127.0.0.1", family: 4 as const }];
    if (host === "private.test") return [{ address: "8.8.8.8", family: 4 as const }, { address: "10.1.2.3", family: 4 as const }];
    if (host === "rebind.test") return [{ address: (rebindAnswers++ === 0 ? "8.8.8.8" : "127.0.0.1"), family: 4 as const }];
    const { systemResolver } = await import("../../../gateway/domain/webhook-target.js");
    return systemResolver(host);
  };
  // Mutated before a restart to run with the development flag off.
  const webhookOptions = { initialDelayMs: 200, backoffFactor: 2, maxDelayMs: 1_000, pollIntervalMs: 100, requireHttps: false, maxEndpointsPerMerchant: 3, allowLoopback: true };

  before(async function () {
    net = await launchNetwork({ institutions: 1, regulator: false, merchants: 2, payers: 2 });
    const node = net.nodes[0];
    if (!node) throw new Error("no node");
    gw = await gatewayFixture({
      scenario: net.scenario,
      nodeUrl: node.apiUrl,
      now: () => Date.now() + offsetMs,
      app: {
        webhooks: webhookOptions,
        reconcile: { intervalMs: 300, dropAfterSeconds: 60 },
      },
      resolve,
    });
    [a, b] = gw.merchants as [TestMerchant, TestMerchant];
    await receiver.start();
  });

  after(async function () {
    await receiver.stop();
    await gw?.close();
    await net?.stop();
  });

  const inject = <T>(merchant: TestMerchant, method: "GET" | "POST" | "DELETE", path: string, body?: unknown) => signedInject<T>(gw.app, merchant, method, path, body);

  /** Creates an order for payer `payerIndex` and has the payer authorise it. */
  async function payOrder(merchant: TestMerchant, payerIndex = 0): Promise<View & { terms: Record<string, unknown> }> {
    const payer = net.scenario.payers[payerIndex];
    if (!payer) throw new Error("no payer");
    orderSeq += 1;
    const created = await inject<View>(merchant, "POST", "/v1/payments", paymentBody(payer.address, `wh-${orderSeq}-${randomBytes(3).toString("hex")}`));
    expect(created.status).to.equal(201);
    const typedData = created.body.typedData;
    if (!typedData) throw new Error("no typed data");
    const signature = await payer.signTypedData(typedData.domain, typedData.types, typedData.message);
    const authorized = await inject<View>(merchant, "POST", `/v1/payments/${created.body.id}/authorization`, { signature });
    expect(authorized.status).to.equal(202);
    return { ...created.body, terms: typedData.message };
  }

  const eventFor = (type: string, paymentId: string) => receiver.ofType(type).find((w) => w.payload.data["id"] === paymentId);
  const waitForWebhook = (type: string, paymentId: string, timeoutMs = 40_000) => waitFor(`${type} for ${paymentId}`, () => eventFor(type, paymentId), timeoutMs, 100);

  it("registers an endpoint, shows its whsec_ secret once and stores it only sealed", async function () {
    const created = await inject<EndpointView & { secret: string }>(a, "POST", "/v1/webhook-endpoints", { url: receiver.url, description: "shop backend" });
    expect(created.status).to.equal(201);
    expect(created.body.id).to.match(/^we_[0-9a-f]{24}$/);
    expect(created.body.secret).to.match(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(created.body.secret.slice(6), "base64")).to.have.length(32);
    expect(created.body.eventTypes).to.deep.equal([...EVENT_TYPES]);
    expect(created.body.status).to.equal("active");
    endpoint = created.body;
    receiver.secret = endpoint.secret;

    const listed = await inject<List<EndpointView>>(a, "GET", "/v1/webhook-endpoints");
    expect(listed.body.items.map((e) => e.id)).to.deep.equal([endpoint.id]);
    expect(listed.body.items[0]).to.not.have.property("secret");
    const one = await inject<EndpointView>(a, "GET", `/v1/webhook-endpoints/${endpoint.id}`);
    expect(one.body).to.not.have.property("secret");
    expect(one.body.url).to.equal(receiver.url);

    const stored = await gw.storage.webhooks.getEndpoint(endpoint.id);
    expect(JSON.stringify(stored)).to.not.include(endpoint.secret.slice(6));
    expect(gw.secrets.open(stored?.secret ?? { v: 1, iv: "", tag: "", data: "" }, `webhookEndpoint:${endpoint.id}`)).to.equal(endpoint.secret);
  });

  it("refuses bad input to the webhook and event routes with codes, and changes nothing", async function () {
    const cases: [string, "GET" | "POST" | "DELETE", string, unknown, number, string][] = [
      ["ftp URL", "POST", "/v1/webhook-endpoints", { url: "ftp://127.0.0.1/x" }, 400, "MALFORMED"],
      ["not a URL", "POST", "/v1/webhook-endpoints", { url: "hooks" }, 400, "MALFORMED"],
      ["credentials in the URL", "POST", "/v1/webhook-endpoints", { url: "http://user:pw@127.0.0.1/x" }, 422, "WEBHOOK_URL_INVALID"],
      ["unknown event type", "POST", "/v1/webhook-endpoints", { url: receiver.url, eventTypes: ["payment.lost"] }, 400, "MALFORMED"],
      ["no event types", "POST", "/v1/webhook-endpoints", { url: receiver.url, eventTypes: [] }, 400, "MALFORMED"],
      ["unknown field", "POST", "/v1/webhook-endpoints", { url: receiver.url, secret: "whsec_mine" }, 400, "MALFORMED"],
      ["malformed endpoint id", "GET", "/v1/webhook-endpoints/we_zz", undefined, 400, "MALFORMED"],
      ["unknown endpoint", "GET", `/v1/webhook-endpoints/we_${"0".repeat(24)}`, undefined, 404, "WEBHOOK_ENDPOINT_NOT_FOUND"],
      ["another merchant's endpoint", "GET", `/v1/webhook-endpoints/${endpoint.id}`, undefined, 404, "WEBHOOK_ENDPOINT_NOT_FOUND"],
      ["another merchant's deliveries", "GET", `/v1/webhook-endpoints/${endpoint.id}/deliveries`, undefined, 404, "WEBHOOK_ENDPOINT_NOT_FOUND"],
      ["deleting another merchant's endpoint", "DELETE", `/v1/webhook-endpoints/${endpoint.id}`, undefined, 404, "WEBHOOK_ENDPOINT_NOT_FOUND"],
      ["limit over 100", "GET", "/v1/events?limit=101", undefined, 400, "MALFORMED"],
      ["a cursor of another listing", "GET", `/v1/events?cursor=${Buffer.from("x!y").toString("base64url")}`, undefined, 400, "MALFORMED"],
      ["malformed event id", "GET", "/v1/events/evt_1", undefined, 400, "MALFORMED"],
      ["unknown event", "POST", `/v1/events/evt_${"0".repeat(32)}/redeliver`, {}, 404, "EVENT_NOT_FOUND"],
      ["redeliver with an unknown field", "POST", `/v1/events/evt_${"0".repeat(32)}/redeliver`, { to: "x" }, 400, "MALFORMED"],
    ];
    for (const [what, method, path, body, status, code] of cases) {
      // Merchant b for the cross-merchant cases, which must look exactly like unknown ids.
      const res = await inject<{ code: string }>(what.startsWith("another") || what.startsWith("deleting") ? b : a, method, path, body);
      expect(res.status, `${what}: ${JSON.stringify(res.body)}`).to.equal(status);
      expect(res.body.code, what).to.equal(code);
    }
    // b may have 3 endpoints; the 4th is refused.
    for (let i = 0; i < 3; i += 1) expect((await inject(b, "POST", "/v1/webhook-endpoints", { url: `${receiver.url}/b${i}`, eventTypes: ["payout.paid"] })).status).to.equal(201);
    const fourth = await inject<{ code: string }>(b, "POST", "/v1/webhook-endpoints", { url: `${receiver.url}/b4` });
    expect(fourth.status).to.equal(409);
    expect(fourth.body.code).to.equal("WEBHOOK_ENDPOINT_LIMIT");
    expect((await gw.storage.webhooks.listEndpoints(b.id)).length).to.equal(3);
    expect((await gw.storage.webhooks.listEndpoints(a.id)).map((e) => e.id)).to.deep.equal([endpoint.id]);
    for (const e of await gw.storage.webhooks.listEndpoints(b.id)) expect((await inject(b, "DELETE", `/v1/webhook-endpoints/${e.id}`)).status).to.equal(200);
    expect(await gw.storage.webhooks.listEndpoints(b.id)).to.deep.equal([]);

    // The configuration keeps retries for at least 24 h and https by default.
    const base = { port: 0, dataDir: "d", nodeUrl: "http://127.0.0.1:1", rpcUrl: "http://127.0.0.1:2", deploymentFile: "x.json" };
    expect(parseGatewayConfig(base, "/tmp").webhooks.requireHttps).to.equal(true);
    expect(parseGatewayConfig(base, "/tmp").webhooks.retryForSeconds).to.be.at.least(86_400);
    try {
      parseGatewayConfig({ ...base, webhooks: { retryForSeconds: 3_600 } }, "/tmp");
      expect.fail("a retry period under 24 h was accepted");
    } catch (error) {
      expect((error as SettlenetError).code).to.equal("CONFIG_INVALID");
      expect((error as SettlenetError).meta["fields"]).to.deep.equal(["webhooks.retryForSeconds"]);
    }
  });

  it("sends payment.held, payment.refunded and (after the payer confirms at the node) payment.released, each verified", async function () {
    const order = await payOrder(a);
    const held = await waitForWebhook("payment.held", order.id);
    expect(held.payload.data["status"]).to.equal("held");
    expect(held.payload.data["paymentId"]).to.equal(order.paymentId);
    expect(held.payload.data["amount"]).to.equal("10000");
    expect(held.id).to.match(/^evt_[0-9a-f]{32}$/);
    expect(held.payload.id).to.equal(held.id);

    const refund = await inject<{ refund: { id: string } }>(a, "POST", `/v1/payments/${order.id}/refunds`, { amount: "2500", reason: "one item out of stock" });
    expect(refund.status).to.equal(202);
    const refunded = await waitForWebhook("payment.refunded", order.id);
    expect(refunded.payload.data["refundedAmount"]).to.equal("2500");
    expect(refunded.payload.data["refund"]).to.deep.equal({ amount: "2500" });

    // The payer confirms straight at the node: nobody asks the gateway, the reconciler notices.
    const payer = net.scenario.payers[0];
    const node = net.nodes[0];
    if (!payer || !node) throw new Error("scenario incomplete");
    const confirm = await signedConfirm(net.scenario, paymentTermsSchema.parse(order.terms), payer, BigInt(`0x${randomBytes(16).toString("hex")}`));
    expect((await postJson(`${node.apiUrl}/v1/operations`, confirm)).status).to.equal(202);
    const released = await waitForWebhook("payment.released", order.id);
    expect(released.payload.data["status"]).to.equal("released");

    expect(receiver.rejected).to.deep.equal([]);
    // The event log lists them newest first, with the same ids as the webhook-id headers.
    const events = await inject<List<EventView>>(a, "GET", "/v1/events?limit=10");
    const mine = events.body.items.filter((e) => e.data.id === order.id);
    expect(mine.map((e) => e.type)).to.deep.equal(["payment.released", "payment.refunded", "payment.held"]);
    expect(mine.map((e) => e.id)).to.deep.equal([released.id, refunded.id, held.id]);
    const one = await inject<EventView>(a, "GET", `/v1/events/${held.id}`);
    expect(one.body.type).to.equal("payment.held");
    expect((await inject<{ code: string }>(b, "GET", `/v1/events/${held.id}`)).body.code).to.equal("EVENT_NOT_FOUND");
    // Ordinary catch-up is not a repair.
    const repairs = await gw.storage.reconcile.list({ limit: 100 });
    expect(repairs.items.filter((r) => r.orderId === order.id)).to.deep.equal([]);
  });

  it("delivers every event after the receiver was down for a while (503, then refused), none lost, deduplicated by webhook-id", async function () {
    receiver.mode = "unavailable";
    const orders = [await payOrder(a, 0), await payOrder(a, 1)];
    // The events exist (in the log) while every attempt fails with 503.
    const events = await waitFor("held events in the log", async () => {
      const list = await inject<List<EventView>>(a, "GET", "/v1/events?limit=20");
      const found = orders.map((o) => list.body.items.find((e) => e.type === "payment.held" && e.data.id === o.id));
      return found.every((e) => e !== undefined) ? (found as EventView[]) : undefined;
    }, 40_000);
    await waitFor("retries answered 503", async () => {
      const log = await inject<List<DeliveryView>>(a, "GET", `/v1/webhook-endpoints/${endpoint.id}/deliveries?limit=20`);
      return events.every((e) => {
        const d = log.body.items.find((x) => x.eventId === e.id);
        return d && d.status === "pending" && d.attempts.filter((t) => t.statusCode === 503).length >= 2;
      });
    }, 20_000);

    await receiver.stop();
    await waitFor("an attempt refused at the TCP level", async () => {
      const d = await gw.storage.webhooks.getDelivery(endpoint.id, events[0]?.id ?? "");
      return d?.attempts.some((t) => t.error === "UNREACHABLE");
    }, 20_000);
    for (const e of events) expect(eventFor("payment.held", e.data.id)).to.equal(undefined);

    receiver.mode = "ok";
    await receiver.start();
    for (const o of orders) await waitForWebhook("payment.held", o.id, 20_000);
    const log = await inject<List<DeliveryView>>(a, "GET", `/v1/webhook-endpoints/${endpoint.id}/deliveries?limit=2`);
    expect(log.body.items).to.have.length(2);
    expect(log.body.nextCursor).to.be.a("string");
    for (const e of events) {
      const d = await gw.storage.webhooks.getDelivery(endpoint.id, e.id);
      expect(d?.status).to.equal("succeeded");
      expect(d?.attempts.at(-1)?.succeeded).to.equal(true);
      expect(d?.attempts.slice(0, -1).every((t) => !t.succeeded)).to.equal(true);
    }
    // Every event the merchant has was received exactly once as an authentic delivery.
    const all = await inject<List<EventView>>(a, "GET", "/v1/events?limit=100");
    expect([...receiver.unique.keys()].sort()).to.deep.equal(all.body.items.map((e) => e.id).sort());
    expect(receiver.rejected).to.deep.equal([]);

    // A redelivery carries the same webhook-id: the receiver recognises it.
    const before = receiver.unique.size;
    const duplicatesBefore = receiver.duplicates;
    const again = await inject<List<DeliveryView>>(a, "POST", `/v1/events/${events[0]?.id}/redeliver`, { endpointId: endpoint.id });
    expect(again.status).to.equal(202);
    expect(again.body.items.map((d) => d.status)).to.deep.equal(["pending"]);
    await waitFor("the redelivery", () => receiver.duplicates === duplicatesBefore + 1, 10_000, 50);
    expect(receiver.unique.size).to.equal(before);

    const metrics = { body: await gw.metrics() };
    expect(metrics.body).to.match(/gateway_webhook_attempts_total\{result="failed"\} [1-9]/);
    expect(metrics.body).to.match(/gateway_webhook_deliveries_total\{result="succeeded"\} [1-9]/);
    // The receiver counts the redelivery before the gateway stores the attempt's outcome: wait for it.
    await waitFor("no pending delivery", async () => (await gw.metrics()).includes("gateway_webhook_pending_deliveries 0"), 10_000, 50);
  });

  it("resumes pending deliveries after a restart", async function () {
    await receiver.stop();
    const order = await payOrder(a);
    const event = await waitFor("the held event", async () => {
      const list = await inject<List<EventView>>(a, "GET", "/v1/events?limit=5");
      return list.body.items.find((e) => e.type === "payment.held" && e.data.id === order.id);
    }, 40_000);
    await waitFor("a failed attempt", async () => ((await gw.storage.webhooks.getDelivery(endpoint.id, event.id))?.attemptCount ?? 0) >= 1, 10_000);
    await gw.restart();
    expect((await gw.storage.webhooks.getDelivery(endpoint.id, event.id))?.status).to.equal("pending");
    await receiver.start();
    const received = await waitForWebhook("payment.held", order.id, 20_000);
    expect(received.id).to.equal(event.id);
  });

  it("rotates an endpoint's secret online: attempts after it are signed with the new secret only, none lost", async function () {
    const old = endpoint.secret;
    const rotated = await inject<EndpointView & { secret: string }>(a, "POST", `/v1/webhook-endpoints/${endpoint.id}/secret/rotate`, {});
    expect(rotated.status).to.equal(200);
    expect(rotated.body.id).to.equal(endpoint.id);
    expect(rotated.body.secret).to.match(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(rotated.body.secret).to.not.equal(old);
    const stored = await gw.storage.webhooks.getEndpoint(endpoint.id);
    expect(JSON.stringify(stored)).to.not.include(rotated.body.secret.slice(6));
    expect(gw.secrets.open(stored?.secret ?? { v: 1, iv: "", tag: "", data: "" }, `webhookEndpoint:${endpoint.id}`)).to.equal(rotated.body.secret);
    // Another merchant cannot rotate it, nor learn that it exists.
    const theirs = await inject<{ code: string }>(b, "POST", `/v1/webhook-endpoints/${endpoint.id}/secret/rotate`, {});
    expect([theirs.status, theirs.body.code]).to.deep.equal([404, "WEBHOOK_ENDPOINT_NOT_FOUND"]);

    // The receiver still verifies with the old secret: it refuses the new signatures, and the gateway retries.
    const rejectedBefore = receiver.rejected.length;
    const order = await payOrder(a);
    await waitFor("an attempt the receiver refused", () => receiver.rejected.length > rejectedBefore, 40_000, 50);
    expect(receiver.rejected.slice(rejectedBefore).every((r) => r === "no matching signature")).to.equal(true);
    expect(eventFor("payment.held", order.id)).to.equal(undefined);
    receiver.secret = rotated.body.secret;
    const held = await waitForWebhook("payment.held", order.id, 20_000);
    expect(verifyStandardWebhook(rotated.body.secret, { "webhook-id": held.id, "webhook-timestamp": String(held.timestamp), "webhook-signature": held.signature }, held.body, held.timestamp)).to.equal(undefined);
    expect(verifyStandardWebhook(old, { "webhook-id": held.id, "webhook-timestamp": String(held.timestamp), "webhook-signature": held.signature }, held.body, held.timestamp)).to.equal("no matching signature");
    endpoint = { ...endpoint, secret: rotated.body.secret };
    receiver.rejected.splice(rejectedBefore);
  });

  it("stops sending to an endpoint that answers 410 Gone", async function () {
    receiver.mode = "gone";
    const order = await payOrder(a);
    await waitFor("the endpoint to be disabled", async () => (await gw.storage.webhooks.getEndpoint(endpoint.id))?.status === "disabled", 40_000);
    const view = await inject<EndpointView>(a, "GET", `/v1/webhook-endpoints/${endpoint.id}`);
    expect(view.body.status).to.equal("disabled");
    const list = await inject<List<EventView>>(a, "GET", "/v1/events?limit=5");
    const event = list.body.items.find((e) => e.data.id === order.id);
    const delivery = await gw.storage.webhooks.getDelivery(endpoint.id, event?.id ?? "");
    expect(delivery?.status).to.equal("failed");
    expect(delivery?.attempts.map((t) => t.statusCode)).to.deep.equal([410]);
    const refused = await inject<{ code: string }>(a, "POST", `/v1/events/${event?.id}/redeliver`, { endpointId: endpoint.id });
    expect(refused.status).to.equal(409);
    expect(refused.body.code).to.equal("WEBHOOK_ENDPOINT_DISABLED");
    const none = await inject<{ code: string }>(a, "POST", `/v1/events/${event?.id}/redeliver`, {});
    expect(none.status).to.equal(409);
    expect(none.body.code).to.equal("NO_WEBHOOK_ENDPOINT");
    receiver.mode = "ok";
  });

  it("closes an order past its deadline once the node confirms no pay, and logs the repair", async function () {
    const payer = net.scenario.payers[0];
    if (!payer) throw new Error("no payer");
    const created = await inject<View>(a, "POST", "/v1/payments", paymentBody(payer.address, `expiring-${randomBytes(3).toString("hex")}`, { expiresIn: 60 }));
    expect(created.status).to.equal(201);
    const since = Date.now() + offsetMs;
    // Two minutes on the gateway's clock (requests stay within the 300 s signing skew).
    offsetMs = 120_000;
    try {
      const repair = await waitFor("the expiry repair", async () => (await gw.storage.reconcile.list({ limit: 100, fromMs: since })).items.find((r) => r.orderId === created.body.id), 20_000);
      expect(repair.kind).to.equal("order_expired");
      expect(repair.from).to.equal("awaiting_authorization");
      expect(repair.to).to.equal("expired");
      expect(repair.eventIds).to.deep.equal([]);
      const stored = await gw.storage.orders.get(created.body.id);
      expect(stored?.status).to.equal("expired");
      const metrics = { body: await gw.metrics() };
      expect(metrics.body).to.match(/gateway_reconcile_repairs_total\{kind="order_expired"\} 1/);
    } finally {
      offsetMs = 0;
    }
  });

  it("backs off exponentially with jitter up to the cap, and the default schedule keeps retrying for days", function () {
    const options = { initialDelayMs: 1_000, backoffFactor: 2, maxDelayMs: 10_000 };
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffDelayMs(options, n, () => 1))).to.deep.equal([1_000, 2_000, 4_000, 8_000, 10_000, 10_000]);
    expect([1, 2, 3].map((n) => backoffDelayMs(options, n, () => 0))).to.deep.equal([500, 1_000, 2_000]);
    const defaults = webhookConfigSchema.parse({});
    // Even with the shortest jitter, attempts go on until the retry period (3 days) is over.
    let elapsedMs = 0;
    let attempts = 1;
    while (elapsedMs < defaults.retryForSeconds * 1000) {
      elapsedMs += backoffDelayMs(defaults, attempts, () => 0);
      attempts += 1;
    }
    expect(defaults.retryForSeconds).to.equal(3 * 86_400);
    expect(attempts).to.equal(44);
  });

  it("signs every delivery so that a tampered body, another secret, another id or an old timestamp fails verification", async function () {
    // Both sides are pinned to the Standard Webhooks specification's published test vector, not to each
    // other: the gateway's signer reproduces it, and the receiver's verifier accepts it.
    const vector = { secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", id: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: 1614265330, body: '{"test": 2432232314}' };
    const vectorSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    expect(signWebhook(vector.secret, vector.id, vector.timestamp, vector.body)).to.equal(vectorSignature);
    const vectorHeaders = { "webhook-id": vector.id, "webhook-timestamp": String(vector.timestamp), "webhook-signature": vectorSignature };
    expect(verifyStandardWebhook(vector.secret, vectorHeaders, vector.body, vector.timestamp)).to.equal(undefined);

    // What the gateway sent on the wire for an order of this test, to an endpoint of this test (merchant b's).
    const created = await inject<EndpointView & { secret: string }>(b, "POST", "/v1/webhook-endpoints", { url: `${receiver.url}/signing`, eventTypes: ["payment.held"] });
    expect(created.status).to.equal(201);
    const secret = created.body.secret;
    receiver.secretsByPath.set("/hooks/signing", secret);
    const order = await payOrder(b);
    const sample = await waitForWebhook("payment.held", order.id);
    const headers = { "webhook-id": sample.id, "webhook-timestamp": String(sample.timestamp), "webhook-signature": sample.signature };
    expect(sample.signature).to.match(/^v1,[A-Za-z0-9+/]{43}=$/);
    // Signed when sent: the timestamp is the sending time, within the receiver's tolerance.
    expect(Math.abs(sample.receivedAt - sample.timestamp)).to.be.at.most(60);
    expect(verifyStandardWebhook(secret, headers, sample.body, sample.receivedAt)).to.equal(undefined);
    expect(sample.body).to.include('"amount":"10000"');
    expect(verifyStandardWebhook(secret, headers, sample.body.replace('"amount":"10000"', '"amount":"10001"'), sample.receivedAt)).to.equal("no matching signature");
    expect(verifyStandardWebhook(`whsec_${randomBytes(32).toString("base64")}`, headers, sample.body, sample.receivedAt)).to.equal("no matching signature");
    expect(verifyStandardWebhook(secret, { ...headers, "webhook-id": `${sample.id}x` }, sample.body, sample.receivedAt)).to.equal("no matching signature");
    expect(verifyStandardWebhook(secret, { ...headers, "webhook-timestamp": String(sample.timestamp - 1) }, sample.body, sample.receivedAt)).to.equal("no matching signature");
    // Replayed later than the tolerance, the same genuine delivery is refused.
    expect(verifyStandardWebhook(secret, headers, sample.body, sample.timestamp + 301)).to.equal("timestamp out of tolerance");

    // Replayed to the receiver over HTTP with its body tampered, the gateway's signature is refused there too.
    const rejected = receiver.rejected.length;
    const tampered = await fetch(`${receiver.url}/signing`, { method: "POST", headers: { ...headers, "content-type": "application/json" }, body: sample.body.replace('"amount":"10000"', '"amount":"10001"') });
    expect(tampered.status).to.equal(400);
    expect(receiver.rejected.splice(rejected)).to.deep.equal(["no matching signature"]);
    expect((await inject(b, "DELETE", `/v1/webhook-endpoints/${created.body.id}`)).status).to.equal(200);
  });

  describe("webhook targets (SSRF)", function () {
    let event: EventView;
    const created: string[] = [];
    const register = (url: string) => inject<EndpointView & { code?: string }>(b, "POST", "/v1/webhook-endpoints", { url, eventTypes: ["payment.held"] });
    /** Sends `event` to a new endpoint at `url` and returns its first recorded attempt. */
    async function attemptAt(url: string) {
      const endpointCreated = await register(url);
      expect(endpointCreated.status, JSON.stringify(endpointCreated.body)).to.equal(201);
      created.push(endpointCreated.body.id);
      expect((await inject(b, "POST", `/v1/events/${event.id}/redeliver`, { endpointId: endpointCreated.body.id })).status).to.equal(202);
      return waitFor(`an attempt at ${url}`, async () => (await gw.storage.webhooks.getDelivery(endpointCreated.body.id, event.id))?.attempts[0], 20_000, 50);
    }
    afterEach(async function () {
      for (const id of created.splice(0)) await inject(b, "DELETE", `/v1/webhook-endpoints/${id}`);
    });

    before(async function () {
      receiver.mode = "ok";
      const order = await payOrder(b);
      event = await waitFor("b's held event", async () => (await inject<List<EventView>>(b, "GET", "/v1/events?limit=5")).body.items.find((e) => e.type === "payment.held" && e.data.id === order.id), 40_000);
    });

    it("refuses private, link-local, unspecified and multicast targets at registration even with loopback allowed", async function () {
      for (const url of [
        "http://10.0.0.1/x",
        "http://172.16.5.4/x",
        "http://192.168.1.1/x",
        "http://169.254.169.254/latest/meta-data",
        "http://0.0.0.0:80/x",
        "http://224.0.0.1/x",
        "http://[fd00::1]/x",
        "http://[fe80::1]/x",
        "http://[::]/x",
        "http://[ff02::1]/x",
        "http://[::ffff:10.0.0.1]/x",
        "http://private.test/x",
      ]) {
        const res = await register(url);
        expect(res.status, url).to.equal(400);
        expect(res.body.code, url).to.equal("WEBHOOK_URL_FORBIDDEN");
      }
      const unresolvable = await register("http://nothing.invalid/x");
      expect(unresolvable.status).to.equal(400);
      expect(unresolvable.body.code).to.equal("WEBHOOK_URL_UNRESOLVABLE");
      expect(await gw.storage.webhooks.listEndpoints(b.id)).to.deep.equal([]);
    });

    it("connects to the address it checked, without resolving the name again", async function () {
      // Other endpoints' retries reach the same receiver, and this endpoint gets later events too:
      // count this endpoint's own path and this event only.
      const attempt = await attemptAt(`http://hooks.test:${receiver.port}/hooks/checked-address`);
      // The system resolver does not know hooks.test: an HTTP answer means the checked address was used.
      expect(attempt.statusCode).to.be.a("number");
      expect(receiver.requestsOf("/hooks/checked-address", event.id)).to.equal(1);
    });

    it("does not follow redirects, and tells no open port from a closed one", async function () {
      let redirectedTo = 0;
      const target = createHttpServer((_req, res) => {
        redirectedTo += 1;
        res.writeHead(204).end();
      });
      const redirecting = createHttpServer((_req, res) => res.writeHead(302, { location: `http://127.0.0.1:${(target.address() as AddressInfo).port}/` }).end());
      // A port that is open but does not speak HTTP.
      const notHttp = createTcpServer((socket) => socket.destroy());
      for (const server of [target, redirecting, notHttp]) await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
      const closed = createTcpServer();
      await new Promise<void>((done) => closed.listen(0, "127.0.0.1", done));
      const closedPort = (closed.address() as AddressInfo).port;
      await new Promise<void>((done) => closed.close(() => done()));
      try {
        const redirected = await attemptAt(`http://127.0.0.1:${(redirecting.address() as AddressInfo).port}/`);
        expect(redirected.statusCode).to.equal(302);
        expect(redirectedTo).to.equal(0);
        const open = await attemptAt(`http://127.0.0.1:${(notHttp.address() as AddressInfo).port}/`);
        const shut = await attemptAt(`http://127.0.0.1:${closedPort}/`);
        expect([open.statusCode ?? null, open.error]).to.deep.equal([null, "UNREACHABLE"]);
        expect([shut.statusCode ?? null, shut.error]).to.deep.equal([null, "UNREACHABLE"]);
      } finally {
        for (const server of [target, redirecting, notHttp]) await new Promise<void>((done) => server.close(() => done()));
      }
    });

    it("without the development flag refuses loopback at registration and at every delivery, after a DNS answer changes too", async function () {
      const loopbackEndpoint = await register(`${receiver.url}/loopback`);
      expect(loopbackEndpoint.status).to.equal(201);
      created.push(loopbackEndpoint.body.id);
      webhookOptions.allowLoopback = false;
      try {
        await gw.restart();
        for (const url of [receiver.url, `http://localhost:${receiver.port}/hooks`, `http://[::1]:${receiver.port}/hooks`, `http://[::ffff:127.0.0.1]:${receiver.port}/hooks`, "http://127.1.2.3/x"]) {
          const res = await register(url);
          expect(res.status, url).to.equal(400);
          expect(res.body.code, url).to.equal("WEBHOOK_URL_FORBIDDEN");
        }
        // Registered while loopback was allowed: each delivery checks again.
        expect((await inject(b, "POST", `/v1/events/${event.id}/redeliver`, { endpointId: loopbackEndpoint.body.id })).status).to.equal(202);
        const refused = await waitFor("the refused attempt", async () => (await gw.storage.webhooks.getDelivery(loopbackEndpoint.body.id, event.id))?.attempts.at(-1), 20_000, 50);
        expect(refused.error).to.equal("ADDRESS_FORBIDDEN");
        // A public address at registration, loopback at delivery (DNS rebinding).
        const rebound = await attemptAt(`http://rebind.test:${receiver.port}/hooks/rebound`);
        expect(rebound.error).to.equal("ADDRESS_FORBIDDEN");
        expect(receiver.requestsByPath.get("/hooks/loopback")).to.equal(undefined);
        expect(receiver.requestsByPath.get("/hooks/rebound")).to.equal(undefined);
      } finally {
        webhookOptions.allowLoopback = true;
        await gw.restart();
      }
    });
  });
});

describe("gateway: the webhook dispatcher sends new events without waiting for its poll", function () {
  this.timeout(120_000);
  let dir: string;
  let storage: GatewayStorage;
  let dispatcher: WebhookDispatcher | undefined;
  const receiver = new WebhookReceiver();
  const secrets = new SecretBox(randomBytes(32));
  const merchantId = "m1";
  let orderId: string;

  before(async function () {
    dir = await mkdtemp(join(tmpdir(), "settlenet-gw-dispatch-"));
    storage = await openGatewayStorage(join(dir, "db"));
    await receiver.start();
    receiver.secret = `whsec_${randomBytes(32).toString("base64")}`;
    const endpointId = `we_${randomBytes(12).toString("hex")}`;
    await storage.webhooks.createEndpoint(
      { id: endpointId, merchantId, url: receiver.url, description: null, eventTypes: ["payment.held"], secret: secrets.seal(receiver.secret, webhookSecretContext(endpointId)), status: "active", createdAtMs: Date.now() },
      10,
    );
    const now = Date.now();
    const order = { id: `pay_${randomBytes(16).toString("hex")}`, merchantId, merchantOrderId: "o-1", requestHash: "h", status: "processing", amount: "100", currency: "CNY", description: null, mode: "escrow", terms: {}, paymentId: `0x${randomBytes(32).toString("hex")}`, createdAtMs: now, updatedAtMs: now, expiresAtMs: now + 60_000, refunds: [] } as unknown as OrderRecord;
    await storage.orders.create(order);
    orderId = order.id;
  });

  after(async function () {
    await dispatcher?.stop();
    await receiver.stop();
    await storage?.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** Stores `count` payment.held events in one order change, as the feed follower does. */
  async function writeEvents(count: number): Promise<string[]> {
    const events: EventRecord[] = Array.from({ length: count }, () => ({ id: `evt_${randomBytes(16).toString("hex")}`, merchantId, type: "payment.held", createdAtMs: Date.now(), data: { id: orderId } }));
    await storage.orders.update(orderId, (o) => ({ next: { ...o, updatedAtMs: o.updatedAtMs + 1 }, events }));
    return events.map((e) => e.id);
  }

  const received = () => [...receiver.unique.keys()];

  it("delivers events written after it went idle, although its next poll is weeks away", async function () {
    // The longest timer Node keeps: without a signal from the outbox nothing here would be sent in this test.
    const pollIntervalMs = 2 ** 31 - 1;
    const first = await writeEvents(1);
    dispatcher = new WebhookDispatcher(
      { ...webhookConfigSchema.parse({}), pollIntervalMs, allowLoopback: true },
      { storage, secrets, logger: pino({ level: "silent" }), metrics: new Registry(), now: Date.now },
    );
    dispatcher.start();
    // The first pass (at start) sends what was queued before.
    await waitFor("the first delivery recorded", async () => (await storage.webhooks.pendingCount()) === 0 && received().length === 1);
    // Let the pass that the finished attempt scheduled end: from here the dispatcher waits for its poll.
    await dispatcher.tick();
    expect(received()).to.deep.equal(first);

    const later = await writeEvents(3);
    await waitFor("the later events delivered", () => received().length === 4);
    // Sent concurrently: in any order among themselves, all after the first.
    expect(received()[0]).to.equal(first[0]);
    expect(received().slice(1)).to.have.members(later);
    expect(receiver.rejected).to.deep.equal([]);
    await waitFor("every delivery recorded", async () => (await storage.webhooks.pendingCount()) === 0);
  });

  it("sends the deliveries a fan-out queued without reading them back, and records attempts that end together in one batch", async function () {
    await dispatcher?.stop();
    // A receiver that answers nobody until `count` deliveries are waiting, then everybody at once.
    const count = 8;
    const held: { id: string; answer: () => void }[] = [];
    const server = createHttpServer((request, response) => {
      request.resume();
      held.push({ id: String(request.headers["webhook-id"]), answer: () => response.writeHead(204).end() });
      if (held.length === count) for (const h of held) h.answer();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const endpointId = `we_${randomBytes(12).toString("hex")}`;
    const secret = `whsec_${randomBytes(32).toString("base64")}`;
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;
    const batchMerchant = "m2";
    await storage.webhooks.createEndpoint(
      { id: endpointId, merchantId: batchMerchant, url, description: null, eventTypes: ["payment.held"], secret: secrets.seal(secret, webhookSecretContext(endpointId)), status: "active", createdAtMs: Date.now() },
      10,
    );
    dispatcher = new WebhookDispatcher(
      { ...webhookConfigSchema.parse({}), pollIntervalMs: 2 ** 31 - 1, concurrency: count, allowLoopback: true },
      { storage, secrets, logger: pino({ level: "silent" }), metrics: new Registry(), now: Date.now },
    );
    try {
      dispatcher.start();
      await dispatcher.tick();
      const before = { ...storage.work };
      const events: EventRecord[] = Array.from({ length: count }, () => ({ id: `evt_${randomBytes(16).toString("hex")}`, merchantId: batchMerchant, type: "payment.held", createdAtMs: Date.now(), data: { id: orderId } }));
      await storage.orders.update(orderId, (o) => ({ next: { ...o, updatedAtMs: o.updatedAtMs + 1 }, events }));
      await waitFor("every delivery recorded", async () => held.length === count && (await storage.webhooks.pendingCount()) === 0);
      const after = { ...storage.work };
      expect(held.map((h) => h.id)).to.have.members(events.map((e) => e.id));
      const records = await Promise.all(events.map((e) => storage.webhooks.getDelivery(endpointId, e.id)));
      expect(records.map((r) => r?.status)).to.deep.equal(events.map(() => "succeeded"));
      // The order change, the dispatcher's passes (a fan-out each) and the attempts: the first recorded
      // alone (nothing was being written), those that ended meanwhile in the next batch or two. One
      // section per attempt would make more than `count` alone.
      expect(after.writeSections - before.writeSections, "write sections").to.be.below(count);
      // Each delivery was read back from the queue (delivery, endpoint and event) before.
      expect(after.pointReads - before.pointReads, "point reads").to.be.below(count);
    } finally {
      await dispatcher.stop();
      dispatcher = undefined;
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  /**
   * A receiver on its own endpoint that holds every request until `release` (the dispatcher's slots
   * stay taken), checking signatures against `secret` at the time each request arrives.
   */
  async function heldReceiver(merchant: string) {
    const state = { secret: `whsec_${randomBytes(32).toString("base64")}`, held: [] as (() => void)[], ids: [] as string[], bad: 0 };
    const server = createHttpServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on("data", (chunk: Buffer) => chunks.push(chunk));
      request.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8");
        const ok = verifyStandardWebhook(state.secret, request.headers, body, Math.floor(Date.now() / 1000)) === undefined;
        if (ok) state.ids.push(String(request.headers["webhook-id"]));
        else state.bad += 1;
        state.held.push(() => response.writeHead(ok ? 204 : 400).end());
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const endpointId = `we_${randomBytes(12).toString("hex")}`;
    await storage.webhooks.createEndpoint(
      {
        id: endpointId,
        merchantId: merchant,
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`,
        description: null,
        eventTypes: ["payment.held"],
        secret: secrets.seal(state.secret, webhookSecretContext(endpointId)),
        status: "active",
        createdAtMs: Date.now(),
      },
      10,
    );
    const release = () => {
      for (const answer of state.held.splice(0)) answer();
    };
    return { state, endpointId, release, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
  }

  it("sends the deliveries a fan-out queued beyond its free slots as slots free up, without reading them back from the queue", async function () {
    await dispatcher?.stop();
    const merchant = "m3";
    const hook = await heldReceiver(merchant);
    const concurrency = 2;
    const count = 10;
    dispatcher = new WebhookDispatcher(
      { ...webhookConfigSchema.parse({}), pollIntervalMs: 2 ** 31 - 1, concurrency, allowLoopback: true },
      { storage, secrets, logger: pino({ level: "silent" }), metrics: new Registry(), now: Date.now },
    );
    try {
      dispatcher.start();
      await dispatcher.tick();
      const before = { ...storage.work };
      const events: EventRecord[] = Array.from({ length: count }, () => ({ id: `evt_${randomBytes(16).toString("hex")}`, merchantId: merchant, type: "payment.held", createdAtMs: Date.now(), data: { id: orderId } }));
      await storage.orders.update(orderId, (o) => ({ next: { ...o, updatedAtMs: o.updatedAtMs + 1 }, events }));
      // Answer whatever is waiting until every event has arrived (two at a time: the slots).
      await waitFor("every event delivered", async () => {
        hook.release();
        return hook.state.ids.length === count && (await storage.webhooks.pendingCount()) === 0;
      }, 30_000, 20);
      const after = { ...storage.work };
      expect(hook.state.ids).to.have.members(events.map((e) => e.id));
      expect(hook.state.bad).to.equal(0);
      // Read back from the queue, each would cost a delivery, an endpoint and an event read, and a queue scan per freed slot.
      expect(after.pointReads - before.pointReads, "point reads").to.be.below(count);
      expect(after.rangeReads - before.rangeReads, "range reads").to.be.below(count / 2);
    } finally {
      await dispatcher.stop();
      dispatcher = undefined;
      await hook.close();
    }
  });

  it("signs the deliveries waiting for a slot with the endpoint's new secret when it is rotated meanwhile", async function () {
    await dispatcher?.stop();
    const merchant = "m4";
    const hook = await heldReceiver(merchant);
    const count = 4;
    dispatcher = new WebhookDispatcher(
      // No poll: what waits for a slot goes out because a slot freed, not because a timer fired.
      { ...webhookConfigSchema.parse({}), pollIntervalMs: 2 ** 31 - 1, concurrency: 1, allowLoopback: true },
      { storage, secrets, logger: pino({ level: "silent" }), metrics: new Registry(), now: Date.now },
    );
    try {
      dispatcher.start();
      await dispatcher.tick();
      const events: EventRecord[] = Array.from({ length: count }, () => ({ id: `evt_${randomBytes(16).toString("hex")}`, merchantId: merchant, type: "payment.held", createdAtMs: Date.now(), data: { id: orderId } }));
      await storage.orders.update(orderId, (o) => ({ next: { ...o, updatedAtMs: o.updatedAtMs + 1 }, events }));
      // The first attempt holds the one slot; the others wait. Now the secret changes.
      await waitFor("the first attempt", () => hook.state.held.length === 1);
      const rotated = `whsec_${randomBytes(32).toString("base64")}`;
      await storage.webhooks.replaceSecret(merchant, hook.endpointId, secrets.seal(rotated, webhookSecretContext(hook.endpointId)));
      hook.state.secret = rotated;
      await waitFor("every event delivered", async () => {
        hook.release();
        return hook.state.ids.length === count && (await storage.webhooks.pendingCount()) === 0;
      }, 30_000, 20);
      expect(hook.state.ids).to.have.members(events.map((e) => e.id));
      // The attempt under way when the secret changed was checked against the old one on arrival.
      expect(hook.state.bad).to.equal(0);
    } finally {
      await dispatcher.stop();
      dispatcher = undefined;
      await hook.close();
    }
  });
});
