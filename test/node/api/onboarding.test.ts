/**
 * Operators onboard merchants and customers through the node API, against a real node and chain: the
 * node signs with its operator key through its own sender, the registry holds the result, a repeat is
 * answered as already done, a conflict is refused with a code, every sent action is in the audit log
 * (its intent before the transaction, its outcome after), and only operators may.
 */
import { Wallet, keccak256, toUtf8Bytes } from "ethers";
import { expect } from "chai";

import { bearer } from "../../../core/api/auth.js";
import { startApiNode, type ApiNode } from "../../core/api/fixture.js";

describe("node API: onboarding of merchants and customers", function () {
  this.timeout(300_000);
  let api: ApiNode;

  before(async function () {
    api = await startApiNode();
  });
  after(async function () {
    await api?.stop();
  });

  async function call(role: "operator" | "regulator", method: string, path: string, body?: unknown) {
    const response = await fetch(`${api.node.apiUrl}${path}`, {
      method,
      headers: { authorization: bearer(api.credentials[role]!), ...(body === undefined ? {} : { "content-type": "application/json" }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> & { results?: { changed: boolean; txHash?: string }[]; account?: Record<string, unknown> } };
  }

  it("registers a merchant with its terms, answers a repeat as done, refuses other terms, suspends and reactivates it, each sent action audited", async function () {
    const merchant = Wallet.createRandom().address;
    const terms = { address: merchant, kycLevel: 2, feeBps: 120, payoutAccount: "CN12 3456 7890" };
    const registered = await call("operator", "POST", "/v1/admin/merchants", terms);
    expect(registered.status, JSON.stringify(registered.body)).to.equal(200);
    expect(registered.body.results?.[0]).to.include({ changed: true });
    expect(registered.body.account).to.include({ kind: "merchant", status: "active", kycLevel: 2, feeBps: 120, payoutAccount: keccak256(toUtf8Bytes("CN12 3456 7890")) });

    const again = await call("operator", "POST", "/v1/admin/merchants", terms);
    expect([again.status, again.body.results?.[0]?.changed]).to.deep.equal([200, false]);
    const differs = await call("operator", "POST", "/v1/admin/merchants", { ...terms, feeBps: 90 });
    expect([differs.status, differs.body["code"]]).to.deep.equal([409, "MERCHANT_TERMS_DIFFER"]);

    const updated = await call("operator", "PUT", `/v1/admin/merchants/${merchant}`, { feeBps: 90 });
    expect(updated.body.account).to.include({ feeBps: 90, kycLevel: 2 });

    const suspended = await call("operator", "PUT", `/v1/admin/accounts/${merchant}/status`, { status: "suspended" });
    expect(suspended.status).to.equal(200);
    expect((await call("operator", "GET", `/v1/admin/accounts/${merchant}`)).body).to.include({ kind: "merchant", status: "suspended" });
    const reactivated = await call("operator", "PUT", `/v1/admin/accounts/${merchant}/status`, { status: "active" });
    expect(reactivated.body.account).to.include({ status: "active" });

    // Each sent action: its intent logged before the transaction, its outcome after, naming the intent.
    const entries = (await api.client.auditLog({ limit: 1_000 })).entries.filter((e) => e.target === merchant.toLowerCase());
    expect(entries.map((e) => e.action)).to.deep.equal([
      "merchant.register.intent",
      "merchant.register",
      "merchant.update.intent",
      "merchant.update",
      "merchant.suspend.intent",
      "merchant.suspend",
      "merchant.reactivate.intent",
      "merchant.reactivate",
    ]);
    const [intent, outcome] = entries;
    expect(intent?.details).to.deep.include({ method: "registerMerchant", kycLevel: 2, feeBps: 120 });
    expect(outcome?.details?.["intents"]).to.deep.equal([String(intent?.seq)]);
    expect(outcome?.details?.["txHashes"]).to.deep.equal([registered.body.results?.[0]?.txHash]);
    expect(entries.every((e) => e.role === "operator" && e.actor.startsWith("credential:"))).to.equal(true);
  });

  it("opens a customer account and changes its KYC level; refuses bad input and unknown accounts with codes", async function () {
    const customer = Wallet.createRandom().address;
    const opened = await call("operator", "POST", "/v1/admin/customers", { address: customer, kycLevel: 1 });
    expect(opened.body.account).to.include({ kind: "customer", status: "active", kycLevel: 1 });
    const raised = await call("operator", "PUT", `/v1/admin/customers/${customer}`, { kycLevel: 3 });
    expect(raised.body.account).to.include({ kycLevel: 3 });

    const asMerchant = await call("operator", "POST", "/v1/admin/merchants", { address: customer, kycLevel: 1, feeBps: 10, payoutAccount: "x" });
    expect([asMerchant.status, asMerchant.body["code"]]).to.deep.equal([409, "ACCOUNT_EXISTS"]);
    const unknown = await call("operator", "PUT", `/v1/admin/accounts/${Wallet.createRandom().address}/status`, { status: "suspended" });
    expect([unknown.status, unknown.body["code"]]).to.deep.equal([404, "NOT_REGISTERED"]);
    const bad = await call("operator", "POST", "/v1/admin/customers", { address: customer, kycLevel: 1, extra: true });
    expect(bad.status).to.equal(400);
  });

  it("refuses a regulator every onboarding route", async function () {
    const someone = Wallet.createRandom().address;
    for (const [method, path, body] of [
      ["GET", `/v1/admin/accounts/${someone}`, undefined],
      ["POST", "/v1/admin/merchants", { address: someone, kycLevel: 1, feeBps: 10, payoutAccount: "x" }],
      ["PUT", `/v1/admin/accounts/${someone}/status`, { status: "suspended" }],
    ] as const) {
      const refused = await call("regulator", method, path, body);
      expect([refused.status, refused.body["code"]], `${method} ${path}`).to.deep.equal([403, "FORBIDDEN"]);
    }
  });
});
