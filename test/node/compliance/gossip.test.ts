import { expect } from "chai";
import { Registry } from "prom-client";

import { ChainRegistryView } from "../../../node/chain/registry-view.js";
import { buildNodeApi } from "../../../node/api/app.js";
import { testCredentials } from "../../helpers/credentials.js";
import { alertId, type Alert } from "../../../node/compliance/alert.js";
import { decodeAlertMessage, encodeAlertMessages } from "../../../node/compliance/gossip.js";
import { deployScenario, startChain, type LocalChain, type Scenario } from "../../helpers/chain.js";
import { indexedStorage, silent } from "./fixture.js";
import { refusal } from "../../helpers/errors.js";

describe("alert gossip messages and the not-ready gate", function () {
  this.timeout(60_000);

  let chain: LocalChain;
  let s: Scenario;
  let registry: ChainRegistryView;

  before(async function () {
    chain = await startChain();
    s = await deployScenario(chain, { payers: 1 });
    registry = new ChainRegistryView({ deployment: s.deployment, pollIntervalMs: 1_000 }, { provider: chain.provider, logger: silent });
    await registry.start();
  });
  after(async function () {
    await registry.stop();
    await chain.close();
  });

  const sample = (): Alert => ({
    id: alertId("LARGE_VALUE", "0x" + "ab".repeat(32)),
    rule: "LARGE_VALUE",
    category: "aml",
    account: s.payers[0]!.address,
    token: s.deployment.tokens["CNY"]!.address,
    paymentIds: ["0x" + "ab".repeat(32)],
    amount: "10000",
    threshold: "10000",
    facts: { merchant: s.merchants[0]!.address },
    at: 1_700_000_000,
    blockNumber: 12,
  });
  const codeOf = (fn: () => unknown): string => refusal(fn).code;

  it("accepts alerts signed by the reporting institution's registered key", async function () {
    const institution = s.institutions[0]!;
    const [message] = await encodeAlertMessages([sample()], institution.address, institution);
    const decoded = decodeAlertMessage(message!, registry);
    expect(decoded.reporter).to.equal(institution.address);
    expect(decoded.alerts).to.deep.equal([sample()]);
  });

  it("refuses alerts signed by another key, reported by a regulator, tampered with, or malformed", async function () {
    const [forged] = await encodeAlertMessages([sample()], s.institutions[0]!.address, s.institutions[1]!);
    expect(codeOf(() => decodeAlertMessage(forged!, registry))).to.equal("ALERT_MESSAGE_INVALID");
    const [byRegulator] = await encodeAlertMessages([sample()], s.regulator.address, s.regulator);
    expect(codeOf(() => decodeAlertMessage(byRegulator!, registry))).to.equal("ALERT_REPORTER_UNKNOWN");
    const [genuine] = await encodeAlertMessages([sample()], s.institutions[0]!.address, s.institutions[0]!);
    const tampered = new TextEncoder().encode(new TextDecoder().decode(genuine!).replace("10000", "10001"));
    expect(codeOf(() => decodeAlertMessage(tampered, registry))).to.equal("ALERT_MESSAGE_INVALID");
    expect(codeOf(() => decodeAlertMessage(new TextEncoder().encode("{}"), registry))).to.equal("ALERT_MESSAGE_INVALID");
    expect(codeOf(() => decodeAlertMessage(new Uint8Array([0xff, 0xfe]), registry))).to.equal("ALERT_MESSAGE_INVALID");
  });

  it("answers 503 NOT_READY on every route but health, metrics and peers until the node is ready", async function () {
    const store = await indexedStorage(s);
    const credentials = await testCredentials();
    let ready = false;
    const submitted: unknown[] = [];
    const app = await buildNodeApi(
      {},
      {
        logger: silent,
        credentials: credentials.verifier,
        metrics: new Registry(),
        storage: store.storage,
        submit: async (inputs) => {
          submitted.push(...inputs);
          return inputs.map(() => ({ accepted: true as const, id: "0x" + "00".repeat(32) }));
        },
        peers: () => [],
        health: async () => ({ ready, role: "institution", peerId: "p", operator: "o", chain: { head: 1, indexed: 1, registry: 1 }, peers: 0 }),
        onChainPayment: async () => undefined,
        ready: () => ready,
      },
    );
    try {
      const gateway = credentials.as("gateway");
      const post = await app.inject({ method: "POST", url: "/v1/operations", payload: { kind: "release" }, headers: gateway });
      expect([post.statusCode, post.json<{ code: string }>().code]).to.deep.equal([503, "NOT_READY"]);
      expect(submitted).to.deep.equal([]);
      expect((await app.inject({ url: "/v1/payments?limit=1", headers: gateway })).statusCode).to.equal(503);
      expect((await app.inject({ url: "/health" })).statusCode).to.equal(503);
      expect((await app.inject({ url: "/metrics", headers: credentials.as("metrics") })).statusCode).to.equal(200);
      ready = true;
      expect((await app.inject({ method: "POST", url: "/v1/operations", payload: { kind: "release" }, headers: gateway })).statusCode).to.equal(202);
      expect(submitted).to.have.length(1);
    } finally {
      await app.close();
      await store.cleanup();
      await credentials.cleanup();
    }
  });
});
