/** SettlementToken reserve attestations, which cap each custodian's outstanding supply. */
import { expect } from "chai";

import { deployWorld, ethers, networkHelpers, RESERVES } from "../helpers/fixture.js";
import { DEPOSIT, FIXTURE_OUTSTANDING, STATEMENT } from "../helpers/token.js";

const { time } = networkHelpers;

describe("SettlementToken", function () {
  describe("attestReserves", function () {
    it("records the attestation with its time and reports the outstanding supply", async function () {
      const { token, inst1, as } = await networkHelpers.loadFixture(deployWorld);
      await expect(as(token, inst1).attestReserves(RESERVES + 5_00n, STATEMENT))
        .to.emit(token, "ReservesAttested")
        .withArgs(inst1.address, RESERVES + 5_00n, STATEMENT, FIXTURE_OUTSTANDING);
      const reserves = await token.reservesOf(inst1.address);
      expect(reserves.amount).to.equal(RESERVES + 5_00n);
      expect(reserves.statementHash).to.equal(STATEMENT);
      expect(reserves.attestedAt).to.equal(BigInt(await time.latest()));
    });

    it("records an attestation below the outstanding supply, which blocks mints until reserves recover", async function () {
      const { token, inst1, payer, as } = await networkHelpers.loadFixture(deployWorld);
      const shortfall = FIXTURE_OUTSTANDING - 1_00n;
      await expect(as(token, inst1).attestReserves(shortfall, STATEMENT))
        .to.emit(token, "ReservesAttested")
        .withArgs(inst1.address, shortfall, STATEMENT, FIXTURE_OUTSTANDING);
      expect((await token.reservesOf(inst1.address)).amount).to.equal(shortfall);
      await expect(as(token, inst1).mint(payer.address, 1n, DEPOSIT))
        .to.be.revertedWithCustomError(token, "ReservesExceeded")
        .withArgs(inst1.address, FIXTURE_OUTSTANDING + 1n, shortfall);

      await as(token, inst1).attestReserves(FIXTURE_OUTSTANDING + 1n, STATEMENT);
      await expect(as(token, inst1).mint(payer.address, 1n, DEPOSIT)).to.changeTokenBalance(ethers, token, payer, 1n);
    });

    it("refuses institutions that are not custodians", async function () {
      const { token, inst2, outsider, as } = await networkHelpers.loadFixture(deployWorld);
      for (const caller of [inst2, outsider]) {
        await expect(as(token, caller).attestReserves(1n, STATEMENT))
          .to.be.revertedWithCustomError(token, "NotCustodian")
          .withArgs(caller.address);
      }
    });
  });
});
