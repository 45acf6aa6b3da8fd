import { expect } from "chai";

import { deployWorld, ethers, makeTerms, networkHelpers, payHeld, PaymentStatus, type World } from "../helpers/fixture.js";
import type { PaymentTerms } from "../../../core/operations/index.js";
import { disputeAsPayer, fulfil, nextBlockAt, refundAsMerchant } from "../helpers/escrow-operations.js";

describe("PaymentEscrow.release", function () {
  let world: World;

  beforeEach(async function () {
    world = await networkHelpers.loadFixture(deployWorld);
  });

  const asOutsider = () => world.as(world.escrow, world.outsider);

  /** Pays and fulfils `terms`; returns the payment id and its auto-release time. */
  async function payAndFulfil(terms: PaymentTerms): Promise<{ id: string; releaseAt: bigint }> {
    const id = await payHeld(world, terms);
    await fulfil(world, terms);
    return { id, releaseAt: (await world.escrow.paymentOf(id)).deadline };
  }

  describe("auto-release", function () {
    it("lets anyone release a fulfilled payment exactly at its release time", async function () {
      const terms = await makeTerms(world);
      const { id, releaseAt } = await payAndFulfil(terms);
      await nextBlockAt(releaseAt);
      const refundDeadline = releaseAt + BigInt(terms.refundPeriod);

      await expect(asOutsider().release(terms))
        .to.emit(world.escrow, "PaymentReleased")
        .withArgs(id, terms.merchant, 99_00n, 1_00n, refundDeadline);
      const state = await world.escrow.paymentOf(id);
      expect(state.status).to.equal(PaymentStatus.Released);
      expect(state.deadline).to.equal(refundDeadline);
      expect(await world.escrow.heldAmountOf(id)).to.equal(0n);
    });

    it("pays the merchant and the fee receiver out of escrow, nothing to the caller", async function () {
      const terms = await makeTerms(world, { amount: 300_00n });
      const { releaseAt } = await payAndFulfil(terms);
      await nextBlockAt(releaseAt + 1n);
      await expect(asOutsider().release(terms)).to.changeTokenBalances(
        ethers,
        world.token,
        [world.escrow, world.merchant, world.feeReceiver, world.outsider],
        [-300_00n, 297_00n, 3_00n, 0n],
      );
    });

  });

  describe("reverts", function () {
    it("refuses one second before the release time", async function () {
      const terms = await makeTerms(world);
      const { id, releaseAt } = await payAndFulfil(terms);
      await nextBlockAt(releaseAt - 1n);
      await expect(asOutsider().release(terms))
        .to.be.revertedWithCustomError(world.escrow, "ReleaseNotDue")
        .withArgs(id, releaseAt);
    });

    it("refuses a held payment the merchant never marked fulfilled", async function () {
      const terms = await makeTerms(world);
      const id = await payHeld(world, terms);
      await networkHelpers.time.increase(terms.fulfilmentPeriod + terms.autoReleasePeriod + 1);
      await expect(asOutsider().release(terms))
        .to.be.revertedWithCustomError(world.escrow, "InvalidPaymentStatus")
        .withArgs(id, PaymentStatus.Held);
    });

    it("refuses a disputed payment even after its release time", async function () {
      const terms = await makeTerms(world);
      const { id, releaseAt } = await payAndFulfil(terms);
      await disputeAsPayer(world, terms);
      await nextBlockAt(releaseAt + 1n);
      await expect(asOutsider().release(terms))
        .to.be.revertedWithCustomError(world.escrow, "InvalidPaymentStatus")
        .withArgs(id, PaymentStatus.Disputed);
    });

    it("refuses terms that were never paid", async function () {
      const terms = await makeTerms(world);
      await expect(asOutsider().release(terms))
        .to.be.revertedWithCustomError(world.escrow, "PaymentNotFound")
        .withArgs(await world.escrow.paymentIdOf(terms));
    });

    it("refuses releasing a payment twice", async function () {
      const terms = await makeTerms(world);
      const { id, releaseAt } = await payAndFulfil(terms);
      await nextBlockAt(releaseAt);
      await (await asOutsider().release(terms)).wait();
      await expect(asOutsider().release(terms))
        .to.be.revertedWithCustomError(world.escrow, "InvalidPaymentStatus")
        .withArgs(id, PaymentStatus.Released);
    });

    it("refuses a fulfilled payment that was refunded in full", async function () {
      const terms = await makeTerms(world);
      const { id, releaseAt } = await payAndFulfil(terms);
      await refundAsMerchant(world, terms, terms.amount);
      await nextBlockAt(releaseAt);
      await expect(asOutsider().release(terms))
        .to.be.revertedWithCustomError(world.escrow, "InvalidPaymentStatus")
        .withArgs(id, PaymentStatus.Refunded);
    });
  });
});
