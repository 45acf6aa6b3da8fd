/** SettlementToken reserve attestations: signed by the custodian's independent attestor, they cap its outstanding supply. */
import { expect } from "chai";

import { attest, deployWorld, ethers, networkHelpers, RESERVES } from "../helpers/fixture.js";
import { DEPOSIT, FIXTURE_OUTSTANDING, spareSigners, STATEMENT } from "../helpers/token.js";

const { time } = networkHelpers;

describe("SettlementToken", function () {
  describe("attestReserves", function () {
    it("records the attestor's statement with its as-of time, sequence and the outstanding supply", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { token, inst1, attestor } = world;
      const asOf = BigInt(await time.latest());
      await expect(world.as(token, attestor).attestReserveStatement(inst1.address, RESERVES + 5_00n, asOf, 2n, STATEMENT))
        .to.emit(token, "ReservesAttested")
        .withArgs(inst1.address, attestor.address, RESERVES + 5_00n, asOf, 2n, STATEMENT, FIXTURE_OUTSTANDING);
      const reserves = await token.reservesOf(inst1.address);
      expect([reserves.amount, reserves.statementHash, reserves.asOf, reserves.sequence]).to.deep.equal([RESERVES + 5_00n, STATEMENT, asOf, 2n]);
      expect(reserves.attestedAt).to.equal(BigInt(await time.latest()));
    });

    it("records a statement below the outstanding supply, which blocks mints until reserves recover", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { token, inst1, payer, as } = world;
      const shortfall = FIXTURE_OUTSTANDING - 1_00n;
      await attest(world, shortfall, STATEMENT);
      expect((await token.reservesOf(inst1.address)).amount).to.equal(shortfall);
      await expect(as(token, inst1).mint(payer.address, 1n, DEPOSIT))
        .to.be.revertedWithCustomError(token, "ReservesExceeded")
        .withArgs(inst1.address, FIXTURE_OUTSTANDING + 1n, shortfall);

      await attest(world, FIXTURE_OUTSTANDING + 1n, STATEMENT);
      await expect(as(token, inst1).mint(payer.address, 1n, DEPOSIT)).to.changeTokenBalance(ethers, token, payer, 1n);
    });

    it("refuses a mint above the latest statement, whatever the custodian attested before", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { token, inst1, payer, as } = world;
      await attest(world, FIXTURE_OUTSTANDING + 10_00n, STATEMENT);
      await expect(as(token, inst1).mint(payer.address, 10_01n, DEPOSIT))
        .to.be.revertedWithCustomError(token, "ReservesExceeded")
        .withArgs(inst1.address, FIXTURE_OUTSTANDING + 10_01n, FIXTURE_OUTSTANDING + 10_00n);
      await expect(as(token, inst1).mint(payer.address, 10_00n, DEPOSIT)).to.changeTokenBalance(ethers, token, payer, 10_00n);
    });

    it("refuses a statement from anyone but the custodian's attestor, the custodian itself included", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { token, inst1, inst2, admin, outsider } = world;
      for (const caller of [inst1, inst2, admin, outsider]) {
        await expect(attest(world, RESERVES * 10n, STATEMENT, caller))
          .to.be.revertedWithCustomError(token, "NotReserveAttestor")
          .withArgs(caller.address, inst1.address);
      }
    });

    it("refuses a statement for a custodian that has no attestor, or an institution that is no custodian", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { token, registry, inst2, attestor } = world;
      await expect(attest(world, 1n, STATEMENT, attestor, inst2.address))
        .to.be.revertedWithCustomError(token, "NotReserveAttestor")
        .withArgs(attestor.address, inst2.address);
      const { keyA } = await spareSigners();
      await registry.setReserveAttestor(inst2.address, keyA.address);
      await expect(attest(world, 1n, STATEMENT, keyA, inst2.address))
        .to.be.revertedWithCustomError(token, "NotCustodian")
        .withArgs(inst2.address);
    });

    it("refuses a statement that does not follow the latest one, or is dated after the block", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { token, inst1, attestor, as } = world;
      const latest = await token.reservesOf(inst1.address);
      const now = BigInt(await time.latest());
      await expect(as(token, attestor).attestReserveStatement(inst1.address, 1n, now, latest.sequence, STATEMENT))
        .to.be.revertedWithCustomError(token, "AttestationOutOfOrder")
        .withArgs(inst1.address, latest.sequence, latest.sequence);
      await expect(as(token, attestor).attestReserveStatement(inst1.address, 1n, latest.asOf - 1n, latest.sequence + 1n, STATEMENT))
        .to.be.revertedWithCustomError(token, "AttestationTimeInvalid")
        .withArgs(inst1.address, latest.asOf - 1n, latest.asOf);
      // The fixture's snapshot may be older than the wall clock the next block would take: fix that block's time.
      await time.setNextBlockTimestamp(now + 1n);
      await expect(as(token, attestor).attestReserveStatement(inst1.address, 1n, now + 1_000n, latest.sequence + 1n, STATEMENT))
        .to.be.revertedWithCustomError(token, "AttestationTimeInvalid")
        .withArgs(inst1.address, now + 1_000n, latest.asOf);
    });
  });
});
