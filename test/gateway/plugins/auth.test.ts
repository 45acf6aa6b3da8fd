import { expect } from "chai";

import { revokeApiKey, rotateApiKeys } from "../../../gateway/domain/merchants.js";
import { signRequest } from "../../../gateway/client/signing.js";
import { deployScenario, startChain, type LocalChain, type Scenario } from "../../helpers/chain.js";
import { gatewayFixture, paymentBody, signedInject, type GatewayFixture } from "../fixture.js";

const LIST = "/v1/payments?limit=5";

describe("gateway: merchant authentication, rate limit and body limit", function () {
  this.timeout(60_000);
  let chain: LocalChain;
  let scenario: Scenario;
  let gw: GatewayFixture;
  // A settable clock for the gateway (unix ms); requests are signed with its seconds.
  let clock = Date.now();
  const seconds = () => Math.floor(clock / 1000);

  before(async function () {
    chain = await startChain();
    scenario = await deployScenario(chain, { institutions: 1, merchants: 2, payers: 1 });
    gw = await gatewayFixture({ scenario, now: () => clock });
  });
  after(async function () {
    await gw?.close();
    await chain?.close();
  });
  beforeEach(function () {
    clock = Date.now();
  });

  const merchant = (i: number) => {
    const m = gw.merchants[i];
    if (!m) throw new Error("no merchant");
    return m;
  };

  it("accepts a correctly signed request", async function () {
    const res = await signedInject(gw.app, merchant(0), "GET", LIST, undefined, { timestamp: seconds() });
    expect(res.status).to.equal(200);
    expect(res.body["object"]).to.equal("list");
  });

  it("refuses a request without the authentication headers with AUTH_MISSING as problem+json", async function () {
    const res = await gw.app.inject({ method: "GET", url: LIST });
    expect(res.statusCode).to.equal(401);
    expect(res.headers["content-type"]).to.match(/^application\/problem\+json/);
    expect(res.json().code).to.equal("AUTH_MISSING");
    const partial = await signedInject(gw.app, merchant(0), "GET", LIST, undefined, { timestamp: seconds(), headers: { "settlenet-nonce": undefined } });
    expect(partial.status).to.equal(401);
    expect(partial.body["code"]).to.equal("AUTH_MISSING");
    expect(partial.body["missing"]).to.deep.equal(["settlenet-nonce"]);
  });

  it("refuses a signature made with the wrong secret, or over another body or query, with AUTH_BAD_SIGNATURE", async function () {
    const wrong = await signedInject(gw.app, merchant(0), "GET", LIST, undefined, { timestamp: seconds(), secret: merchant(1).secret });
    expect(wrong.status).to.equal(401);
    expect(wrong.body["code"]).to.equal("AUTH_BAD_SIGNATURE");

    // Signed for one body, sent with another.
    const signedFor = JSON.stringify(paymentBody(scenario.payers[0]?.address ?? "", "sig-1"));
    const headers = signRequest({ keyId: merchant(0).keyId, secret: merchant(0).secret, method: "POST", path: "/v1/payments", body: signedFor, timestamp: seconds() });
    const sent = await gw.app.inject({
      method: "POST",
      url: "/v1/payments",
      headers: { ...headers, "content-type": "application/json" },
      payload: signedFor.replace('"10000"', '"99999"'),
    });
    expect(sent.statusCode).to.equal(401);
    expect(sent.json().code).to.equal("AUTH_BAD_SIGNATURE");

    const queryHeaders = signRequest({ keyId: merchant(0).keyId, secret: merchant(0).secret, method: "GET", path: LIST, timestamp: seconds() });
    const otherQuery = await gw.app.inject({ method: "GET", url: "/v1/payments?limit=6", headers: queryHeaders });
    expect(otherQuery.statusCode).to.equal(401);
    expect(otherQuery.json().code).to.equal("AUTH_BAD_SIGNATURE");
  });

  it("refuses timestamps more than 300 s away with AUTH_STALE_TIMESTAMP and accepts those within", async function () {
    for (const offset of [-301, 301, -10_000]) {
      const res = await signedInject(gw.app, merchant(0), "GET", LIST, undefined, { timestamp: seconds() + offset });
      expect(res.status, `offset ${offset}`).to.equal(401);
      expect(res.body["code"]).to.equal("AUTH_STALE_TIMESTAMP");
    }
    for (const offset of [-299, 299]) {
      const res = await signedInject(gw.app, merchant(0), "GET", LIST, undefined, { timestamp: seconds() + offset });
      expect(res.status, `offset ${offset}`).to.equal(200);
    }
  });

  it("refuses a reused nonce with AUTH_NONCE_REUSED, also after a restart", async function () {
    const nonce = "nonce-reuse-000000001";
    const first = await signedInject(gw.app, merchant(0), "GET", LIST, undefined, { timestamp: seconds(), nonce });
    expect(first.status).to.equal(200);
    const again = await signedInject(gw.app, merchant(0), "GET", LIST, undefined, { timestamp: seconds(), nonce });
    expect(again.status).to.equal(401);
    expect(again.body["code"]).to.equal("AUTH_NONCE_REUSED");
    await gw.restart();
    const afterRestart = await signedInject(gw.app, merchant(0), "GET", LIST, undefined, { timestamp: seconds(), nonce });
    expect(afterRestart.status).to.equal(401);
    expect(afterRestart.body["code"]).to.equal("AUTH_NONCE_REUSED");
    // Another key may use the same nonce.
    const otherKey = await signedInject(gw.app, merchant(1), "GET", LIST, undefined, { timestamp: seconds(), nonce });
    expect(otherKey.status).to.equal(200);
  });

  it("records an order creation's nonce with the order and its answer: refused to a concurrent request, after the answer and after a restart, also after a refusal", async function () {
    const payer = scenario.payers[0]?.address ?? "";
    const create = (nonce: string, body: unknown) => signedInject(gw.app, merchant(0), "POST", "/v1/payments", body, { timestamp: seconds(), nonce });
    const sections = gw.storage.work.writeSections;
    const [first, concurrent] = await Promise.all([create("nonce-create-00000001", paymentBody(payer, "o-nonce-1")), create("nonce-create-00000001", paymentBody(payer, "o-nonce-2"))]);
    expect(first.status).to.equal(201);
    expect(concurrent.status).to.equal(401);
    expect(concurrent.body["code"]).to.equal("AUTH_NONCE_REUSED");
    // The order with its answer's Idempotency-Key record and the nonce, in one batch (the refusal wrote nothing).
    expect(gw.storage.work.writeSections - sections, "write sections").to.equal(1);
    expect((await create("nonce-create-00000001", paymentBody(payer, "o-nonce-3"))).body["code"]).to.equal("AUTH_NONCE_REUSED");
    // Refused by the domain (recorded under the Idempotency-Key) and by the schema (no key record): the nonce is recorded all the same.
    expect((await create("nonce-create-00000002", paymentBody(payer, "o-nonce-4", { currency: "XXX" }))).body["code"]).to.equal("UNSUPPORTED_CURRENCY");
    expect((await create("nonce-create-00000003", { amount: "x" })).status).to.equal(400);
    await gw.restart();
    for (const nonce of ["nonce-create-00000001", "nonce-create-00000002", "nonce-create-00000003"]) {
      const again = await create(nonce, paymentBody(payer, `o-${nonce}`));
      expect(again.body["code"], nonce).to.equal("AUTH_NONCE_REUSED");
    }
  });

  it("answers an unknown key id exactly as a bad signature, so key ids cannot be probed", async function () {
    const unknown = await signedInject(gw.app, { keyId: "key_00000000000000000000000000000000", secret: "sk_x" }, "GET", LIST, undefined, { timestamp: seconds() });
    const badSignature = await signedInject(gw.app, merchant(0), "GET", LIST, undefined, { timestamp: seconds(), secret: "sk_x" });
    expect(unknown.status).to.equal(401);
    expect(unknown.body["code"]).to.equal("AUTH_BAD_SIGNATURE");
    expect([unknown.status, unknown.body]).to.deep.equal([badSignature.status, badSignature.body]);
  });

  it("serves /metrics only with an admin credential, never to a merchant", async function () {
    expect((await gw.app.inject({ method: "GET", url: "/metrics" })).statusCode).to.equal(401);
    const asMerchant = await signedInject(gw.app, merchant(0), "GET", "/metrics", undefined, { timestamp: seconds() });
    expect([asMerchant.status, asMerchant.body["code"]]).to.deep.equal([401, "ADMIN_AUTH_FAILED"]);
    expect(await gw.metrics()).to.match(/gateway_/);
  });

  it("keeps old and new keys valid during a rotation's overlap, then only the new one", async function () {
    const modules = { storage: gw.storage, secrets: gw.secrets, now: () => clock };
    const old = merchant(1);
    const rotated = await rotateApiKeys(old.id, 600, modules);
    expect(rotated.retired.map((k) => k.keyId)).to.deep.equal([old.keyId]);
    const fresh = { keyId: rotated.keyId, secret: rotated.secret };
    expect((await signedInject(gw.app, old, "GET", LIST, undefined, { timestamp: seconds() })).status).to.equal(200);
    expect((await signedInject(gw.app, fresh, "GET", LIST, undefined, { timestamp: seconds() })).status).to.equal(200);

    clock += 601_000;
    const expired = await signedInject(gw.app, old, "GET", LIST, undefined, { timestamp: seconds() });
    expect(expired.status).to.equal(401);
    expect(expired.body["code"]).to.equal("AUTH_KEY_EXPIRED");
    expect((await signedInject(gw.app, fresh, "GET", LIST, undefined, { timestamp: seconds() })).status).to.equal(200);
    gw.merchants[1] = { ...old, ...fresh };
  });

  it("refuses a revoked key at once with AUTH_KEY_REVOKED", async function () {
    const m = merchant(1);
    expect((await signedInject(gw.app, m, "GET", LIST, undefined, { timestamp: seconds() })).status).to.equal(200);
    await revokeApiKey(m.id, m.keyId, { storage: gw.storage, secrets: gw.secrets, now: () => clock });
    const res = await signedInject(gw.app, m, "GET", LIST, undefined, { timestamp: seconds() });
    expect(res.status).to.equal(401);
    expect(res.body["code"]).to.equal("AUTH_KEY_REVOKED");
  });

  it("refuses a body over the limit with BODY_TOO_LARGE", async function () {
    const big = paymentBody(scenario.payers[0]?.address ?? "", "big", { description: "x".repeat(70 * 1024) });
    const res = await signedInject(gw.app, merchant(0), "POST", "/v1/payments", big, { timestamp: seconds() });
    expect(res.status).to.equal(413);
    expect(res.body["code"]).to.equal("BODY_TOO_LARGE");
  });

  describe("per-merchant rate limit", function () {
    let limited: GatewayFixture;
    before(async function () {
      limited = await gatewayFixture({ scenario, app: { rateLimit: { max: 3, timeWindowMs: 60_000 } } });
    });
    after(async function () {
      await limited?.close();
    });

    it("answers 429 RATE_LIMITED with Retry-After once a merchant's budget is spent, without touching other merchants", async function () {
      const [a, b] = limited.merchants;
      if (!a || !b) throw new Error("merchants missing");
      for (let i = 0; i < 3; i++) expect((await signedInject(limited.app, a, "GET", LIST)).status).to.equal(200);
      const refused = await signedInject(limited.app, a, "GET", LIST);
      expect(refused.status).to.equal(429);
      expect(refused.body["code"]).to.equal("RATE_LIMITED");
      expect(Number(refused.headers["retry-after"])).to.be.greaterThan(0);
      expect((await signedInject(limited.app, b, "GET", LIST)).status).to.equal(200);
    });
  });

  describe("per client address rate limit before authentication", function () {
    let limited: GatewayFixture;
    before(async function () {
      limited = await gatewayFixture({ scenario, app: { addressRateLimit: { max: 3, timeWindowMs: 60_000 } } });
    });
    after(async function () {
      await limited?.close();
    });

    it("answers unsigned floods 429 RATE_LIMITED with Retry-After before looking at credentials", async function () {
      const unsigned = () => limited.app.inject({ method: "GET", url: LIST, remoteAddress: "198.51.100.7" });
      for (let i = 0; i < 3; i++) expect((await unsigned()).statusCode).to.equal(401);
      const refused = await unsigned();
      expect([refused.statusCode, refused.json().code]).to.deep.equal([429, "RATE_LIMITED"]);
      expect(Number(refused.headers["retry-after"])).to.be.greaterThan(0);
      // A correctly signed request from the same address is refused too: the limit comes first.
      const [a] = limited.merchants;
      if (!a) throw new Error("no merchant");
      const signed = signRequest({ keyId: a.keyId, secret: a.secret, method: "GET", path: LIST });
      expect((await limited.app.inject({ method: "GET", url: LIST, headers: signed, remoteAddress: "198.51.100.7" })).statusCode).to.equal(429);
      // Another address has its own budget.
      expect((await limited.app.inject({ method: "GET", url: LIST, headers: signRequest({ keyId: a.keyId, secret: a.secret, method: "GET", path: LIST }), remoteAddress: "198.51.100.8" })).statusCode).to.equal(200);
    });
  });
});
