import { expect } from "chai";

import { deployScenario, startChain, type LocalChain } from "./chain.js";

describe("local chain scenario (test helper)", function () {
  let chain: LocalChain;
  before(async function () {
    chain = await startChain();
  });
  after(async function () {
    await chain.close();
  });

  it("deploys over JSON-RPC and funds payers that never send a transaction", async function () {
    const s = await deployScenario(chain, { payers: 3 });
    const escrow = await s.contracts.escrow.getAddress();
    for (const payer of s.payers) {
      expect(await s.token.balanceOf(payer.address)).to.equal(10_000_000n);
      expect(await s.token.allowance(payer.address, escrow)).to.equal((1n << 256n) - 1n);
      expect(await chain.provider.getTransactionCount(payer.address)).to.equal(0);
    }
    expect(await s.contracts.registry.activeInstitutionCount()).to.equal(3n);
    expect(s.deployment.chainId).to.equal((await chain.provider.getNetwork()).chainId.toString());
  });
});
