import { expect } from "chai";
import type { Agent } from "undici";

import { BenchGatewayClient, benchAgent } from "../../bench/lib/gateway-client.js";
import { deployScenario, startChain, type LocalChain, type Scenario } from "../helpers/chain.js";
import { gatewayFixture, paymentBody, type GatewayFixture } from "../gateway/fixture.js";

describe("bench: the load generator's gateway client", function () {
  this.timeout(60_000);
  let chain: LocalChain;
  let scenario: Scenario;
  let gw: GatewayFixture;
  let agent: Agent;
  let client: BenchGatewayClient;

  before(async function () {
    chain = await startChain();
    scenario = await deployScenario(chain, { institutions: 1, merchants: 1, payers: 1 });
    gw = await gatewayFixture({ scenario });
    const url = await gw.app.listen({ host: "127.0.0.1", port: 0 });
    const merchant = gw.merchants[0];
    if (!merchant) throw new Error("no merchant");
    agent = benchAgent();
    client = new BenchGatewayClient(url, { keyId: merchant.keyId, secret: merchant.secret }, agent);
  });
  after(async function () {
    await agent?.close();
    await gw?.close();
    await chain?.close();
  });

  it("signs requests the gateway accepts, with a fresh nonce and Idempotency-Key each over kept-alive connections", async function () {
    const payer = scenario.payers[0];
    if (!payer) throw new Error("no payer");
    // Back to back within one second: a repeated nonce would be AUTH_NONCE_REUSED, a repeated key a replay.
    const first = await client.post<{ id: string; status: string }>("/v1/payments", paymentBody(payer.address, "bench-client-1"));
    const second = await client.post<{ id: string }>("/v1/payments", paymentBody(payer.address, "bench-client-2"));
    const again = await client.post<{ id: string }>("/v1/payments", paymentBody(payer.address, "bench-client-1"));
    expect([first.status, second.status, again.status], JSON.stringify([first.body, second.body, again.body])).to.deep.equal([201, 201, 200]);
    expect(again.body.id).to.equal(first.body.id);
    expect(second.body.id).to.not.equal(first.body.id);
    const listed = await client.get<{ items: { id: string }[] }>("/v1/payments?limit=5");
    expect(listed.status).to.equal(200);
    expect(listed.body.items.map((p) => p.id)).to.have.members([first.body.id, second.body.id]);
  });

  it("passes the gateway's refusal through with its code", async function () {
    const refused = await client.post<{ code: string }>("/v1/payments", { amount: "x" });
    expect(refused.status).to.equal(400);
    expect(refused.body.code).to.be.a("string");
  });
});
