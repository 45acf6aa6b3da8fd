import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";

import { expect } from "chai";

import { deployScenario, startChain, type LocalChain, type Scenario } from "../../helpers/chain.js";
import { gatewayFixture, paymentBody, signedInject, type GatewayFixture, type TestMerchant } from "../fixture.js";

describe("gateway: Idempotency-Key on POST", function () {
  this.timeout(60_000);
  let chain: LocalChain;
  let scenario: Scenario;
  let gw: GatewayFixture;
  let a: TestMerchant;
  let b: TestMerchant;
  let payer: string;

  before(async function () {
    chain = await startChain();
    scenario = await deployScenario(chain, { institutions: 1, merchants: 2, payers: 1 });
    gw = await gatewayFixture({ scenario });
    [a, b] = gw.merchants as [TestMerchant, TestMerchant];
    payer = scenario.payers[0]?.address ?? "";
  });
  after(async function () {
    await gw?.close();
    await chain?.close();
  });

  const create = (m: TestMerchant, body: unknown, idempotencyKey?: string) =>
    signedInject(gw.app, m, "POST", "/v1/payments", body, idempotencyKey === undefined ? {} : { idempotencyKey });

  it("answers the same key and body with the same status and body, creating one payment", async function () {
    const body = paymentBody(payer, "idem-1");
    const first = await create(a, body, "key-idem-1");
    expect(first.status).to.equal(201);
    expect(first.headers["idempotent-replayed"]).to.equal(undefined);
    const second = await create(a, body, "key-idem-1");
    expect(second.status).to.equal(201);
    expect(second.body).to.deep.equal(first.body);
    expect(second.headers["content-type"]).to.equal(first.headers["content-type"]);
    expect(second.headers["idempotent-replayed"]).to.equal("true");
    const list = await signedInject<{ items: unknown[] }>(gw.app, a, "GET", "/v1/payments?merchantOrderId=idem-1");
    expect(list.body.items).to.have.length(1);
  });

  it("refuses the same key with a different body with 422 IDEMPOTENCY_KEY_REUSED", async function () {
    expect((await create(a, paymentBody(payer, "idem-2"), "key-idem-2")).status).to.equal(201);
    const other = await create(a, paymentBody(payer, "idem-2", { amount: "20000" }), "key-idem-2");
    expect(other.status).to.equal(422);
    expect(other.body["code"]).to.equal("IDEMPOTENCY_KEY_REUSED");
    // Also on another route.
    const elsewhere = await signedInject(gw.app, a, "POST", "/v1/payments/pay_00000000000000000000000000000000/cancel", {}, { idempotencyKey: "key-idem-2" });
    expect(elsewhere.status).to.equal(422);
    expect(elsewhere.body["code"]).to.equal("IDEMPOTENCY_KEY_REUSED");
  });

  it("replays the recorded response after a restart", async function () {
    const body = paymentBody(payer, "idem-3");
    const first = await create(a, body, "key-idem-3");
    expect(first.status).to.equal(201);
    await gw.restart();
    const again = await create(a, body, "key-idem-3");
    expect(again.status).to.equal(201);
    expect(again.body).to.deep.equal(first.body);
    expect(again.headers["idempotent-replayed"]).to.equal("true");
  });

  it("answers a concurrent request with the same key with 409 IDEMPOTENCY_IN_PROGRESS", async function () {
    const body = paymentBody(payer, "idem-4");
    const results = await Promise.all([create(a, body, "key-idem-4"), create(a, body, "key-idem-4"), create(a, body, "key-idem-4")]);
    const statuses = results.map((r) => r.status).sort();
    expect(statuses).to.deep.equal([201, 409, 409]);
    for (const r of results.filter((x) => x.status === 409)) expect(r.body["code"]).to.equal("IDEMPOTENCY_IN_PROGRESS");
    // Once finished, the key replays.
    const later = await create(a, body, "key-idem-4");
    expect(later.status).to.equal(201);
    expect(later.headers["idempotent-replayed"]).to.equal("true");
  });

  it("replays client errors too, but not server errors", async function () {
    const bad = paymentBody(payer, "idem-5", { currency: "XYZ" });
    const first = await create(a, bad, "key-idem-5");
    expect(first.status).to.equal(422);
    expect(first.body["code"]).to.equal("UNSUPPORTED_CURRENCY");
    const again = await create(a, bad, "key-idem-5");
    expect(again.status).to.equal(422);
    expect(again.headers["idempotent-replayed"]).to.equal("true");

    // Cancelling needs the node, which is not running here: 503, and the retry runs again.
    const created = await create(a, paymentBody(payer, "idem-6"));
    const path = `/v1/payments/${String(created.body["id"])}/cancel`;
    const failed = await signedInject(gw.app, a, "POST", path, {}, { idempotencyKey: "key-idem-6" });
    expect(failed.status).to.equal(503);
    expect(failed.body["code"]).to.equal("NODE_UNAVAILABLE");
    const retried = await signedInject(gw.app, a, "POST", path, {}, { idempotencyKey: "key-idem-6" });
    expect(retried.status).to.equal(503);
    expect(retried.headers["idempotent-replayed"]).to.equal(undefined);
  });

  it("scopes keys per merchant", async function () {
    const mine = await create(a, paymentBody(payer, "idem-7"), "shared-key");
    const theirs = await create(b, paymentBody(payer, "idem-7"), "shared-key");
    expect(mine.status).to.equal(201);
    expect(theirs.status).to.equal(201);
    expect(theirs.body["id"]).to.not.equal(mine.body["id"]);
  });

  it("refuses a malformed Idempotency-Key with IDEMPOTENCY_KEY_INVALID", async function () {
    const res = await create(a, paymentBody(payer, "idem-8"), "has space");
    expect(res.status).to.equal(400);
    expect(res.body["code"]).to.equal("IDEMPOTENCY_KEY_INVALID");
  });

  it("requires an Idempotency-Key on every POST that moves money or changes a payment, and runs none without one", async function () {
    const id = `pay_${"0".repeat(32)}`;
    const moneyPosts = gw.app.gatewayRoutes.filter((r) => r.method === "POST" && /^\/v1\/(payments|payouts|topups|transfers)/.test(r.url)).map((r) => r.url.replace(":id", id));
    expect(moneyPosts).to.include.members(["/v1/payments", `/v1/payments/${id}/authorization`, `/v1/payments/${id}/refunds`, "/v1/payouts", "/v1/topups", "/v1/transfers"]);
    for (const path of moneyPosts) {
      const body = path === "/v1/payments" ? paymentBody(payer, "idem-no-key") : {};
      const res = await signedInject(gw.app, a, "POST", path, body, { idempotencyKey: null });
      expect([res.status, res.body["code"]], path).to.deep.equal([400, "IDEMPOTENCY_KEY_REQUIRED"]);
    }
    const list = await signedInject<{ items: unknown[] }>(gw.app, a, "GET", "/v1/payments?merchantOrderId=idem-no-key");
    expect(list.body.items).to.deep.equal([]);
    // Authentication still comes first: an unsigned request learns nothing about the route.
    const unsigned = await gw.app.inject({ method: "POST", url: "/v1/payouts", payload: {} });
    expect(unsigned.statusCode).to.equal(401);
  });

  it("replays a webhook endpoint's creation with its secret, which the database holds only sealed", async function () {
    // A public address literal: registration resolves nothing and refuses nothing.
    const body = { url: "https://93.184.215.14/hooks" };
    const first = await signedInject<{ id: string; secret: string }>(gw.app, a, "POST", "/v1/webhook-endpoints", body, { idempotencyKey: "key-idem-secret" });
    expect(first.status).to.equal(201);
    const again = await signedInject<{ id: string; secret: string }>(gw.app, a, "POST", "/v1/webhook-endpoints", body, { idempotencyKey: "key-idem-secret" });
    expect([again.status, again.headers["idempotent-replayed"]]).to.deep.equal([201, "true"]);
    expect(again.body).to.deep.equal(first.body);
    const secret = first.body.secret;
    expect(secret).to.match(/^whsec_/);
    // Every file of the gateway's LevelDB (its write-ahead log included), after the writes were flushed by closing it.
    await gw.restart();
    const files: string[] = [];
    const walk = async (dir: string) => {
      for (const entry of await readdir(dir, { withFileTypes: true })) {
        if (entry.isDirectory()) await walk(join(dir, entry.name));
        else files.push(join(dir, entry.name));
      }
    };
    await walk(gw.dir);
    expect(files.some((f) => f.endsWith(".log") || f.endsWith(".ldb"))).to.equal(true);
    const needles = [Buffer.from(secret), Buffer.from(secret.slice("whsec_".length)), Buffer.from(secret.slice("whsec_".length), "base64")];
    for (const file of files) {
      const bytes = await readFile(file);
      for (const needle of needles) expect(bytes.includes(needle), `${file} holds the secret`).to.equal(false);
    }
    // After the restart the replay still hands the secret over.
    const afterRestart = await signedInject<{ secret: string }>(gw.app, a, "POST", "/v1/webhook-endpoints", body, { idempotencyKey: "key-idem-secret" });
    expect(afterRestart.body.secret).to.equal(secret);
  });
});
