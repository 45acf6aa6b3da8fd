/**
 * The custodian service (node/custodian/) on a real node process, chain and bank simulator: it mints
 * only what the bank itself reports confirmed, to the merchant whose registered account the bank
 * collected from, and exactly once per bank transfer, across a restart of its node and when the bank
 * reports every transfer again (its records lost).
 */
import { rm } from "node:fs/promises";
import { join } from "node:path";

import { expect } from "chai";

import { chainBankRef, depositReference } from "../../core/bank/references.js";
import type { CustodyTransfer } from "../../core/api/custody.js";
import { launchCustodianNetwork, type CustodianNetwork } from "../helpers/custodian.js";
import { nodeApi, postJson, waitFor, type NodeHandle } from "../helpers/network.js";

describe("custodian service: mints what the bank confirms, once", function () {
  this.timeout(240_000);
  let custody: CustodianNetwork;
  let node: NodeHandle;

  before(async function () {
    custody = await launchCustodianNetwork({ institutions: 1, regulator: false, merchants: 2, payers: 1, bankLatencyMs: { min: 300, max: 600 } });
    node = custody.net.nodes[0] as NodeHandle;
  });

  after(async function () {
    await custody?.close();
  });

  const merchant = (i: number) => custody.net.scenario.merchants[i]?.address ?? "";
  /** A deposit at the bank as its client asks for one (the bank confirms it after its latency). */
  async function deposit(reference: string, account: string, amount: string): Promise<string> {
    const created = await postJson<{ bankRef: string }>(`${custody.bank.url}/v1/deposits`, { reference, account, amount, currency: "CNY" });
    expect(created.status).to.equal(201);
    return created.body.bankRef;
  }
  const record = (bankRef: string) => nodeApi(node).custodyTransfer(bankRef);
  const settled = (bankRef: string) =>
    waitFor(`the custodian to settle ${bankRef}`, async () => {
      const r = await record(bankRef);
      return r && r.status !== "minting" ? r : undefined;
    }, 60_000);
  const mintsOf = async (bankRef: string) => {
    const { token } = custody.net.scenario;
    return (await token.queryFilter(token.filters.Minted(undefined, undefined, undefined, chainBankRef(bankRef)))).map((e) => [e.args.to, e.args.amount]);
  };

  it("refuses a confirmed deposit from an account that is not the named merchant's registered one, and mints nothing", async function () {
    // Merchant 1's account (merchant-1) names merchant 0: the bank confirms it, the custodian does not mint.
    const bankRef = await deposit(depositReference("tu_forged", merchant(0)), "merchant-1", "700");
    const refused = await settled(bankRef);
    expect(refused).to.deep.include({ status: "refused", attempts: 0, to: null });
    expect(refused.failure?.code).to.equal("ACCOUNT_MISMATCH");
    expect(await mintsOf(bankRef)).to.deep.equal([]);
    expect(await custody.net.scenario.token.balanceOf(merchant(0))).to.equal(0n);
  });

  it("leaves deposits that name no merchant alone", async function () {
    const bankRef = await deposit("opening-reserves-2", "Custodian reserve", "900");
    // Once a later deposit is minted, the custodian has read past this one.
    const later = await deposit(depositReference("tu_after", merchant(1)), "merchant-1", "1");
    expect((await settled(later)).status).to.equal("minted");
    expect(await record(bankRef)).to.equal(undefined);
    expect(await mintsOf(bankRef)).to.deep.equal([]);
  });

  it("mints a confirmed deposit exactly once across a restart of its node and when the bank reports it again", async function () {
    const before = await custody.net.scenario.token.balanceOf(merchant(1));
    const bankRef = await deposit(depositReference("tu_restart", merchant(1)), "merchant-1", "2500");
    // Stopped while the custodian holds the transfer (minting, or already minted): it resumes from its record.
    await waitFor("the custodian to take the deposit", async () => (await record(bankRef)) !== undefined, 60_000, 50);
    await node.stop();
    await node.start();
    const minted: CustodyTransfer = await settled(bankRef);
    expect(minted).to.deep.include({ status: "minted", to: merchant(1), amount: "2500" });
    expect(await mintsOf(bankRef)).to.deep.equal([[merchant(1), 2_500n]]);

    // Its records lost: the bank's whole feed is read again, reporting every deposit a second time.
    await node.stop();
    await rm(join(node.dataDir, "custody"), { recursive: true, force: true });
    await node.start();
    const again = await settled(bankRef);
    // Found minted on-chain before anything was signed.
    expect(again).to.deep.include({ status: "minted", attempts: 0 });
    expect(await mintsOf(bankRef)).to.deep.equal([[merchant(1), 2_500n]]);
    expect((await custody.net.scenario.token.balanceOf(merchant(1))) - before).to.equal(2_500n);
  });
});
