import { expect } from "chai";
import { Contract, keccak256, toUtf8Bytes } from "ethers";

import { loadArtifact } from "../../../core/protocol/artifacts.js";
import { startChain, type LocalChain } from "../../../scripts/lib/launch/chain.js";
import { DEV_ACCOUNTS, deployScenario, provisionConsortium } from "../../../scripts/lib/launch/consortium.js";

describe("launcher: local chain and deployed scenario", function () {
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

  it("provisions the local network's consortium from the development mnemonic, with the merchants' payout accounts", async function () {
    const { deployment, attestedReserves } = await provisionConsortium(chain.provider, {
      institutionPeerIds: ["peer-a", "peer-b", "peer-c"],
      regulatorPeerId: "peer-r",
      merchants: [{ name: "Tea House", payoutAccount: "ICBC 0001" }],
      payers: 2,
      payerFunds: 5_000n,
      merchantFeeBps: 100,
    });
    expect(attestedReserves).to.equal(15_000n);
    const registry = new Contract(deployment.contracts.registry, loadArtifact("ParticipantRegistry").abi, chain.provider);
    const token = new Contract(deployment.tokens["CNY"]?.address ?? "", loadArtifact("SettlementToken").abi, chain.provider);
    expect(await registry.getFunction("payoutAccountOf")(DEV_ACCOUNTS.merchant(0).address)).to.equal(keccak256(toUtf8Bytes("ICBC 0001")));
    expect(await registry.getFunction("operatorOfPeer")("peer-b")).to.equal(DEV_ACCOUNTS.institution(1).address);
    for (const i of [0, 1]) {
      expect(await token.getFunction("balanceOf")(DEV_ACCOUNTS.payer(i).address)).to.equal(5_000n);
      expect(await token.getFunction("allowance")(DEV_ACCOUNTS.payer(i).address, deployment.contracts.escrow)).to.equal((1n << 256n) - 1n);
    }
  });
});
