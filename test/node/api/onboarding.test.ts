/**
 * Operators onboard merchants and customers through the node API, against a real node and chain: the
 * node signs with its operator key through its own sender, the registry holds the result, a repeat is
 * answered as already done, a conflict is refused with a code, every sent action is in the audit log
 * (its intent before the transaction, its outcome after), and only operators may.
 */
import { Wallet, keccak256, toUtf8Bytes } from "ethers";
import { expect } from "chai";

import { bearer } from "../../../core/api/auth.js";
import { verifyAuditLogOf } from "../../../node/api/admin-cli.js";
import { startApiNode, type ApiNode } from "../../core/api/fixture.js";
import { waitFor } from "../../helpers/network.js";

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

  it("logs the outcome of a transaction the chain refused as failed, naming its intent", async function () {
    // Two registrations of one address, both checked against the registry before either is mined:
    // blocks wait until both are sent, so the second transaction is refused by the chain itself.
    const provider = api.chain.provider;
    const registry = api.scenario.deployment.contracts.registry.toLowerCase();
    const merchant = Wallet.createRandom().address;
    const terms = { address: merchant, kycLevel: 1, feeBps: 50, payoutAccount: "CN99 0000" };
    const pendingToRegistry = async () => {
      const block = (await provider.send("eth_getBlockByNumber", ["pending", true])) as { transactions: { to: string | null }[] };
      return block.transactions.filter((tx) => tx.to?.toLowerCase() === registry).length;
    };
    await provider.send("evm_setAutomine", [false]);
    let answers: Awaited<ReturnType<typeof call>>[];
    try {
      const first = call("operator", "POST", "/v1/admin/merchants", terms);
      await waitFor("the first registration to be sent", async () => (await pendingToRegistry()) === 1, 60_000, 50);
      let secondDone = false;
      const second = call("operator", "POST", "/v1/admin/merchants", terms).finally(() => (secondDone = true));
      // Refused at its gas estimate against the pending block, or sent and refused when mined.
      await waitFor("the second registration to be refused or sent", async () => secondDone || (await pendingToRegistry()) === 2, 60_000, 50);
      await provider.send("evm_mine", []);
      answers = await Promise.all([first, second]);
    } finally {
      await provider.send("evm_setAutomine", [true]);
    }
    expect(answers.map((a) => [a.status, a.body["code"] ?? a.body.results?.[0]?.changed])).to.deep.equal([
      [200, true],
      [422, "TX_REVERTED"],
    ]);

    const entries = (await api.client.auditLog({ limit: 1_000 })).entries.filter((e) => e.target === merchant.toLowerCase());
    expect(entries.map((e) => e.action).sort()).to.deep.equal(["merchant.register", "merchant.register.failed", "merchant.register.intent", "merchant.register.intent"]);
    const intents = entries.filter((e) => e.action === "merchant.register.intent").map((e) => String(e.seq));
    const done = entries.find((e) => e.action === "merchant.register");
    const failed = entries.find((e) => e.action === "merchant.register.failed");
    expect(failed?.details).to.deep.include({ code: "TX_REVERTED" });
    // Each outcome closes its own intent, logged before it.
    expect([...(done?.details?.["intents"] as string[]), ...(failed?.details?.["intents"] as string[])].sort()).to.deep.equal(intents.sort());
    expect(Number((failed?.details?.["intents"] as string[])[0])).to.be.below(failed?.seq ?? 0);
    const verified = await verifyAuditLogOf(api.client);
    expect(verified.ok, JSON.stringify(verified)).to.equal(true);
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
