import { expect } from "chai";

import { deployWorld, ethers, makeTerms, networkHelpers, payHeld, PaymentStatus, type World } from "../helpers/fixture.js";
import {
  confirmAsPayer,
  disputeAsPayer,
  fulfil,
  mintTo,
  nextBlockAt,
  REASON,
  reclaimAfterDeadline,
  refundAsMerchant,
  resolveAsArbiter,
} from "../helpers/escrow-operations.js";

describe("PaymentEscrow.refund", function () {
  let world: World;

  beforeEach(async function () {
    world = await networkHelpers.loadFixture(deployWorld);
  });

  const asMerchant = () => world.as(world.escrow, world.merchant);

  describe("while held", function () {
    it("refunds part of a held payment from escrow to the payer", async function () {
      const terms = await makeTerms(world);
      const id = await payHeld(world, terms);
      const { deadline } = await world.escrow.paymentOf(id);
      const tx = asMerchant().refund(terms, 30_00n, REASON);

      await expect(tx).to.emit(world.escrow, "PaymentRefunded").withArgs(id, terms.payer, 30_00n, 70_00n, REASON);
      await expect(tx).to.changeTokenBalances(ethers, world.token, [world.escrow, world.payer, world.merchant], [-30_00n, 30_00n, 0n]);
      const state = await world.escrow.paymentOf(id);
      expect(state.status).to.equal(PaymentStatus.Held);
      expect(state.amount).to.equal(100_00n);
      expect(state.refunded).to.equal(30_00n);
      expect(state.deadline).to.equal(deadline);
      expect(await world.escrow.heldAmountOf(id)).to.equal(70_00n);
    });

    it("refunds the rest after a partial refund, ending in Refunded", async function () {
      const terms = await makeTerms(world);
      const id = await payHeld(world, terms);
      await refundAsMerchant(world, terms, 30_00n);
      const tx = asMerchant().refund(terms, 70_00n, REASON);

      await expect(tx).to.emit(world.escrow, "PaymentRefunded").withArgs(id, terms.payer, 70_00n, 0n, REASON);
      await expect(tx).to.changeTokenBalances(ethers, world.token, [world.escrow, world.payer], [-70_00n, 70_00n]);
      const state = await world.escrow.paymentOf(id);
      expect(state.status).to.equal(PaymentStatus.Refunded);
      expect(state.refunded).to.equal(100_00n);
      expect(await world.escrow.heldAmountOf(id)).to.equal(0n);
    });

    it("refunds a fulfilled payment in part without changing its status or release time", async function () {
      const terms = await makeTerms(world);
      const id = await payHeld(world, terms);
      await fulfil(world, terms);
      const { deadline: releaseAt } = await world.escrow.paymentOf(id);
      await expect(asMerchant().refund(terms, 10_00n, REASON))
        .to.emit(world.escrow, "PaymentRefunded")
        .withArgs(id, terms.payer, 10_00n, 90_00n, REASON);
      const state = await world.escrow.paymentOf(id);
      expect(state.status).to.equal(PaymentStatus.Fulfilled);
      expect(state.deadline).to.equal(releaseAt);
    });

    it("lets the merchant concede a disputed payment by refunding it in full", async function () {
      const terms = await makeTerms(world);
      const id = await payHeld(world, terms);
      await disputeAsPayer(world, terms);
      await expect(asMerchant().refund(terms, terms.amount, REASON)).to.changeTokenBalances(
        ethers,
        world.token,
        [world.escrow, world.payer],
        [-terms.amount, terms.amount],
      );
      expect((await world.escrow.paymentOf(id)).status).to.equal(PaymentStatus.Refunded);
    });
  });

  describe("after release", function () {
    it("pulls the refund from the merchant's balance to the payer within the refund window", async function () {
      const terms = await makeTerms(world);
      const id = await payHeld(world, terms);
      await confirmAsPayer(world, terms);
      const tx = asMerchant().refund(terms, 50_00n, REASON);

      await expect(tx).to.emit(world.escrow, "PaymentRefunded").withArgs(id, terms.payer, 50_00n, 50_00n, REASON);
      await expect(tx).to.changeTokenBalances(
        ethers,
        world.token,
        [world.merchant, world.payer, world.escrow, world.feeReceiver],
        [-50_00n, 50_00n, 0n, 0n],
      );
      const state = await world.escrow.paymentOf(id);
      expect(state.status).to.equal(PaymentStatus.Released);
      expect(state.refunded).to.equal(50_00n);
    });

    it("accepts a refund exactly at the refund deadline", async function () {
      const terms = await makeTerms(world);
      const id = await payHeld(world, terms);
      await confirmAsPayer(world, terms);
      const { deadline: refundDeadline } = await world.escrow.paymentOf(id);
      await nextBlockAt(refundDeadline);
      await expect(asMerchant().refund(terms, 1_00n, REASON))
        .to.emit(world.escrow, "PaymentRefunded")
        .withArgs(id, terms.payer, 1_00n, 99_00n, REASON);
    });

    it("refuses a refund one second after the refund deadline", async function () {
      const terms = await makeTerms(world);
      const id = await payHeld(world, terms);
      await confirmAsPayer(world, terms);
      const { deadline: refundDeadline } = await world.escrow.paymentOf(id);
      await nextBlockAt(refundDeadline + 1n);
      await expect(asMerchant().refund(terms, 1_00n, REASON))
        .to.be.revertedWithCustomError(world.escrow, "RefundWindowClosed")
        .withArgs(id, refundDeadline);
    });

    it("refunds the whole gross amount, fee included, from the merchant and ends in Refunded", async function () {
      const terms = await makeTerms(world);
      const id = await payHeld(world, terms);
      await confirmAsPayer(world, terms);
      await mintTo(world, terms.merchant, 1_00n); // the fee the merchant never received
      await expect(asMerchant().refund(terms, terms.amount, REASON)).to.changeTokenBalances(
        ethers,
        world.token,
        [world.merchant, world.payer],
        [-terms.amount, terms.amount],
      );
      const state = await world.escrow.paymentOf(id);
      expect(state.status).to.equal(PaymentStatus.Refunded);
      expect(state.refunded).to.equal(terms.amount);
    });

    it("refunds a direct payment within its refund window", async function () {
      const terms = await makeTerms(world, { direct: true });
      const id = await payHeld(world, terms);
      await expect(asMerchant().refund(terms, 20_00n, REASON)).to.changeTokenBalances(
        ethers,
        world.token,
        [world.merchant, world.payer, world.escrow],
        [-20_00n, 20_00n, 0n],
      );
      expect((await world.escrow.paymentOf(id)).refunded).to.equal(20_00n);
    });

    it("refuses more than remains after earlier refunds", async function () {
      const terms = await makeTerms(world);
      const id = await payHeld(world, terms);
      await confirmAsPayer(world, terms);
      await refundAsMerchant(world, terms, 40_00n);
      await expect(asMerchant().refund(terms, 60_01n, REASON))
        .to.be.revertedWithCustomError(world.escrow, "RefundExceedsAvailable")
        .withArgs(id, 60_01n, 60_00n);
    });
  });

  describe("reverts", function () {
    it("refuses a refund larger than the held amount", async function () {
      const terms = await makeTerms(world);
      const id = await payHeld(world, terms);
      await expect(asMerchant().refund(terms, 100_01n, REASON))
        .to.be.revertedWithCustomError(world.escrow, "RefundExceedsAvailable")
        .withArgs(id, 100_01n, 100_00n);
    });

    it("refuses a zero refund", async function () {
      const terms = await makeTerms(world);
      await payHeld(world, terms);
      await expect(asMerchant().refund(terms, 0n, REASON)).to.be.revertedWithCustomError(world.escrow, "ZeroAmount");
    });

    it("refuses anyone but the merchant", async function () {
      const terms = await makeTerms(world);
      await payHeld(world, terms);
      await expect(world.as(world.escrow, world.payer).refund(terms, 1_00n, REASON))
        .to.be.revertedWithCustomError(world.escrow, "InvalidSigner")
        .withArgs(terms.payer, terms.merchant);
      await expect(world.as(world.escrow, world.merchant2).refund(terms, 1_00n, REASON))
        .to.be.revertedWithCustomError(world.escrow, "InvalidSigner")
        .withArgs(await world.merchant2.getAddress(), terms.merchant);
    });

    it("refuses terms that were never paid", async function () {
      const terms = await makeTerms(world);
      await expect(asMerchant().refund(terms, 1_00n, REASON))
        .to.be.revertedWithCustomError(world.escrow, "PaymentNotFound")
        .withArgs(await world.escrow.paymentIdOf(terms));
    });

    it("refuses a payment already refunded in full", async function () {
      const terms = await makeTerms(world);
      const id = await payHeld(world, terms);
      await refundAsMerchant(world, terms, terms.amount);
      await expect(asMerchant().refund(terms, 1n, REASON))
        .to.be.revertedWithCustomError(world.escrow, "InvalidPaymentStatus")
        .withArgs(id, PaymentStatus.Refunded);
    });

    it("refuses a reclaimed payment", async function () {
      const terms = await makeTerms(world);
      const id = await payHeld(world, terms);
      await reclaimAfterDeadline(world, terms);
      await expect(asMerchant().refund(terms, 1_00n, REASON))
        .to.be.revertedWithCustomError(world.escrow, "InvalidPaymentStatus")
        .withArgs(id, PaymentStatus.Reclaimed);
    });

    it("refuses a resolved payment", async function () {
      const terms = await makeTerms(world);
      const id = await payHeld(world, terms);
      await disputeAsPayer(world, terms);
      await resolveAsArbiter(world, terms, 50_00n);
      await expect(asMerchant().refund(terms, 1_00n, REASON))
        .to.be.revertedWithCustomError(world.escrow, "InvalidPaymentStatus")
        .withArgs(id, PaymentStatus.Resolved);
    });
  });
});
