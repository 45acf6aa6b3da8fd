import { expect } from "chai";

import { deployWorld, ethers, makeTerms, networkHelpers, payHeld, PaymentStatus, type World } from "../helpers/fixture.js";
import { payDisputed, payFulfilled, reasonOf } from "../helpers/escrow2.js";

describe("PaymentEscrow.dispute", function () {
  let world: World;

  beforeEach(async function () {
    world = await networkHelpers.loadFixture(deployWorld);
  });

  it("lets the payer dispute a held payment without moving funds", async function () {
    const { escrow, token, payer, merchant, as } = world;
    const terms = await makeTerms(world);
    const id = await payHeld(world, terms);
    const tx = as(escrow, payer).dispute(terms, reasonOf("not-as-described"));
    await expect(tx).to.emit(escrow, "PaymentDisputed").withArgs(id, terms.payer, reasonOf("not-as-described"));
    await expect(tx).to.changeTokenBalances(ethers, token, [escrow, payer, merchant], [0n, 0n, 0n]);
    const state = await escrow.paymentOf(id);
    expect(state.status).to.equal(PaymentStatus.Disputed);
    expect(state.amount).to.equal(terms.amount);
    expect(state.refunded).to.equal(0n);
    expect(await escrow.heldAmountOf(id)).to.equal(terms.amount);
  });

  it("lets the payer dispute a fulfilled payment", async function () {
    const { escrow, payer, as } = world;
    const terms = await makeTerms(world);
    const id = await payFulfilled(world, terms);
    await expect(as(escrow, payer).dispute(terms, reasonOf("damaged")))
      .to.emit(escrow, "PaymentDisputed")
      .withArgs(id, terms.payer, reasonOf("damaged"));
    expect((await escrow.paymentOf(id)).status).to.equal(PaymentStatus.Disputed);
  });

  it("refuses a dispute once a fulfilled payment's auto-release time has come", async function () {
    const { escrow, payer, as } = world;
    const terms = await makeTerms(world);
    const id = await payFulfilled(world, terms);
    const { deadline: releaseAt } = await escrow.paymentOf(id);
    await networkHelpers.time.setNextBlockTimestamp(releaseAt - 1n);
    await (await as(escrow, payer).dispute(terms, reasonOf("late"))).wait();
    expect((await escrow.paymentOf(id)).status).to.equal(PaymentStatus.Disputed);

    const other = await makeTerms(world);
    const otherId = await payFulfilled(world, other);
    const { deadline: otherReleaseAt } = await escrow.paymentOf(otherId);
    await networkHelpers.time.setNextBlockTimestamp(otherReleaseAt);
    await expect(as(escrow, payer).dispute(other, reasonOf("too late")))
      .to.be.revertedWithCustomError(escrow, "DisputeWindowClosed")
      .withArgs(otherId, otherReleaseAt);
  });

  for (const who of ["merchant", "outsider", "arbiter"] as const) {
    it(`refuses a dispute sent by the ${who}`, async function () {
      const { escrow, as } = world;
      const caller = world[who];
      const terms = await makeTerms(world);
      const id = await payHeld(world, terms);
      await expect(as(escrow, caller).dispute(terms, ethers.ZeroHash))
        .to.be.revertedWithCustomError(escrow, "InvalidSigner")
        .withArgs(await caller.getAddress(), terms.payer);
      expect((await escrow.paymentOf(id)).status).to.equal(PaymentStatus.Held);
    });
  }

  it("never auto-releases a disputed payment, even after its release time", async function () {
    const { escrow, outsider, as } = world;
    const terms = await makeTerms(world);
    const id = await payFulfilled(world, terms);
    const releaseAt = (await escrow.paymentOf(id)).deadline;
    await (await as(escrow, world.payer).dispute(terms, ethers.ZeroHash)).wait();
    await networkHelpers.time.increaseTo(releaseAt + 1n);
    await expect(as(escrow, outsider).release(terms))
      .to.be.revertedWithCustomError(escrow, "InvalidPaymentStatus")
      .withArgs(id, PaymentStatus.Disputed);
    expect(await escrow.heldAmountOf(id)).to.equal(terms.amount);
  });

  it("refuses the payer's confirmation of a disputed payment", async function () {
    const { escrow, payer, as } = world;
    const terms = await makeTerms(world);
    const id = await payDisputed(world, terms);
    await expect(as(escrow, payer).confirm(terms))
      .to.be.revertedWithCustomError(escrow, "InvalidPaymentStatus")
      .withArgs(id, PaymentStatus.Disputed);
  });

  it("refuses a second dispute of the same payment", async function () {
    const { escrow, payer, as } = world;
    const terms = await makeTerms(world);
    const id = await payDisputed(world, terms);
    await expect(as(escrow, payer).dispute(terms, reasonOf("again")))
      .to.be.revertedWithCustomError(escrow, "InvalidPaymentStatus")
      .withArgs(id, PaymentStatus.Disputed);
  });

  it("refuses the merchant's fulfilment notice on a disputed payment", async function () {
    const { escrow, merchant, as } = world;
    const terms = await makeTerms(world);
    const id = await payDisputed(world, terms);
    await expect(as(escrow, merchant).markFulfilled(terms))
      .to.be.revertedWithCustomError(escrow, "InvalidPaymentStatus")
      .withArgs(id, PaymentStatus.Disputed);
  });

  it("refuses to dispute a payment already released", async function () {
    const { escrow, payer, as } = world;
    const terms = await makeTerms(world, { direct: true });
    const id = await payHeld(world, terms);
    await expect(as(escrow, payer).dispute(terms, ethers.ZeroHash))
      .to.be.revertedWithCustomError(escrow, "InvalidPaymentStatus")
      .withArgs(id, PaymentStatus.Released);
  });

  it("reports an unknown payment as not found", async function () {
    const { escrow, payer, as } = world;
    const terms = await makeTerms(world);
    const id = await escrow.paymentIdOf(terms);
    await expect(as(escrow, payer).dispute(terms, ethers.ZeroHash))
      .to.be.revertedWithCustomError(escrow, "PaymentNotFound")
      .withArgs(id);
  });
});
