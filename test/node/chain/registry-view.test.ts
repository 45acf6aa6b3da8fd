import { expect } from "chai";
import { JsonRpcProvider, Network, Wallet, ZeroAddress, encodeBytes32String, getAddress } from "ethers";
import { pino, type Logger } from "pino";

import { ChainRegistryView } from "../../../node/chain/registry-view.js";
import { deployScenario, startChain, type LocalChain, type Scenario } from "../../helpers/chain.js";
import { startTcpProxy } from "../../../scripts/lib/tcp-proxy.js";
import { waitFor } from "../../helpers/network.js";

const ACTIVE = 1;
const SUSPENDED = 2;

/** A logger whose records the test can read. */
function capturingLogger(): { logger: Logger; records: { level: number; msg: string }[] } {
  const records: { level: number; msg: string }[] = [];
  const logger = pino({ level: "debug" }, { write: (line: string) => records.push(JSON.parse(line) as { level: number; msg: string }) });
  return { logger, records };
}

/** Resolves at the next onChange of `view`. */
function nextChange(view: ChainRegistryView, timeoutMs = 60_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no change reported")), timeoutMs);
    view.onChange(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

describe("registry view (ParticipantRegistry mirror)", function () {
  this.timeout(120_000);
  let chain: LocalChain;
  let s: Scenario;
  let view: ChainRegistryView;
  let changes = 0;
  const views: ChainRegistryView[] = [];

  const send = async (tx: Promise<{ wait(): Promise<unknown> }>) => (await tx).wait();
  const make = (options: Partial<ConstructorParameters<typeof ChainRegistryView>[0]> = {}, provider = chain.provider, logger?: Logger) => {
    const created = new ChainRegistryView(
      { deployment: s.deployment, pollIntervalMs: 60_000, ...options },
      { provider, logger: logger ?? pino({ level: "silent" }) },
    );
    views.push(created);
    return created;
  };

  before(async function () {
    chain = await startChain();
    s = await deployScenario(chain, { institutions: 3, merchants: 2, payers: 3, institutionPeerIds: ["peer-a", "peer-b", "peer-c"], regulatorPeerId: "peer-reg" });
    // A small range makes the replay page through many getLogs requests.
    view = make({ maxBlockRange: 5 });
    view.onChange(() => (changes += 1));
    await view.start();
  });

  after(async function () {
    for (const v of views) await v.stop();
    await chain.close();
  });

  it("replays institutions, the regulator, the arbiter, merchants, customers and tokens from the deployment block", function () {
    const [inst0, inst1, inst2] = s.institutions.map((w) => w.address);
    expect(view.activeInstitutions().map((n) => n.id)).to.deep.equal([inst0, inst1, inst2].sort((a, b) => (a!.toLowerCase() < b!.toLowerCase() ? -1 : 1)));
    expect([...view.allowedPeerIds()].sort()).to.deep.equal(["peer-a", "peer-b", "peer-c", "peer-reg"]);
    expect(view.operators().find((n) => n.regulator)).to.include({ id: s.regulator.address, signer: s.regulator.address, active: true, name: "Regulator" });
    expect(view.account(inst0!)).to.deep.equal({ kind: "institution", active: true, kycLevel: 0, feeBps: 0, institution: inst0 });
    expect(view.account(s.regulator.address)).to.equal(undefined);
    expect(view.isArbiter(s.arbiter.address)).to.equal(true);
    expect(view.isArbiter(s.regulator.address)).to.equal(false);
    for (const merchant of s.merchants) {
      expect(view.account(merchant.address)).to.deep.equal({ kind: "merchant", active: true, kycLevel: 2, feeBps: 100, institution: inst0 });
    }
    s.payers.forEach((payer, i) => {
      expect(view.account(payer.address)).to.deep.equal({ kind: "customer", active: true, kycLevel: 1, feeBps: 0, institution: s.institutions[i % 3]!.address });
    });
    expect(view.account(s.deployment.contracts.escrow)).to.include({ kind: "protocol", institution: ZeroAddress });
    const token = s.deployment.tokens["CNY"]!.address;
    expect(view.isSettlementToken(token)).to.equal(true);
    expect(view.isSettlementToken(token.toLowerCase())).to.equal(true);
    expect(view.isSettlementToken(s.deployment.contracts.escrow)).to.equal(false);
    expect(view.account(s.merchants[0]!.address.toLowerCase())?.kind).to.equal("merchant");
    expect(changes).to.be.greaterThan(0);
  });

  it("shows a suspension, a freeze, a new merchant, a fee and KYC change and a key rotation after refresh, and fires onChange", async function () {
    const registry = s.contracts.registry;
    const acquirer = registry.connect(s.institutions[0]!);
    const [merchant, otherMerchant] = s.merchants.map((m) => m.address) as [string, string];
    const payer = s.payers[0]!.address;
    const token = s.deployment.tokens["CNY"]!.address;
    const newMerchant = Wallet.createRandom().address;
    const newKey = Wallet.createRandom().address;

    await send(acquirer.setAccountStatus(merchant, SUSPENDED));
    await send(s.token.connect(s.regulator).setFrozen(payer, true, encodeBytes32String("aml")));
    await send(acquirer.registerMerchant(newMerchant, 3, 250, encodeBytes32String("new")));
    await send(acquirer.setMerchantFee(otherMerchant, 50));
    await send(acquirer.setKycLevel(otherMerchant, 4));
    await send(registry.connect(s.institutions[1]!).rotateKey(newKey));

    // Nothing moves until the mirror refreshes (polling is slowed down to a minute here).
    expect(view.account(merchant)?.active).to.equal(true);
    const before = changes;
    await view.refresh();
    expect(changes).to.equal(before + 1);

    expect(view.account(merchant)?.active).to.equal(false);
    expect(view.isFrozen(token, payer)).to.equal(true);
    expect(view.isFrozen(token.toLowerCase(), payer.toLowerCase())).to.equal(true);
    expect(view.isFrozen(token, s.payers[1]!.address)).to.equal(false);
    expect(view.account(newMerchant)).to.deep.equal({ kind: "merchant", active: true, kycLevel: 3, feeBps: 250, institution: s.institutions[0]!.address });
    expect(view.account(otherMerchant)).to.include({ feeBps: 50, kycLevel: 4 });
    const rotated = view.operators().find((n) => n.id === s.institutions[1]!.address);
    expect(rotated?.signer).to.equal(getAddress(newKey));

    // A refresh with nothing new reports no change.
    await view.refresh();
    expect(changes).to.equal(before + 1);

    await send(s.token.connect(s.regulator).setFrozen(payer, false, encodeBytes32String("cleared")));
    await send(acquirer.setAccountStatus(merchant, ACTIVE));
    await view.refresh();
    expect(view.isFrozen(token, payer)).to.equal(false);
    expect(view.account(merchant)?.active).to.equal(true);
  });

  it("drops a suspended institution and a deactivated or revoked regulator from the peer allowlist", async function () {
    const registry = s.contracts.registry;
    const suspended = s.institutions[2]!.address;
    await send(registry.setInstitutionStatus(suspended, SUSPENDED));
    await send(registry.setRegulatorNodeActive(s.regulator.address, false));
    await view.refresh();
    expect([...view.allowedPeerIds()].sort()).to.deep.equal(["peer-a", "peer-b"]);
    expect(view.activeInstitutions().map((n) => n.id)).to.not.include(suspended);
    expect(view.account(suspended)?.active).to.equal(false);

    await send(registry.setInstitutionStatus(suspended, ACTIVE));
    await send(registry.setRegulatorNodeActive(s.regulator.address, true));
    await view.refresh();
    expect([...view.allowedPeerIds()].sort()).to.deep.equal(["peer-a", "peer-b", "peer-c", "peer-reg"]);

    await send(registry.revokeRole(await registry.REGULATOR_ROLE(), s.regulator.address));
    await send(registry.revokeRole(await registry.ARBITER_ROLE(), s.arbiter.address));
    await view.refresh();
    expect(view.allowedPeerIds().has("peer-reg")).to.equal(false);
    expect(view.isArbiter(s.arbiter.address)).to.equal(false);
    await send(registry.grantRole(await registry.REGULATOR_ROLE(), s.regulator.address));
    await send(registry.grantRole(await registry.ARBITER_ROLE(), s.arbiter.address));
    await view.refresh();
    expect(view.allowedPeerIds().has("peer-reg")).to.equal(true);
    expect(view.isArbiter(s.arbiter.address)).to.equal(true);
  });

  it("picks up a change by itself within a few poll intervals", async function () {
    const polling = make({ pollIntervalMs: 100 });
    await polling.start();
    const changed = nextChange(polling);
    const started = Date.now();
    await send(s.contracts.registry.connect(s.institutions[0]!).updatePeerId("peer-a2"));
    await changed;
    expect(Date.now() - started).to.be.lessThan(5_000);
    expect(polling.allowedPeerIds().has("peer-a2")).to.equal(true);
    expect(polling.allowedPeerIds().has("peer-a")).to.equal(false);
    await polling.stop();
  });

  it("keeps serving its last state while the RPC is down, and catches up when it returns", async function () {
    const proxy = await startTcpProxy(chain.url);
    const network = Network.from(BigInt(s.deployment.chainId));
    const provider = new JsonRpcProvider(proxy.url, network, { staticNetwork: network, cacheTimeout: -1, batchMaxCount: 1 });
    const { logger, records } = capturingLogger();
    const flaky = make({ pollIntervalMs: 100 }, provider, logger);
    try {
      await flaky.start();
      const merchant = s.merchants[1]!.address;
      expect(flaky.account(merchant)?.active).to.equal(true);

      await proxy.pause();
      await send(s.contracts.registry.connect(s.institutions[0]!).setAccountStatus(merchant, SUSPENDED));
      let failed = false;
      await flaky.refresh().catch(() => (failed = true));
      expect(failed).to.equal(true);
      expect(flaky.account(merchant)?.active).to.equal(true);
      // The poll loop logs the failure and goes on.
      await waitFor("the poll loop to log a failed refresh", () => records.some((r) => r.level === 40 && r.msg === "registry refresh failed"));

      const changed = nextChange(flaky);
      await proxy.resume();
      await changed;
      expect(flaky.account(merchant)?.active).to.equal(false);
      await send(s.contracts.registry.connect(s.institutions[0]!).setAccountStatus(merchant, ACTIVE));
    } finally {
      await flaky.stop();
      provider.destroy();
      await proxy.close();
    }
  });

  it("takes the registry's node list as the truth when the event replay missed operators", async function () {
    // A deployment block past every registration: the replay sees no InstitutionRegistered at all.
    const late = { ...s.deployment, deploymentBlock: await chain.provider.getBlockNumber() };
    const { logger, records } = capturingLogger();
    const partial = make({ deployment: late }, chain.provider, logger);
    await partial.start();
    await view.refresh();
    expect(partial.operators().map((n) => n.id).sort()).to.deep.equal(view.operators().map((n) => n.id).sort());
    expect([...partial.allowedPeerIds()].sort()).to.deep.equal([...view.allowedPeerIds()].sort());
    expect(records.filter((r) => r.level === 40 && r.msg.includes("differs from registry.nodes()")).length).to.equal(4);
    expect(records.filter((r) => r.level === 40 && r.msg.includes("differs from registry.hasRole()")).length).to.equal(1);
    await partial.stop();
  });
});
