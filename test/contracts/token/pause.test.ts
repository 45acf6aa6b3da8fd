/** SettlementToken pause: the admin or a regulator stops every balance change. */
import { expect } from "chai";

import { deployWorld, ethers, networkHelpers } from "../helpers/fixture.js";
import { REGULATOR_ROLE } from "../helpers/registry.js";
import { DEPOSIT, FIXTURE_OUTSTANDING, PAYOUT } from "../helpers/token.js";

describe("SettlementToken", function () {
  describe("pause", function () {
    it("lets the admin pause, which stops transfers", async function () {
      const { token, admin, payer, payer2, as } = await networkHelpers.loadFixture(deployWorld);
      await expect(token.pause()).to.emit(token, "Paused").withArgs(admin.address);
      expect(await token.paused()).to.equal(true);
      await expect(as(token, payer).transfer(payer2.address, 1n)).to.be.revertedWithCustomError(token, "EnforcedPause");
    });

    it("stops mints and burns while paused", async function () {
      const { token, regulator, inst1, payer, as } = await networkHelpers.loadFixture(deployWorld);
      await as(token, payer).approve(inst1.address, 1_00n);
      await as(token, regulator).pause();
      await expect(as(token, inst1).mint(payer.address, 1_00n, DEPOSIT)).to.be.revertedWithCustomError(token, "EnforcedPause");
      await expect(as(token, inst1).burn(payer.address, 1_00n, PAYOUT)).to.be.revertedWithCustomError(token, "EnforcedPause");
      expect(await token.outstandingOf(inst1.address)).to.equal(FIXTURE_OUTSTANDING);
    });

    it("lets a regulator pause and unpause, after which transfers resume", async function () {
      const { token, regulator, payer, payer2, as } = await networkHelpers.loadFixture(deployWorld);
      await expect(as(token, regulator).pause()).to.emit(token, "Paused").withArgs(regulator.address);
      await expect(as(token, regulator).unpause()).to.emit(token, "Unpaused").withArgs(regulator.address);
      expect(await token.paused()).to.equal(false);
      await expect(as(token, payer).transfer(payer2.address, 1n)).to.changeTokenBalances(ethers, token, [payer, payer2], [-1n, 1n]);
    });

    it("lets the admin unpause what a regulator paused", async function () {
      const { token, admin, regulator, as } = await networkHelpers.loadFixture(deployWorld);
      await as(token, regulator).pause();
      await expect(token.unpause()).to.emit(token, "Unpaused").withArgs(admin.address);
    });

    it("refuses pause and unpause from anyone but the admin or a regulator", async function () {
      const { token, inst1, outsider, as } = await networkHelpers.loadFixture(deployWorld);
      for (const caller of [inst1, outsider]) {
        await expect(as(token, caller).pause())
          .to.be.revertedWithCustomError(token, "Unauthorized")
          .withArgs(caller.address, REGULATOR_ROLE);
      }
      await token.pause();
      for (const caller of [inst1, outsider]) {
        await expect(as(token, caller).unpause())
          .to.be.revertedWithCustomError(token, "Unauthorized")
          .withArgs(caller.address, REGULATOR_ROLE);
      }
    });

    it("refuses to pause twice or unpause when running", async function () {
      const { token } = await networkHelpers.loadFixture(deployWorld);
      await expect(token.unpause()).to.be.revertedWithCustomError(token, "ExpectedPause");
      await token.pause();
      await expect(token.pause()).to.be.revertedWithCustomError(token, "EnforcedPause");
    });
  });
});
