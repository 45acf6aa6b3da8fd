import { expect } from "chai";

import { deployWorld, ethers, makeTerms, networkHelpers, payHeld, PaymentStatus, type World } from "../helpers/fixture.js";
import {
  confirmAsPayer,
  disputeAsPayer,
  fulfil,
  nextBlockAt,
  nextBlockIn,
  refundAsMerchant,
} from "../helpers/escrow-operations.js";

describe("PaymentEscrow.markFulfilled", function () {
  let world: World;

  beforeEach(async function () {
    world = await networkHelpers.loadFixture(deployWorld);
  });

  const asMerchant = () => world.as(world.escrow, world.merchant);

  it("marks a held payment fulfilled, emits PaymentFulfilled and starts the auto-release clock", async function () {
    const terms = await makeTerms(world);
    const id = await payHeld(world, terms);
    const fulfilledAt = await nextBlockIn(3_600);
    const releaseAt = fulfilledAt + BigInt(terms.autoReleasePeriod);
    const tx = asMerchant().markFulfilled(terms);

    await expect(tx).to.emit(world.escrow, "PaymentFulfilled").withArgs(id, releaseAt);
    await expect(tx).to.changeTokenBalances(ethers, world.token, [world.escrow, world.merchant], [0n, 0n]);
    const state = await world.escrow.paymentOf(id);
    expect(state.status).to.equal(PaymentStatus.Fulfilled);
    expect(state.deadline).to.equal(releaseAt);
    expect(state.amount).to.equal(terms.amount);
    expect(await world.escrow.heldAmountOf(id)).to.equal(terms.amount);
  });

  it("accepts fulfilment exactly at the fulfilment deadline", async function () {
    const terms = await makeTerms(world);
    const id = await payHeld(world, terms);
    const fulfilmentDeadline = (await world.escrow.paymentOf(id)).deadline;
    await nextBlockAt(fulfilmentDeadline);
    await expect(asMerchant().markFulfilled(terms))
      .to.emit(world.escrow, "PaymentFulfilled")
      .withArgs(id, fulfilmentDeadline + BigInt(terms.autoReleasePeriod));
  });

  it("refuses fulfilment one second after the fulfilment deadline", async function () {
    const terms = await makeTerms(world);
    const id = await payHeld(world, terms);
    const fulfilmentDeadline = (await world.escrow.paymentOf(id)).deadline;
    await nextBlockAt(fulfilmentDeadline + 1n);
    await expect(asMerchant().markFulfilled(terms))
      .to.be.revertedWithCustomError(world.escrow, "FulfilmentDeadlinePassed")
      .withArgs(id, fulfilmentDeadline);
  });

  it("still accepts fulfilment of a partially refunded held payment", async function () {
    const terms = await makeTerms(world);
    const id = await payHeld(world, terms);
    await refundAsMerchant(world, terms, 40_00n);
    await fulfil(world, terms);
    expect((await world.escrow.paymentOf(id)).status).to.equal(PaymentStatus.Fulfilled);
    expect(await world.escrow.heldAmountOf(id)).to.equal(60_00n);
  });

  describe("reverts", function () {
    it("refuses the payer", async function () {
      const terms = await makeTerms(world);
      await payHeld(world, terms);
      await expect(world.as(world.escrow, world.payer).markFulfilled(terms))
        .to.be.revertedWithCustomError(world.escrow, "InvalidSigner")
        .withArgs(terms.payer, terms.merchant);
    });

    it("refuses a merchant other than the payment's", async function () {
      const terms = await makeTerms(world);
      await payHeld(world, terms);
      await expect(world.as(world.escrow, world.merchant2).markFulfilled(terms))
        .to.be.revertedWithCustomError(world.escrow, "InvalidSigner")
        .withArgs(await world.merchant2.getAddress(), terms.merchant);
    });

    it("refuses terms that were never paid", async function () {
      const terms = await makeTerms(world);
      await expect(asMerchant().markFulfilled(terms))
        .to.be.revertedWithCustomError(world.escrow, "PaymentNotFound")
        .withArgs(await world.escrow.paymentIdOf(terms));
    });

    it("refuses marking a payment fulfilled twice", async function () {
      const terms = await makeTerms(world);
      const id = await payHeld(world, terms);
      await fulfil(world, terms);
      await expect(asMerchant().markFulfilled(terms))
        .to.be.revertedWithCustomError(world.escrow, "InvalidPaymentStatus")
        .withArgs(id, PaymentStatus.Fulfilled);
    });

    it("refuses a released payment", async function () {
      const terms = await makeTerms(world);
      const id = await payHeld(world, terms);
      await confirmAsPayer(world, terms);
      await expect(asMerchant().markFulfilled(terms))
        .to.be.revertedWithCustomError(world.escrow, "InvalidPaymentStatus")
        .withArgs(id, PaymentStatus.Released);
    });

    it("refuses a disputed payment", async function () {
      const terms = await makeTerms(world);
      const id = await payHeld(world, terms);
      await disputeAsPayer(world, terms);
      await expect(asMerchant().markFulfilled(terms))
        .to.be.revertedWithCustomError(world.escrow, "InvalidPaymentStatus")
        .withArgs(id, PaymentStatus.Disputed);
    });
  });
});
