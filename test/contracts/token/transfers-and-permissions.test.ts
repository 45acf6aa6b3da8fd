/** SettlementToken transfers: only between registered, active participants and protocol accounts. */
import { expect } from "chai";

import { deployWorld, ethers, networkHelpers } from "../helpers/fixture.js";
import { Status } from "../helpers/registry.js";
import { spareSigners } from "../helpers/token.js";

describe("SettlementToken", function () {
  describe("transfer restrictions", function () {
    it("moves tokens between registered customers and merchants", async function () {
      const { token, payer, payer2, merchant, as } = await networkHelpers.loadFixture(deployWorld);
      await expect(as(token, payer).transfer(payer2.address, 12_34n)).to.changeTokenBalances(
        ethers,
        token,
        [payer, payer2],
        [-12_34n, 12_34n],
      );
      await expect(as(token, payer2).transfer(merchant.address, 1_00n)).to.changeTokenBalances(
        ethers,
        token,
        [payer2, merchant],
        [-1_00n, 1_00n],
      );
    });

    it("refuses a transfer to an unregistered account", async function () {
      const { token, payer, outsider, as } = await networkHelpers.loadFixture(deployWorld);
      await expect(as(token, payer).transfer(outsider.address, 1n))
        .to.be.revertedWithCustomError(token, "AccountNotPermitted")
        .withArgs(outsider.address);
    });

    it("refuses a transferFrom to an unregistered account even with an allowance", async function () {
      const { token, payer, merchant, outsider, as } = await networkHelpers.loadFixture(deployWorld);
      await as(token, payer).approve(merchant.address, 10n);
      await expect(as(token, merchant).transferFrom(payer.address, outsider.address, 10n))
        .to.be.revertedWithCustomError(token, "AccountNotPermitted")
        .withArgs(outsider.address);
    });

    it("refuses transfers to and from a suspended customer", async function () {
      const { token, registry, payer, payer2, as } = await networkHelpers.loadFixture(deployWorld);
      await registry.setAccountStatus(payer2.address, Status.Suspended);
      await expect(as(token, payer).transfer(payer2.address, 1n))
        .to.be.revertedWithCustomError(token, "AccountNotPermitted")
        .withArgs(payer2.address);
      await expect(as(token, payer2).transfer(payer.address, 1n))
        .to.be.revertedWithCustomError(token, "AccountNotPermitted")
        .withArgs(payer2.address);
    });

    it("refuses a transfer to a suspended institution", async function () {
      const { token, registry, payer, inst2, as } = await networkHelpers.loadFixture(deployWorld);
      await registry.setInstitutionStatus(inst2.address, Status.Suspended);
      await expect(as(token, payer).transfer(inst2.address, 1n))
        .to.be.revertedWithCustomError(token, "AccountNotPermitted")
        .withArgs(inst2.address);
    });

    it("lets protocol accounts such as the escrow and the fee receiver hold and move tokens", async function () {
      const { token, escrow, payer, merchant, feeReceiver, as } = await networkHelpers.loadFixture(deployWorld);
      await expect(as(token, payer).transfer(await escrow.getAddress(), 3_00n)).to.changeTokenBalances(
        ethers,
        token,
        [payer, escrow],
        [-3_00n, 3_00n],
      );
      await as(token, payer).transfer(feeReceiver.address, 2_00n);
      await expect(as(token, feeReceiver).transfer(merchant.address, 2_00n)).to.changeTokenBalances(
        ethers,
        token,
        [feeReceiver, merchant],
        [-2_00n, 2_00n],
      );
    });

    it("lets an institution's rotated key receive and send tokens", async function () {
      const { token, registry, inst1, payer, payer2, as } = await networkHelpers.loadFixture(deployWorld);
      const { keyA } = await spareSigners();
      await as(registry, inst1).rotateKey(keyA.address);
      await expect(as(token, payer).transfer(keyA.address, 5_00n)).to.changeTokenBalance(ethers, token, keyA, 5_00n);
      await expect(as(token, keyA).transfer(payer2.address, 5_00n)).to.changeTokenBalances(
        ethers,
        token,
        [keyA, payer2],
        [-5_00n, 5_00n],
      );
    });

    it("refuses transfers from a key that no longer belongs to any institution", async function () {
      const { token, registry, inst1, payer, as } = await networkHelpers.loadFixture(deployWorld);
      const { keyA, keyB } = await spareSigners();
      await as(registry, inst1).rotateKey(keyA.address);
      await as(token, payer).transfer(keyA.address, 5_00n);
      await as(registry, keyA).rotateKey(keyB.address);
      await expect(as(token, keyA).transfer(payer.address, 1n))
        .to.be.revertedWithCustomError(token, "AccountNotPermitted")
        .withArgs(keyA.address);
      await expect(as(token, payer).transfer(keyA.address, 1n))
        .to.be.revertedWithCustomError(token, "AccountNotPermitted")
        .withArgs(keyA.address);
    });
  });
});
