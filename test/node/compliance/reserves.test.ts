import { expect } from "chai";
import { Wallet, encodeBytes32String, parseEther, type ContractTransactionResponse } from "ethers";
import { Registry } from "prom-client";

import type { AlertRecord } from "../../../node/compliance/alert.js";
import { ReserveMonitor, reserveRatio } from "../../../node/compliance/reserves.js";
import type { NodeStorage } from "../../../node/storage/db.js";
import { deployScenario, startChain, type LocalChain, type Scenario } from "../../helpers/chain.js";
import { chainNow, indexedStorage, setNextBlockTime, silent } from "./fixture.js";

describe("proof of reserves", function () {
  this.timeout(90_000);

  let chain: LocalChain;
  let s: Scenario;
  let storage: NodeStorage;
  let cleanup: () => Promise<void>;
  const FUNDS = 10_000_000n;

  before(async function () {
    chain = await startChain();
    // Institution 0 is the custodian: it attested FUNDS × 3 and minted FUNDS to each of the two payers.
    s = await deployScenario(chain, { payers: 2, payerFunds: FUNDS });
    ({ storage, cleanup } = await indexedStorage(s));
  });
  after(async function () {
    await cleanup();
    await chain.close();
  });

  const monitor = (maxAttestationAgeSeconds = 1_000, minRatioBps = 10_000) =>
    new ReserveMonitor(
      { deployment: s.deployment, maxAttestationAgeSeconds, minRatioBps, checkIntervalMs: 60_000 },
      { provider: chain.provider, storage, logger: silent, metrics: new Registry() },
    );
  const custodian = () => s.institutions[0]!;
  const send = async (tx: Promise<ContractTransactionResponse>) => (await (await tx).wait())!;
  /** The attestor's next statement of custodian 0's reserves, as of the block it lands in; that block's time. */
  async function attest(amount: bigint, at?: number): Promise<number> {
    const asOf = at ?? (await chainNow(s));
    if (at !== undefined) await setNextBlockTime(s, at);
    const { sequence } = await s.token.reservesOf(custodian().address);
    await send(s.token.connect(s.reserveAttestor).attestReserveStatement(custodian().address, amount, asOf, sequence + 1n, encodeBytes32String(`statement-${amount}`)));
    return asOf;
  }
  /** Alerts about custodian 0 (the inactive second custodian of the previous test is stale too). */
  const mine = (alerts: AlertRecord[]) => alerts.filter((a) => a.account === custodian().address);
  async function mineAt(timestamp: number): Promise<number> {
    await setNextBlockTime(s, timestamp);
    await chain.provider.send("evm_mine", []);
    return chain.provider.getBlockNumber();
  }

  it("formats reserves / outstanding with four decimals, rounded down", function () {
    expect(reserveRatio(3n, 2n)).to.equal("1.5000");
    expect(reserveRatio(99_999n, 100_000n)).to.equal("0.9999");
    expect(reserveRatio(2n, 3n)).to.equal("0.6666");
    expect(reserveRatio(5n, 0n)).to.equal(null);
  });

  it("reports outstanding supply, attested reserves, ratio and attestation age per custodian, read from the chain", async function () {
    // A second custodian that attests and mints a little to payer 1.
    const second = s.institutions[1]!;
    const secondAttestor = Wallet.createRandom(chain.provider);
    await send(s.token.connect(s.admin).setCustodian(second.address, true));
    await send(s.contracts.registry.connect(s.admin).setReserveAttestor(second.address, secondAttestor.address));
    await (await s.admin.sendTransaction({ to: secondAttestor.address, value: parseEther("1") })).wait();
    await send(s.token.connect(secondAttestor).attestReserveStatement(second.address, 1_000n, await chainNow(s), 1n, encodeBytes32String("second")));
    await send(s.token.connect(second).mint(s.payers[1]!.address, 750n, encodeBytes32String("deposit-x")));
    const attestedAt = (await s.token.reservesOf(custodian().address)).asOf;
    const secondAttestedAt = (await s.token.reservesOf(second.address)).asOf;
    const block = await mineAt((await chainNow(s)) + 5);
    const now = (await chain.provider.getBlock(block))!.timestamp;

    const report = await monitor(1_000_000).report(block);
    expect(report.asOf).to.deep.equal({ blockNumber: block, timestamp: now });
    expect(report.tokens).to.have.length(1);
    const [cny] = report.tokens;
    expect(cny).to.deep.include({ symbol: "CNY", token: await s.token.getAddress(), decimals: 2, totalSupply: (2n * FUNDS + 750n).toString() });
    expect(cny!.outstanding).to.equal((2n * FUNDS + 750n).toString());
    expect(cny!.reserves).to.equal((3n * FUNDS + 1_000n).toString());
    expect(cny!.ratio).to.equal(reserveRatio(3n * FUNDS + 1_000n, 2n * FUNDS + 750n));
    const byCustodian = Object.fromEntries(cny!.custodians.map((c) => [c.custodian, c]));
    expect(byCustodian[custodian().address]).to.deep.include({
      active: true,
      outstanding: (2n * FUNDS).toString(),
      reserves: (3n * FUNDS).toString(),
      ratio: "1.5000",
      attestedAt: Number(attestedAt),
      ageSeconds: now - Number(attestedAt),
      stale: false,
      belowMinRatio: false,
    });
    expect(byCustodian[second.address]).to.deep.include({ outstanding: "750", reserves: "1000", ratio: "1.3333", ageSeconds: now - Number(secondAttestedAt) });
    // Removed as custodian while supply it minted is still out: it stays in the report, inactive.
    await send(s.token.connect(s.admin).setCustodian(second.address, false));
    const after = await monitor(1_000_000).report();
    expect(after.tokens[0]!.custodians.map((c) => [c.custodian, c.active, c.outstanding])).to.have.deep.members([
      [custodian().address, true, (2n * FUNDS).toString()],
      [second.address, false, "750"],
    ]);
  });

  it("raises RESERVES_STALE once the attestation is older than the maximum age, not at exactly the maximum", async function () {
    const attestedAt = await attest(3n * FUNDS, (await chainNow(s)) + 10);
    const reserves = monitor(1_000);
    await mineAt(attestedAt + 1_000);
    expect(mine(await reserves.checkOnce())).to.deep.equal([]);
    await mineAt(attestedAt + 1_001);
    const alerts = mine(await reserves.checkOnce());
    expect(alerts.map((a) => [a.rule, a.account])).to.deep.equal([["RESERVES_STALE", custodian().address]]);
    expect(alerts[0]!.facts).to.deep.include({ ageSeconds: "1001", maxAgeSeconds: "1000", attestedAt: String(attestedAt) });
    // The same stale attestation is reported once.
    await mineAt(attestedAt + 2_000);
    expect(mine(await reserves.checkOnce())).to.deep.equal([]);
    // A fresh attestation clears it; when it goes stale in turn, that is a new alert.
    const fresh = await attest(3n * FUNDS, attestedAt + 2_001);
    expect(mine(await reserves.checkOnce())).to.deep.equal([]);
    await mineAt(fresh + 1_001);
    expect((mine(await reserves.checkOnce())).map((a) => a.rule)).to.deep.equal(["RESERVES_STALE"]);
  });

  it("raises RESERVES_RATIO_LOW when attested reserves fall one minor unit below the outstanding supply, not at equality", async function () {
    const outstanding = await s.token.outstandingOf(custodian().address);
    const reserves = monitor(1_000_000);
    await attest(outstanding);
    expect(mine(await reserves.checkOnce())).to.deep.equal([]);
    expect((await reserves.report()).tokens[0]!.custodians.find((c) => c.custodian === custodian().address)!.ratio).to.equal("1.0000");
    await attest(outstanding - 1n);
    const alerts = mine(await reserves.checkOnce());
    expect(alerts.map((a) => a.rule)).to.deep.equal(["RESERVES_RATIO_LOW"]);
    expect(alerts[0]).to.include({ amount: outstanding.toString(), threshold: outstanding.toString(), account: custodian().address });
    expect(alerts[0]!.facts).to.deep.include({ reserves: (outstanding - 1n).toString(), ratio: "0.9999" });
    expect(mine(await reserves.checkOnce())).to.deep.equal([]);
    // A stricter minimum (105 %) flags the equal attestation too.
    await attest(outstanding);
    expect((mine(await monitor(1_000_000, 10_500).checkOnce())).map((a) => a.rule)).to.deep.equal(["RESERVES_RATIO_LOW"]);
    const stored = await storage.alerts.list({ limit: 10, category: "reserves", rule: "RESERVES_RATIO_LOW", account: custodian().address });
    expect(stored.items).to.have.length(2);
  });

  it("flags an active custodian that never attested as stale", async function () {
    const third = s.institutions[2]!;
    await send(s.token.connect(s.admin).setCustodian(third.address, true));
    const report = await monitor().report();
    const entry = report.tokens[0]!.custodians.find((c) => c.custodian === third.address);
    expect(entry).to.deep.include({ attestedAt: null, ageSeconds: null, outstanding: "0", ratio: null, stale: true, belowMinRatio: false });
  });
});
