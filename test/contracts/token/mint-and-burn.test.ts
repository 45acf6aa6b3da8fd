/** SettlementToken custodians: appointment by the admin, mints against attested reserves, burns for payouts. */
import { expect } from "chai";

import { attest, deployWorld, ethers, networkHelpers, RESERVES } from "../helpers/fixture.js";
import { ADMIN_ROLE, Status } from "../helpers/registry.js";
import { DEPOSIT, FIXTURE_OUTSTANDING, PAYOUT, spareSigners, STATEMENT } from "../helpers/token.js";

describe("SettlementToken", function () {
  describe("setCustodian", function () {
    it("lets the registry admin appoint a custodian", async function () {
      const { token, inst2 } = await networkHelpers.loadFixture(deployWorld);
      await expect(token.setCustodian(inst2.address, true)).to.emit(token, "CustodianChanged").withArgs(inst2.address, true);
      expect(await token.isCustodian(inst2.address)).to.equal(true);
    });

    it("stops a removed custodian's mints but keeps its outstanding supply", async function () {
      const { token, inst1, payer, as } = await networkHelpers.loadFixture(deployWorld);
      await expect(token.setCustodian(inst1.address, false)).to.emit(token, "CustodianChanged").withArgs(inst1.address, false);
      expect(await token.isCustodian(inst1.address)).to.equal(false);
      expect(await token.outstandingOf(inst1.address)).to.equal(FIXTURE_OUTSTANDING);
      await expect(as(token, inst1).mint(payer.address, 1n, DEPOSIT))
        .to.be.revertedWithCustomError(token, "NotCustodian")
        .withArgs(inst1.address);
    });

    it("refuses anyone but the registry admin, including institutions and regulators", async function () {
      const { token, inst1, inst2, regulator, outsider, as } = await networkHelpers.loadFixture(deployWorld);
      for (const caller of [inst1, regulator, outsider]) {
        await expect(as(token, caller).setCustodian(inst2.address, true))
          .to.be.revertedWithCustomError(token, "Unauthorized")
          .withArgs(caller.address, ADMIN_ROLE);
      }
      expect(await token.isCustodian(inst2.address)).to.equal(false);
    });
  });

  describe("mint", function () {
    it("mints to a depositor against attested reserves and records the custodian's outstanding supply", async function () {
      const { token, inst1, payer, as } = await networkHelpers.loadFixture(deployWorld);
      const tx = as(token, inst1).mint(payer.address, 250_00n, DEPOSIT);
      await expect(tx).to.emit(token, "Minted").withArgs(inst1.address, payer.address, 250_00n, DEPOSIT);
      await expect(tx).to.changeTokenBalance(ethers, token, payer, 250_00n);
      expect(await token.outstandingOf(inst1.address)).to.equal(FIXTURE_OUTSTANDING + 250_00n);
      expect(await token.totalSupply()).to.equal(FIXTURE_OUTSTANDING + 250_00n);
    });

    it("mints up to exactly the attested reserves", async function () {
      const { token, inst1, payer, as } = await networkHelpers.loadFixture(deployWorld);
      const headroom = RESERVES - FIXTURE_OUTSTANDING;
      await expect(as(token, inst1).mint(payer.address, headroom, DEPOSIT)).to.changeTokenBalance(ethers, token, payer, headroom);
      expect(await token.outstandingOf(inst1.address)).to.equal(RESERVES);
    });

    it("refuses a mint one minor unit above the attested reserves", async function () {
      const { token, inst1, payer, as } = await networkHelpers.loadFixture(deployWorld);
      const headroom = RESERVES - FIXTURE_OUTSTANDING;
      await expect(as(token, inst1).mint(payer.address, headroom + 1n, DEPOSIT))
        .to.be.revertedWithCustomError(token, "ReservesExceeded")
        .withArgs(inst1.address, RESERVES + 1n, RESERVES);
      expect(await token.outstandingOf(inst1.address)).to.equal(FIXTURE_OUTSTANDING);
    });

    it("refuses any mint by a custodian that has not attested reserves", async function () {
      const { token, inst2, payer2, as } = await networkHelpers.loadFixture(deployWorld);
      await token.setCustodian(inst2.address, true);
      await expect(as(token, inst2).mint(payer2.address, 1n, DEPOSIT))
        .to.be.revertedWithCustomError(token, "ReservesExceeded")
        .withArgs(inst2.address, 1n, 0n);
    });

    it("holds each custodian to its own reserves", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { token, registry, inst1, inst2, payer2, as } = world;
      const { keyA: inst2Attestor } = await spareSigners();
      await token.setCustodian(inst2.address, true);
      await registry.setReserveAttestor(inst2.address, inst2Attestor.address);
      await attest(world, 500_00n, STATEMENT, inst2Attestor, inst2.address);
      await expect(as(token, inst2).mint(payer2.address, 500_00n, DEPOSIT))
        .to.emit(token, "Minted")
        .withArgs(inst2.address, payer2.address, 500_00n, DEPOSIT);
      expect(await token.outstandingOf(inst2.address)).to.equal(500_00n);
      expect(await token.outstandingOf(inst1.address)).to.equal(FIXTURE_OUTSTANDING);
      await expect(as(token, inst2).mint(payer2.address, 1n, DEPOSIT))
        .to.be.revertedWithCustomError(token, "ReservesExceeded")
        .withArgs(inst2.address, 500_01n, 500_00n);
    });

    it("refuses an institution that is not a custodian of this token", async function () {
      const { token, inst2, payer2, as } = await networkHelpers.loadFixture(deployWorld);
      await expect(as(token, inst2).mint(payer2.address, 1n, DEPOSIT))
        .to.be.revertedWithCustomError(token, "NotCustodian")
        .withArgs(inst2.address);
    });

    it("refuses a custodian whose institution is suspended", async function () {
      const { token, registry, inst1, payer, as } = await networkHelpers.loadFixture(deployWorld);
      await registry.setInstitutionStatus(inst1.address, Status.Suspended);
      await expect(as(token, inst1).mint(payer.address, 1n, DEPOSIT))
        .to.be.revertedWithCustomError(token, "NotCustodian")
        .withArgs(inst1.address);
    });

    it("refuses outsiders, customers, regulators and the admin", async function () {
      const { token, admin, regulator, payer, outsider, as } = await networkHelpers.loadFixture(deployWorld);
      for (const caller of [outsider, payer, regulator, admin]) {
        await expect(as(token, caller).mint(payer.address, 1n, DEPOSIT))
          .to.be.revertedWithCustomError(token, "NotCustodian")
          .withArgs(caller.address);
      }
    });

    it("refuses a zero amount", async function () {
      const { token, inst1, payer, as } = await networkHelpers.loadFixture(deployWorld);
      await expect(as(token, inst1).mint(payer.address, 0n, DEPOSIT)).to.be.revertedWithCustomError(token, "ZeroAmount");
    });

    it("refuses to mint to an unregistered account", async function () {
      const { token, inst1, outsider, as } = await networkHelpers.loadFixture(deployWorld);
      await expect(as(token, inst1).mint(outsider.address, 1n, DEPOSIT))
        .to.be.revertedWithCustomError(token, "AccountNotPermitted")
        .withArgs(outsider.address);
    });

    it("lets a custodian's rotated key mint for the institution and refuses the retired key", async function () {
      const { token, registry, inst1, payer, as } = await networkHelpers.loadFixture(deployWorld);
      const { keyA } = await spareSigners();
      await as(registry, inst1).rotateKey(keyA.address);
      await expect(as(token, keyA).mint(payer.address, 10_00n, DEPOSIT))
        .to.emit(token, "Minted")
        .withArgs(inst1.address, payer.address, 10_00n, DEPOSIT);
      expect(await token.outstandingOf(inst1.address)).to.equal(FIXTURE_OUTSTANDING + 10_00n);
      expect(await token.outstandingOf(keyA.address)).to.equal(0n);
      await expect(as(token, inst1).mint(payer.address, 1n, DEPOSIT))
        .to.be.revertedWithCustomError(token, "NotCustodian")
        .withArgs(inst1.address);
    });
  });

  describe("burn", function () {
    it("burns the custodian's own balance without an allowance", async function () {
      const { token, inst1, as } = await networkHelpers.loadFixture(deployWorld);
      await as(token, inst1).mint(inst1.address, 40_00n, DEPOSIT);
      const tx = as(token, inst1).burn(inst1.address, 15_00n, PAYOUT);
      await expect(tx).to.emit(token, "Burned").withArgs(inst1.address, inst1.address, 15_00n, PAYOUT);
      await expect(tx).to.changeTokenBalance(ethers, token, inst1, -15_00n);
      expect(await token.outstandingOf(inst1.address)).to.equal(FIXTURE_OUTSTANDING + 25_00n);
    });

    it("burns from another account by spending its allowance to the custodian", async function () {
      const { token, inst1, payer, as } = await networkHelpers.loadFixture(deployWorld);
      await as(token, payer).approve(inst1.address, 100_00n);
      const tx = as(token, inst1).burn(payer.address, 60_00n, PAYOUT);
      await expect(tx).to.emit(token, "Burned").withArgs(inst1.address, payer.address, 60_00n, PAYOUT);
      await expect(tx).to.changeTokenBalance(ethers, token, payer, -60_00n);
      expect(await token.allowance(payer.address, inst1.address)).to.equal(40_00n);
      expect(await token.outstandingOf(inst1.address)).to.equal(FIXTURE_OUTSTANDING - 60_00n);
      expect(await token.totalSupply()).to.equal(FIXTURE_OUTSTANDING - 60_00n);
    });

    it("refuses to burn another account's tokens without an allowance", async function () {
      const { token, inst1, payer, as } = await networkHelpers.loadFixture(deployWorld);
      await expect(as(token, inst1).burn(payer.address, 1_00n, PAYOUT))
        .to.be.revertedWithCustomError(token, "ERC20InsufficientAllowance")
        .withArgs(inst1.address, 0n, 1_00n);
    });

    it("refuses to burn more than the allowance", async function () {
      const { token, inst1, payer, as } = await networkHelpers.loadFixture(deployWorld);
      await as(token, payer).approve(inst1.address, 5_00n);
      await expect(as(token, inst1).burn(payer.address, 5_01n, PAYOUT))
        .to.be.revertedWithCustomError(token, "ERC20InsufficientAllowance")
        .withArgs(inst1.address, 5_00n, 5_01n);
    });

    it("refuses to burn more than the custodian has outstanding", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { token, registry, inst2, payer2, as } = world;
      const { keyA: inst2Attestor } = await spareSigners();
      await token.setCustodian(inst2.address, true);
      await registry.setReserveAttestor(inst2.address, inst2Attestor.address);
      await attest(world, 1_000_00n, STATEMENT, inst2Attestor, inst2.address);
      await as(token, inst2).mint(payer2.address, 300_00n, DEPOSIT);
      await as(token, payer2).approve(inst2.address, 1_000_00n);
      // payer2 holds plenty (minted by inst1), but inst2 has only 300.00 outstanding.
      await expect(as(token, inst2).burn(payer2.address, 300_01n, PAYOUT))
        .to.be.revertedWithCustomError(token, "BurnExceedsOutstanding")
        .withArgs(inst2.address, 300_01n, 300_00n);
    });

    it("gives the burned amount back to the custodian's minting headroom", async function () {
      const { token, inst1, payer, as } = await networkHelpers.loadFixture(deployWorld);
      const headroom = RESERVES - FIXTURE_OUTSTANDING;
      await as(token, inst1).mint(payer.address, headroom, DEPOSIT);
      await as(token, payer).approve(inst1.address, 7_00n);
      await as(token, inst1).burn(payer.address, 7_00n, PAYOUT);
      await expect(as(token, inst1).mint(payer.address, 7_00n, DEPOSIT)).to.changeTokenBalance(ethers, token, payer, 7_00n);
      expect(await token.outstandingOf(inst1.address)).to.equal(RESERVES);
    });

    it("refuses a zero amount", async function () {
      const { token, inst1, as } = await networkHelpers.loadFixture(deployWorld);
      await expect(as(token, inst1).burn(inst1.address, 0n, PAYOUT)).to.be.revertedWithCustomError(token, "ZeroAmount");
    });

    it("refuses callers that are not custodians", async function () {
      const { token, inst2, payer, outsider, as } = await networkHelpers.loadFixture(deployWorld);
      await as(token, payer).approve(outsider.address, 1_00n);
      for (const caller of [outsider, inst2]) {
        await expect(as(token, caller).burn(payer.address, 1_00n, PAYOUT))
          .to.be.revertedWithCustomError(token, "NotCustodian")
          .withArgs(caller.address);
      }
    });
  });
});
