import { expect } from "chai";

import { deployWorld, ethers, makeTerms, networkHelpers, payHeld, PaymentStatus, type World } from "../helpers/fixture.js";
import { payDisputed, payFulfilled, reasonOf } from "../helpers/escrow2.js";

describe("PaymentEscrow.reclaim", function () {
  let world: World;

  beforeEach(async function () {
    world = await networkHelpers.loadFixture(deployWorld);
  });

  /** Moves the chain one second past payment `id`'s current deadline. */
  async function passDeadline(id: string) {
    const { deadline } = await world.escrow.paymentOf(id);
    await networkHelpers.time.increaseTo(deadline + 1n);
  }

  it("returns an unfulfilled payment to the payer after the fulfilment deadline", async function () {
    const { escrow, token, payer, merchant, as } = world;
    const terms = await makeTerms(world);
    const id = await payHeld(world, terms);
    await passDeadline(id);
    const tx = as(escrow, payer).reclaim(terms);
    await expect(tx).to.emit(escrow, "PaymentReclaimed").withArgs(id, terms.payer, terms.amount);
    await expect(tx).to.changeTokenBalances(ethers, token, [escrow, payer, merchant], [-terms.amount, terms.amount, 0n]);
    const state = await escrow.paymentOf(id);
    expect(state.status).to.equal(PaymentStatus.Reclaimed);
    expect(await escrow.heldAmountOf(id)).to.equal(0n);
  });

  for (const who of ["merchant", "outsider"] as const) {
    it(`refuses a reclaim sent by the ${who}`, async function () {
      const { escrow, as } = world;
      const caller = world[who];
      const terms = await makeTerms(world);
      const id = await payHeld(world, terms);
      await passDeadline(id);
      await expect(as(escrow, caller).reclaim(terms))
        .to.be.revertedWithCustomError(escrow, "InvalidSigner")
        .withArgs(await caller.getAddress(), terms.payer);
    });
  }

  it("refuses a reclaim at exactly the fulfilment deadline and allows it one second later", async function () {
    const { escrow, payer, as } = world;
    const terms = await makeTerms(world);
    const id = await payHeld(world, terms);
    const { deadline } = await escrow.paymentOf(id);
    await networkHelpers.time.setNextBlockTimestamp(deadline);
    await expect(as(escrow, payer).reclaim(terms))
      .to.be.revertedWithCustomError(escrow, "ReclaimNotDue")
      .withArgs(id, deadline);
    await networkHelpers.time.setNextBlockTimestamp(deadline + 1n);
    await expect(as(escrow, payer).reclaim(terms)).to.emit(escrow, "PaymentReclaimed").withArgs(id, terms.payer, terms.amount);
  });

  it("cannot reclaim a fulfilled payment, even after the fulfilment period has run out", async function () {
    const { escrow, payer, as } = world;
    const terms = await makeTerms(world);
    const id = await payFulfilled(world, terms);
    await networkHelpers.time.increase(terms.fulfilmentPeriod + 1);
    await expect(as(escrow, payer).reclaim(terms))
      .to.be.revertedWithCustomError(escrow, "InvalidPaymentStatus")
      .withArgs(id, PaymentStatus.Fulfilled);
  });

  it("cannot reclaim a disputed payment, which only an arbiter settles", async function () {
    const { escrow, payer, as } = world;
    const terms = await makeTerms(world);
    const id = await payDisputed(world, terms);
    await passDeadline(id);
    await expect(as(escrow, payer).reclaim(terms))
      .to.be.revertedWithCustomError(escrow, "InvalidPaymentStatus")
      .withArgs(id, PaymentStatus.Disputed);
  });

  it("cannot reclaim a direct payment", async function () {
    const { escrow, payer, as } = world;
    const terms = await makeTerms(world, { direct: true, refundPeriod: 0 });
    const id = await payHeld(world, terms);
    await networkHelpers.time.increase(terms.fulfilmentPeriod + 1);
    await expect(as(escrow, payer).reclaim(terms))
      .to.be.revertedWithCustomError(escrow, "InvalidPaymentStatus")
      .withArgs(id, PaymentStatus.Released);
  });

  it("returns only the remainder after a partial refund", async function () {
    const { escrow, token, payer, merchant, as } = world;
    const terms = await makeTerms(world, { amount: 100_00n });
    const id = await payHeld(world, terms);
    await (await as(escrow, merchant).refund(terms, 35_00n, reasonOf("out-of-stock"))).wait();
    await passDeadline(id);
    const tx = as(escrow, payer).reclaim(terms);
    await expect(tx).to.emit(escrow, "PaymentReclaimed").withArgs(id, terms.payer, 65_00n);
    await expect(tx).to.changeTokenBalances(ethers, token, [escrow, payer], [-65_00n, 65_00n]);
    const state = await escrow.paymentOf(id);
    expect(state.status).to.equal(PaymentStatus.Reclaimed);
    expect(state.refunded).to.equal(35_00n);
  });

  it("cannot reclaim twice, and the merchant can no longer fulfil", async function () {
    const { escrow, payer, merchant, as } = world;
    const terms = await makeTerms(world);
    const id = await payHeld(world, terms);
    await passDeadline(id);
    await (await as(escrow, payer).reclaim(terms)).wait();
    await expect(as(escrow, payer).reclaim(terms))
      .to.be.revertedWithCustomError(escrow, "InvalidPaymentStatus")
      .withArgs(id, PaymentStatus.Reclaimed);
    await expect(as(escrow, merchant).markFulfilled(terms))
      .to.be.revertedWithCustomError(escrow, "InvalidPaymentStatus")
      .withArgs(id, PaymentStatus.Reclaimed);
  });

  it("reports an unknown payment as not found", async function () {
    const { escrow, payer, as } = world;
    const terms = await makeTerms(world);
    await expect(as(escrow, payer).reclaim(terms))
      .to.be.revertedWithCustomError(escrow, "PaymentNotFound")
      .withArgs(await escrow.paymentIdOf(terms));
  });
});
