import { expect } from "chai";
import { TypedDataEncoder, verifyTypedData } from "ethers";

import { deployScenario, startChain, type LocalChain, type Scenario } from "../../helpers/chain.js";
import { gatewayFixture, paymentBody, signedInject, type GatewayFixture, type TestMerchant } from "../fixture.js";

interface View {
  id: string;
  status: string;
  paymentId: string;
  feeBps: number;
  merchantOrderId: string;
  expiresAt: string;
  typedData: { domain: Record<string, unknown>; types: Record<string, { name: string; type: string }[]>; primaryType: string; message: Record<string, unknown> };
}

describe("gateway: payment orders and merchant isolation", function () {
  this.timeout(60_000);
  let chain: LocalChain;
  let scenario: Scenario;
  let gw: GatewayFixture;
  let a: TestMerchant;
  let b: TestMerchant;
  let payer: string;

  before(async function () {
    chain = await startChain();
    scenario = await deployScenario(chain, { institutions: 1, merchants: 2, payers: 1, merchantFeeBps: 150 });
    // A clock that never answers the same millisecond twice: orders created in a row sort by creation.
    let lastMs = 0;
    gw = await gatewayFixture({ scenario, now: () => (lastMs = Math.max(Date.now(), lastMs + 1)) });
    [a, b] = gw.merchants as [TestMerchant, TestMerchant];
    payer = scenario.payers[0]?.address ?? "";
  });
  after(async function () {
    await gw?.close();
    await chain?.close();
  });

  it("creates an order whose typed data, signed by the payer, is the payment id with the merchant's registered fee", async function () {
    const res = await signedInject<View>(gw.app, a, "POST", "/v1/payments", paymentBody(payer, "order-1", { expiresIn: 600 }));
    expect(res.status).to.equal(201);
    const view = res.body;
    expect(view.id).to.match(/^pay_[0-9a-f]{32}$/);
    expect(view.status).to.equal("awaiting_authorization");
    expect(view.feeBps).to.equal(150);
    const expires = Date.parse(view.expiresAt);
    expect(expires).to.be.within(Date.now() + 590_000, Date.now() + 610_000);
    const { domain, types, message, primaryType } = view.typedData;
    expect(primaryType).to.equal("Payment");
    expect(domain["verifyingContract"]).to.equal(scenario.deployment.contracts.escrow);
    expect(message["merchant"]).to.equal(a.address);
    expect(message["feeBps"]).to.equal(150);
    expect(TypedDataEncoder.hash(domain, types, message)).to.equal(view.paymentId);
    const wallet = scenario.payers[0];
    if (!wallet) throw new Error("no payer");
    const signature = await wallet.signTypedData(domain, types, message);
    expect(verifyTypedData(domain, types, message, signature)).to.equal(payer);
    // The escrow computes the same id from the terms.
    expect(await scenario.contracts.escrow.paymentIdOf({ ...message } as never)).to.equal(view.paymentId);
  });

  it("returns the existing order for the same merchantOrderId and body, and 409 for a different body", async function () {
    const body = paymentBody(payer, "order-2");
    const first = await signedInject<View>(gw.app, a, "POST", "/v1/payments", body);
    const same = await signedInject<View>(gw.app, a, "POST", "/v1/payments", body);
    expect(first.status).to.equal(201);
    expect(same.status).to.equal(200);
    expect(same.body.id).to.equal(first.body.id);
    const different = await signedInject(gw.app, a, "POST", "/v1/payments", { ...body, amount: "1" });
    expect(different.status).to.equal(409);
    expect(different.body["code"]).to.equal("MERCHANT_ORDER_ID_CONFLICT");
  });

  it("refuses unknown currencies, amounts over uint96 and unknown fields with coded errors", async function () {
    const currency = await signedInject(gw.app, a, "POST", "/v1/payments", paymentBody(payer, "order-3", { currency: "USD" }));
    expect(currency.body["code"]).to.equal("UNSUPPORTED_CURRENCY");
    const amount = await signedInject(gw.app, a, "POST", "/v1/payments", paymentBody(payer, "order-4", { amount: (1n << 96n).toString() }));
    expect(amount.body["code"]).to.equal("AMOUNT_TOO_LARGE");
    const extra = await signedInject(gw.app, a, "POST", "/v1/payments", paymentBody(payer, "order-5", { color: "red" }));
    expect(extra.status).to.equal(400);
    expect(extra.body["code"]).to.equal("MALFORMED");
    const number = await signedInject(gw.app, a, "POST", "/v1/payments", paymentBody(payer, "order-6", { amount: 100 }));
    expect(number.body["code"]).to.equal("MALFORMED");
    const notJson = await signedInject(gw.app, a, "POST", "/v1/payments", undefined, { rawBody: "{not json" });
    expect(notJson.status).to.equal(400);
    expect(notJson.body["code"]).to.equal("MALFORMED");
    const text = await signedInject(gw.app, a, "POST", "/v1/payments", undefined, { rawBody: "amount=1", headers: { "content-type": "text/plain" } });
    expect(text.status).to.equal(415);
    expect(text.body["code"]).to.equal("UNSUPPORTED_MEDIA_TYPE");
  });

  it("refuses a payer address with a wrong EIP-55 checksum as BAD_ADDRESS and takes one in lowercase", async function () {
    // Flip the case of one letter of the checksummed address: still hex, checksum wrong.
    const at = [...payer].findIndex((c, i) => i > 1 && /[a-fA-F]/.test(c));
    const flipped = payer.slice(0, at) + (payer[at] === payer[at]?.toUpperCase() ? payer[at]?.toLowerCase() : payer[at]?.toUpperCase()) + payer.slice(at + 1);
    for (const [what, bad] of [
      ["wrong checksum", flipped],
      ["too short", payer.slice(0, 41)],
      ["not hex", `0x${"g".repeat(40)}`],
    ] as const) {
      const res = await signedInject(gw.app, a, "POST", "/v1/payments", paymentBody(bad, `order-bad-${what}`));
      expect([res.status, res.body["code"]], what).to.deep.equal([400, "BAD_ADDRESS"]);
      expect(JSON.stringify(res.body), what).to.not.match(/ethers|version=/);
    }
    const transfer = await signedInject(gw.app, a, "POST", "/v1/transfers", { to: flipped, amount: "1", currency: "CNY", reference: "r-bad" });
    expect([transfer.status, transfer.body["code"]]).to.deep.equal([400, "BAD_ADDRESS"]);
    expect((await signedInject(gw.app, a, "POST", "/v1/payments", paymentBody(payer.toLowerCase(), "order-lowercase"))).status).to.equal(201);
    expect(await gw.storage.orders.getByMerchantOrderId(a.id, `order-bad-wrong checksum`)).to.equal(undefined);
  });

  it("answers a chain failure with 503 CHAIN_UNAVAILABLE and a fixed title, never the library's message", async function () {
    // The same merchants, with the chain's JSON-RPC endpoint on a closed port.
    const cut = await gatewayFixture({ scenario: { ...scenario, chain: { ...chain, url: "http://127.0.0.1:9" } as LocalChain } });
    try {
      const [m] = cut.merchants as [TestMerchant];
      const res = await signedInject(cut.app, m, "POST", "/v1/payments", paymentBody(payer, "order-no-chain"));
      expect([res.status, res.body["code"]]).to.deep.equal([503, "CHAIN_UNAVAILABLE"]);
      expect(JSON.stringify(res.body)).to.not.match(/ethers|version=|ECONNREFUSED|127\.0\.0\.1:9/);
    } finally {
      await cut.close();
    }
  });

  it("lists a merchant's payments newest first with cursor pagination and filters", async function () {
    for (let i = 0; i < 5; i++) {
      expect((await signedInject(gw.app, b, "POST", "/v1/payments", paymentBody(payer, `page-${i}`))).status).to.equal(201);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const path: string = `/v1/payments?limit=2${cursor ? `&cursor=${cursor}` : ""}`;
      const page = await signedInject<{ items: View[]; nextCursor: string | null }>(gw.app, b, "GET", path);
      expect(page.status).to.equal(200);
      seen.push(...page.body.items.map((v) => v.merchantOrderId));
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(seen).to.deep.equal(["page-4", "page-3", "page-2", "page-1", "page-0"]);

    const held = await signedInject<{ items: View[] }>(gw.app, b, "GET", "/v1/payments?status=held");
    expect(held.body.items).to.have.length(0);
    const waiting = await signedInject<{ items: View[] }>(gw.app, b, "GET", "/v1/payments?status=awaiting_authorization&limit=100");
    expect(waiting.body.items).to.have.length(5);
    const future = new Date(Date.now() + 3_600_000).toISOString();
    const none = await signedInject<{ items: View[] }>(gw.app, b, "GET", `/v1/payments?from=${encodeURIComponent(future)}`);
    expect(none.body.items).to.have.length(0);
  });

  it("never shows or acts on another merchant's payment: 404 exactly as for an unknown id", async function () {
    const created = await signedInject<View>(gw.app, a, "POST", "/v1/payments", paymentBody(payer, "private-1"));
    const id = created.body.id;
    const before = await signedInject<View>(gw.app, a, "GET", `/v1/payments/${id}`);
    const storedBefore = await gw.storage.orders.get(id);
    const unknown = "pay_0123456789abcdef0123456789abcdef";
    const attempts: [method: "GET" | "POST", suffix: string, body?: unknown][] = [
      ["GET", ""],
      ["POST", "/authorization", { signature: `0x${"11".repeat(65)}` }],
      ["POST", "/fulfilment", {}],
      ["POST", "/refunds", { amount: "1", reason: "test" }],
      ["POST", "/cancel", {}],
    ];
    for (const [method, suffix, body] of attempts) {
      const theirs = await signedInject(gw.app, b, method, `/v1/payments/${id}${suffix}`, body);
      const missing = await signedInject(gw.app, b, method, `/v1/payments/${unknown}${suffix}`, body);
      expect(theirs.status, `${method} ${suffix}`).to.equal(404);
      expect(theirs.body["code"]).to.equal("PAYMENT_NOT_FOUND");
      expect(Object.keys(theirs.body).sort()).to.deep.equal(Object.keys(missing.body).sort());
    }
    const listed = await signedInject<{ items: View[] }>(gw.app, b, "GET", "/v1/payments?merchantOrderId=private-1");
    expect(listed.body.items).to.have.length(0);
    const all = await signedInject<{ items: View[] }>(gw.app, b, "GET", "/v1/payments?limit=100");
    expect(all.body.items.map((v) => v.id)).to.not.include(id);
    // The owner still sees it exactly as before b's cancel, refund and authorization attempts (the node
    // is not running: the stored view is answered).
    const own = await signedInject<View>(gw.app, a, "GET", `/v1/payments/${id}`);
    expect(own.status).to.equal(200);
    expect(own.body).to.deep.equal(before.body);
    expect(own.body.status).to.equal("awaiting_authorization");
    expect(await gw.storage.orders.get(id)).to.deep.equal(storedBefore);
  });

  it("answers the payer's and the money routes with 503 MONEY_NOT_CONFIGURED on a gateway without money modules", async function () {
    const created = await signedInject<View>(gw.app, a, "POST", "/v1/payments", paymentBody(payer, "order-no-money"));
    expect(created.status).to.equal(201);
    const id = created.body.id;
    for (const [method, path, body] of [
      ["GET", `/v1/payments/${id}/confirm`, undefined],
      ["GET", `/v1/payments/${id}/reclaim`, undefined],
      ["POST", `/v1/payments/${id}/confirm`, { nonce: "1", deadline: "1", signature: `0x${"11".repeat(65)}` }],
      ["GET", "/v1/balance", undefined],
      ["GET", "/v1/payouts", undefined],
      ["GET", `/v1/topups/tu_${"0".repeat(24)}`, undefined],
      ["POST", "/v1/transfers", { to: b.address, amount: "1", currency: "CNY", reference: "r-1" }],
      ["GET", "/v1/reports/threeway", undefined],
    ] as const) {
      const res = await signedInject<{ code: string }>(gw.app, a, method, path, body);
      expect([res.status, res.body.code], `${method} ${path}`).to.deep.equal([503, "MONEY_NOT_CONFIGURED"]);
    }
    // Listing disputes needs no money modules: none were relayed here.
    const disputes = await signedInject<{ items: unknown[] }>(gw.app, a, "GET", "/v1/disputes");
    expect([disputes.status, disputes.body.items]).to.deep.equal([200, []]);
  });
});
