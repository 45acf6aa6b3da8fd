/** SettlementToken freezes: a regulator stops an account from sending and receiving. */
import { expect } from "chai";
import { encodeBytes32String } from "ethers";

import { deployWorld, ethers, networkHelpers } from "../helpers/fixture.js";
import { REGULATOR_ROLE } from "../helpers/registry.js";
import { DECISION, DEPOSIT, PAYOUT } from "../helpers/token.js";

describe("SettlementToken", function () {
  describe("freeze", function () {
    it("lets a regulator freeze an account", async function () {
      const { token, regulator, payer, as } = await networkHelpers.loadFixture(deployWorld);
      await expect(as(token, regulator).setFrozen(payer.address, true, DECISION))
        .to.emit(token, "FreezeChanged")
        .withArgs(payer.address, true, regulator.address, DECISION);
      expect(await token.isFrozen(payer.address)).to.equal(true);
    });

    it("stops a frozen account from sending, directly or through an allowance", async function () {
      const { token, regulator, payer, payer2, escrow, as } = await networkHelpers.loadFixture(deployWorld);
      await as(token, regulator).setFrozen(payer.address, true, DECISION);
      await expect(as(token, payer).transfer(payer2.address, 1n))
        .to.be.revertedWithCustomError(token, "AccountIsFrozen")
        .withArgs(payer.address);
      // The fixture gave the escrow an unlimited allowance from payer.
      const escrowSigner = await ethers.getImpersonatedSigner(await escrow.getAddress());
      await networkHelpers.setBalance(await escrow.getAddress(), 10n ** 18n);
      await expect(as(token, escrowSigner).transferFrom(payer.address, payer2.address, 1n))
        .to.be.revertedWithCustomError(token, "AccountIsFrozen")
        .withArgs(payer.address);
    });

    it("stops a frozen spender from moving another account's tokens through its allowance", async function () {
      const { token, regulator, payer, payer2, merchant, as } = await networkHelpers.loadFixture(deployWorld);
      await as(token, payer).approve(merchant.address, 10_00n);
      await as(token, regulator).setFrozen(merchant.address, true, DECISION);
      // Owner and receiver are both permitted and unfrozen: only the spender is frozen.
      await expect(as(token, merchant).transferFrom(payer.address, payer2.address, 1_00n))
        .to.be.revertedWithCustomError(token, "AccountIsFrozen")
        .withArgs(merchant.address);
      expect(await token.allowance(payer.address, merchant.address)).to.equal(10_00n);
      await as(token, regulator).setFrozen(merchant.address, false, DECISION);
      await expect(as(token, merchant).transferFrom(payer.address, payer2.address, 1_00n)).to.changeTokenBalances(
        ethers,
        token,
        [payer, payer2],
        [-1_00n, 1_00n],
      );
    });

    it("stops a frozen custodian from burning another account's tokens through its allowance", async function () {
      const { token, regulator, inst1, payer, as } = await networkHelpers.loadFixture(deployWorld);
      await as(token, payer).approve(inst1.address, 1_00n);
      await as(token, regulator).setFrozen(inst1.address, true, DECISION);
      await expect(as(token, inst1).burn(payer.address, 1_00n, PAYOUT))
        .to.be.revertedWithCustomError(token, "AccountIsFrozen")
        .withArgs(inst1.address);
    });

    it("stops a frozen account from receiving", async function () {
      const { token, regulator, payer, payer2, as } = await networkHelpers.loadFixture(deployWorld);
      await as(token, regulator).setFrozen(payer.address, true, DECISION);
      await expect(as(token, payer2).transfer(payer.address, 1n))
        .to.be.revertedWithCustomError(token, "AccountIsFrozen")
        .withArgs(payer.address);
    });

    it("refuses to mint to a frozen account", async function () {
      const { token, regulator, inst1, payer, as } = await networkHelpers.loadFixture(deployWorld);
      await as(token, regulator).setFrozen(payer.address, true, DECISION);
      await expect(as(token, inst1).mint(payer.address, 1n, DEPOSIT))
        .to.be.revertedWithCustomError(token, "AccountIsFrozen")
        .withArgs(payer.address);
    });

    it("refuses to burn from a frozen account", async function () {
      const { token, regulator, inst1, payer, as } = await networkHelpers.loadFixture(deployWorld);
      await as(token, payer).approve(inst1.address, 1_00n);
      await as(token, regulator).setFrozen(payer.address, true, DECISION);
      await expect(as(token, inst1).burn(payer.address, 1_00n, PAYOUT))
        .to.be.revertedWithCustomError(token, "AccountIsFrozen")
        .withArgs(payer.address);
    });

    it("restores transfers when the regulator unfreezes the account", async function () {
      const { token, regulator, payer, payer2, as } = await networkHelpers.loadFixture(deployWorld);
      await as(token, regulator).setFrozen(payer.address, true, DECISION);
      const lifted = encodeBytes32String("decision-2");
      await expect(as(token, regulator).setFrozen(payer.address, false, lifted))
        .to.emit(token, "FreezeChanged")
        .withArgs(payer.address, false, regulator.address, lifted);
      expect(await token.isFrozen(payer.address)).to.equal(false);
      await expect(as(token, payer).transfer(payer2.address, 1n)).to.changeTokenBalances(ethers, token, [payer, payer2], [-1n, 1n]);
    });

    it("refuses to set the freeze state an account already has", async function () {
      const { token, regulator, payer, as } = await networkHelpers.loadFixture(deployWorld);
      await expect(as(token, regulator).setFrozen(payer.address, false, DECISION))
        .to.be.revertedWithCustomError(token, "FreezeStateUnchanged")
        .withArgs(payer.address, false);
      await as(token, regulator).setFrozen(payer.address, true, DECISION);
      await expect(as(token, regulator).setFrozen(payer.address, true, DECISION))
        .to.be.revertedWithCustomError(token, "FreezeStateUnchanged")
        .withArgs(payer.address, true);
    });

    it("refuses anyone without the regulator role, including the admin and custodians", async function () {
      const { token, admin, inst1, outsider, payer, as } = await networkHelpers.loadFixture(deployWorld);
      for (const caller of [admin, inst1, outsider]) {
        await expect(as(token, caller).setFrozen(payer.address, true, DECISION))
          .to.be.revertedWithCustomError(token, "Unauthorized")
          .withArgs(caller.address, REGULATOR_ROLE);
      }
      expect(await token.isFrozen(payer.address)).to.equal(false);
    });
  });
});
