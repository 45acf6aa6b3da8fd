/**
 * SettlementToken allowances to the escrow: an unlimited one is kept as a flag in the owner's balance slot
 * (the pull reads that slot anyway), any other in the allowance mapping. Only the storage differs: approve,
 * permit, allowance and transferFrom behave for the escrow as for any spender.
 */
import { expect } from "chai";

import { DECISION } from "../helpers/token.js";
import { deployWorld, ethers, makeTerms, networkHelpers, payHeld, type World } from "../helpers/fixture.js";
import { PERMIT_TYPES } from "../../../core/protocol/eip712.js";

const MAX = ethers.MaxUint256;

describe("SettlementToken", function () {
  describe("allowance to the escrow", function () {
    async function world(): Promise<World & { escrowAddress: string }> {
      const w = await networkHelpers.loadFixture(deployWorld);
      return { ...w, escrowAddress: await w.escrow.getAddress() };
    }

    it("is named once, by the registry admin, at deployment", async function () {
      const { token, outsider, as, escrowAddress } = await world();
      expect(await token.escrow()).to.equal(escrowAddress);
      await expect(token.setEscrow(outsider.address)).to.be.revertedWithCustomError(token, "EscrowAlreadySet").withArgs(escrowAddress);
      await expect(as(token, outsider).setEscrow(outsider.address)).to.be.revertedWithCustomError(token, "Unauthorized");
    });

    it("reads unlimited after an unlimited approval and stays so through pulls, without touching the balance", async function () {
      const w = await world();
      const { token, payer, as, escrowAddress } = w;
      await as(token, payer).approve(escrowAddress, 0n);
      const balance = await token.balanceOf(payer.address);
      await expect(as(token, payer).approve(escrowAddress, MAX)).to.emit(token, "Approval").withArgs(payer.address, escrowAddress, MAX);
      expect(await token.allowance(payer.address, escrowAddress)).to.equal(MAX);
      expect(await token.balanceOf(payer.address)).to.equal(balance);
      await payHeld(w, await makeTerms(w, { amount: 30_00n }));
      expect(await token.allowance(payer.address, escrowAddress)).to.equal(MAX);
      expect(await token.balanceOf(payer.address)).to.equal(balance - 30_00n);
    });

    it("is limited by a finite approval, which replaces the unlimited one and is spent by pulls", async function () {
      const w = await world();
      const { token, payer, as, escrow, escrowAddress } = w;
      await as(token, payer).approve(escrowAddress, 50_00n);
      expect(await token.allowance(payer.address, escrowAddress)).to.equal(50_00n);
      await payHeld(w, await makeTerms(w, { amount: 30_00n }));
      expect(await token.allowance(payer.address, escrowAddress)).to.equal(20_00n);
      await expect(as(escrow, payer).pay(await makeTerms(w, { amount: 30_00n }), "0x"))
        .to.be.revertedWithCustomError(token, "ERC20InsufficientAllowance")
        .withArgs(escrowAddress, 20_00n, 30_00n);
      await as(token, payer).approve(escrowAddress, 0n);
      expect(await token.allowance(payer.address, escrowAddress)).to.equal(0n);
      await expect(as(escrow, payer).pay(await makeTerms(w, { amount: 1n }), "0x")).to.be.revertedWithCustomError(token, "ERC20InsufficientAllowance");
      await as(token, payer).approve(escrowAddress, MAX);
      await payHeld(w, await makeTerms(w, { amount: 30_00n }));
      expect(await token.allowance(payer.address, escrowAddress)).to.equal(MAX);
    });

    it("is set unlimited by a permit too", async function () {
      const w = await world();
      const { token, payer, outsider, as, escrowAddress } = w;
      await as(token, payer).approve(escrowAddress, 0n);
      const deadline = BigInt(await networkHelpers.time.latest()) + 3_600n;
      const domain = { name: await token.name(), version: "1", chainId: w.chainId, verifyingContract: await token.getAddress() };
      const types = PERMIT_TYPES;
      const message = { owner: payer.address, spender: escrowAddress, value: MAX, nonce: await token.nonces(payer.address), deadline };
      const { v, r, s } = ethers.Signature.from(await payer.signTypedData(domain, types, message));
      await as(token, outsider).permit(payer.address, escrowAddress, MAX, deadline, v, r, s);
      expect(await token.allowance(payer.address, escrowAddress)).to.equal(MAX);
      await payHeld(w, await makeTerms(w, { amount: 1_00n }));
    });

    it("grants nothing to any other spender", async function () {
      const { token, payer, merchant, as, escrowAddress } = await world();
      expect(await token.allowance(payer.address, escrowAddress)).to.equal(MAX);
      expect(await token.allowance(payer.address, merchant.address)).to.equal(0n);
      await expect(as(token, merchant).transferFrom(payer.address, merchant.address, 1n))
        .to.be.revertedWithCustomError(token, "ERC20InsufficientAllowance")
        .withArgs(merchant.address, 0n, 1n);
      // The flag stays on the owner's slot, whatever its balance does.
      await as(token, payer).transfer(merchant.address, await token.balanceOf(payer.address));
      expect(await token.allowance(payer.address, escrowAddress)).to.equal(MAX);
      expect(await token.balanceOf(payer.address)).to.equal(0n);
    });

    it("cannot be spent by a frozen escrow", async function () {
      const w = await world();
      const { token, regulator, as, escrow, payer, escrowAddress } = w;
      await as(token, regulator).setFrozen(escrowAddress, true, DECISION);
      await expect(as(escrow, payer).pay(await makeTerms(w), "0x"))
        .to.be.revertedWithCustomError(token, "AccountIsFrozen")
        .withArgs(escrowAddress);
    });

    it("keeps an approval made before the escrow was named", async function () {
      const { registry, payer, outsider, as, escrowAddress } = await world();
      const token = await ethers.deployContract("SettlementToken", [await registry.getAddress(), "Settlenet USD", "USD"]);
      await expect(token.setEscrow(ethers.ZeroAddress)).to.be.revertedWithCustomError(token, "ZeroAddress");
      await as(token, payer).approve(escrowAddress, MAX);
      await as(token, payer).approve(outsider.address, 7n);
      await token.setEscrow(escrowAddress);
      expect(await token.allowance(payer.address, escrowAddress)).to.equal(MAX);
      await as(token, payer).approve(escrowAddress, 5n);
      expect(await token.allowance(payer.address, escrowAddress)).to.equal(5n);
      await as(token, payer).approve(escrowAddress, MAX);
      expect(await token.allowance(payer.address, escrowAddress)).to.equal(MAX);
      expect(await token.allowance(payer.address, outsider.address)).to.equal(7n);
      await expect(token.setEscrow(outsider.address)).to.be.revertedWithCustomError(token, "EscrowAlreadySet");
    });
  });
});
