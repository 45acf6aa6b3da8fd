/**
 * The hosted checkout's public routes and the console's pages, through `inject` on a real chain
 * (EDR) with the money modules' chain access (no node: nothing here is relayed). The browser tests
 * (test/console/) pay, confirm and read refusals in words through a real node.
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { expect } from "chai";
import { Wallet, type HDNodeWallet } from "ethers";
import { pino } from "pino";

import { MoneyChain } from "../../../gateway/adapters/money-chain.js";
import { CONSOLE_CSP } from "../../../gateway/routes/console/index.js";
import type { CheckoutView } from "../../../gateway/routes/checkout/schemas.js";
import { deployScenario, startChain, type LocalChain, type Scenario } from "../../helpers/chain.js";
import { gatewayFixture, paymentBody, signedInject, type GatewayFixture, type TestMerchant } from "../fixture.js";

interface Created {
  id: string;
  checkoutUrl: string;
}

describe("gateway: hosted checkout routes and console pages", function () {
  this.timeout(120_000);
  let chain: LocalChain;
  let scenario: Scenario;
  let gw: GatewayFixture;
  let merchant: TestMerchant;
  let payer: Wallet | HDNodeWallet;
  let consoleDir: string;
  let clockOffsetMs = 0;

  before(async function () {
    chain = await startChain();
    scenario = await deployScenario(chain, { institutions: 1, merchants: 1, payers: 1, payerFunds: 1_000_000n });
    payer = scenario.payers[0] as Wallet | HDNodeWallet;
    consoleDir = await mkdtemp(join(tmpdir(), "settlenet-console-"));
    await mkdir(join(consoleDir, "assets"));
    await writeFile(join(consoleDir, "index.html"), "<!doctype html><title>console</title><script type=module src=/assets/app.js></script>");
    await writeFile(join(consoleDir, "assets", "app.js"), "export {};");
    gw = await gatewayFixture({
      scenario,
      now: () => Date.now() + clockOffsetMs,
      app: { consoleDir, publicUrl: "https://pay.example.test/" },
      money: () => ({ chain: new MoneyChain(scenario.chain.url, scenario.deployment, { logger: pino({ level: "silent" }) }) }),
    });
    merchant = gw.merchants[0] as TestMerchant;
  });
  after(async function () {
    await gw?.close();
    await chain?.close();
    if (consoleDir) await rm(consoleDir, { recursive: true, force: true });
  });

  const create = async (ref: string, overrides: Record<string, unknown> = {}) => {
    const res = await signedInject<Created>(gw.app, merchant, "POST", "/v1/payments", paymentBody(payer.address, ref, { expiresIn: 600, ...overrides }));
    expect(res.status, JSON.stringify(res.body)).to.equal(201);
    return res.body;
  };
  const view = async (id: string) => gw.app.inject({ method: "GET", url: `/v1/checkout/${id}` });

  it("returns the checkout URL with a new payment, and the payer's view of it without a credential", async function () {
    const created = await create("co-1", { description: "a teapot" });
    expect(created.checkoutUrl).to.equal(`https://pay.example.test/checkout/${created.id}`);
    const res = await view(created.id);
    expect(res.statusCode).to.equal(200);
    const body = res.json<CheckoutView>();
    expect(body).to.include({ object: "checkout", id: created.id, status: "awaiting_authorization", merchantOrderId: "co-1", amount: "10000", currency: "CNY", decimals: 2, expired: false });
    expect(body.merchantName).to.equal("Jasmine Tea Shop");
    expect(body.merchantAccount).to.equal(merchant.address);
    expect(body.terms.fulfilmentPeriodSeconds).to.be.above(0);
    expect(body.payerAccount).to.deep.equal({ balanceSufficient: true, allowanceSufficient: true, frozen: false });
    expect(body.typedData?.primaryType).to.equal("Payment");
    expect(body.actions).to.deep.equal({ confirm: false, dispute: false, reclaim: false });
  });

  it("answers PAYMENT_NOT_FOUND for an id nobody created", async function () {
    const res = await view(`pay_${"0".repeat(32)}`);
    expect(res.statusCode).to.equal(404);
    expect(res.json().code).to.equal("PAYMENT_NOT_FOUND");
  });

  it("refuses an authorization signed by anyone but the payer, before anything is stored", async function () {
    const created = await create("co-2");
    const typedData = (await view(created.id)).json<CheckoutView>().typedData;
    if (!typedData) throw new Error("no typed data");
    const other = Wallet.createRandom();
    const signature = await other.signTypedData(typedData.domain, typedData.types, typedData.message);
    const res = await gw.app.inject({ method: "POST", url: `/v1/checkout/${created.id}/authorization`, payload: { signature } });
    expect(res.statusCode).to.equal(422);
    expect(res.json()).to.include({ code: "BAD_SIGNATURE" });
    expect((await gw.storage.orders.get(created.id))?.authorization).to.equal(undefined);
  });

  it("refuses the payer's authorization of an order with a balance too small, and of an expired order", async function () {
    const big = await create("co-3", { amount: "1000001" });
    const bigData = (await view(big.id)).json<CheckoutView>().typedData;
    if (!bigData) throw new Error("no typed data");
    const tooMuch = await gw.app.inject({ method: "POST", url: `/v1/checkout/${big.id}/authorization`, payload: { signature: await payer.signTypedData(bigData.domain, bigData.types, bigData.message) } });
    expect(tooMuch.json()).to.include({ code: "PAYER_INSUFFICIENT_BALANCE", amount: "1000001" });
    expect(tooMuch.json()).to.not.have.property("balance");
    expect((await view(big.id)).json<CheckoutView>().payerAccount?.balanceSufficient).to.equal(false);

    const soon = await create("co-4", { expiresIn: 60 });
    const soonData = (await view(soon.id)).json<CheckoutView>().typedData;
    if (!soonData) throw new Error("no typed data");
    clockOffsetMs = 120_000;
    try {
      expect((await view(soon.id)).json<CheckoutView>()).to.include({ expired: true, typedData: null });
      const late = await gw.app.inject({ method: "POST", url: `/v1/checkout/${soon.id}/authorization`, payload: { signature: await payer.signTypedData(soonData.domain, soonData.types, soonData.message) } });
      expect(late.statusCode).to.equal(409);
      expect(late.json()).to.include({ code: "ORDER_EXPIRED" });
    } finally {
      clockOffsetMs = 0;
    }
  });

  it("refuses a dispute payload without a reason", async function () {
    const created = await create("co-5");
    const noReason = await gw.app.inject({ method: "GET", url: `/v1/checkout/${created.id}/dispute` });
    expect(noReason.json()).to.include({ code: "MALFORMED" });
  });

  it("serves the console's pages and assets with a strict Content-Security-Policy", async function () {
    for (const url of ["/checkout/pay_0123", "/dashboard", "/dashboard/payments"]) {
      const page = await gw.app.inject({ method: "GET", url });
      expect(page.statusCode, url).to.equal(200);
      expect(page.headers["content-type"]).to.match(/^text\/html/);
      expect(page.headers["content-security-policy"]).to.equal(CONSOLE_CSP);
      expect(page.headers["x-frame-options"]).to.equal("DENY");
    }
    const asset = await gw.app.inject({ method: "GET", url: "/assets/app.js" });
    expect(asset.statusCode).to.equal(200);
    expect(asset.headers["content-security-policy"]).to.equal(CONSOLE_CSP);
    expect(CONSOLE_CSP).to.include("script-src 'self'").and.not.include("unsafe");
    // The dashboard's JSON API shares the prefix: an unknown API path is a problem, not the page.
    const unknownApi = await gw.app.inject({ method: "GET", url: "/dashboard/api/nothing-here" });
    expect([unknownApi.statusCode, unknownApi.json<{ code: string }>().code]).to.deep.equal([404, "ROUTE_NOT_FOUND"]);
    const session = await gw.app.inject({ method: "GET", url: "/dashboard/api/session" });
    expect(session.headers["content-type"]).to.match(/json/);
  });
});

describe("gateway: without a console build, and the checkout's address budget", function () {
  this.timeout(120_000);
  let chain: LocalChain;
  let gw: GatewayFixture;

  before(async function () {
    chain = await startChain();
    const scenario = await deployScenario(chain, { institutions: 1, merchants: 1, payers: 1 });
    gw = await gatewayFixture({ scenario, app: { consoleDir: join(tmpdir(), "settlenet-no-console-here"), checkoutRateLimit: { max: 3, timeWindowMs: 60_000 } } });
  });
  after(async function () {
    await gw?.close();
    await chain?.close();
  });

  it("still starts and answers the console's paths with CONSOLE_NOT_BUILT saying how to build", async function () {
    expect((await gw.app.inject({ method: "GET", url: "/health" })).statusCode).to.equal(200);
    for (const url of ["/checkout/pay_0123", "/dashboard", "/assets/index.js"]) {
      const res = await gw.app.inject({ method: "GET", url });
      expect(res.statusCode, url).to.equal(503);
      expect(res.json().code).to.equal("CONSOLE_NOT_BUILT");
      expect(res.json().title).to.include("npm run console:build");
    }
  });

  it("answers RATE_LIMITED once a client address used its checkout budget", async function () {
    const url = `/v1/checkout/pay_${"1".repeat(32)}`;
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await gw.app.inject({ method: "GET", url })).statusCode);
    expect(statuses).to.deep.equal([404, 404, 404, 429]);
  });
});
