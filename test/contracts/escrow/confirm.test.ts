import { expect } from "chai";

import { deployWorld, ethers, makeTerms, networkHelpers, payHeld, PaymentStatus, type World } from "../helpers/fixture.js";
import {
  admitTestToken,
  confirmAsPayer,
  disputeAsPayer,
  fulfil,
  nextBlockIn,
  refundAsMerchant,
} from "../helpers/escrow-operations.js";

describe("PaymentEscrow.confirm", function () {
  let world: World;

  beforeEach(async function () {
    world = await networkHelpers.loadFixture(deployWorld);
  });

  const asPayer = () => world.as(world.escrow, world.payer);

  describe("releasing to the merchant", function () {
    it("releases a held payment: PaymentReleased with the fee split, status Released until the refund deadline", async function () {
      const terms = await makeTerms(world);
      const id = await payHeld(world, terms);
      const confirmedAt = await nextBlockIn(60);
      const refundDeadline = confirmedAt + BigInt(terms.refundPeriod);

      await expect(asPayer().confirm(terms))
        .to.emit(world.escrow, "PaymentReleased")
        .withArgs(id, terms.merchant, 99_00n, 1_00n, refundDeadline);
      const state = await world.escrow.paymentOf(id);
      expect(state.status).to.equal(PaymentStatus.Released);
      expect(state.deadline).to.equal(refundDeadline);
      expect(state.amount).to.equal(terms.amount);
      expect(state.refunded).to.equal(0n);
      expect(await world.escrow.heldAmountOf(id)).to.equal(0n);
    });

    it("moves the held amount out of escrow to the merchant and the fee receiver", async function () {
      const terms = await makeTerms(world, { amount: 500_00n });
      await payHeld(world, terms);
      await expect(asPayer().confirm(terms)).to.changeTokenBalances(
        ethers,
        world.token,
        [world.escrow, world.merchant, world.feeReceiver, world.payer],
        [-500_00n, 495_00n, 5_00n, 0n],
      );
    });

    it("releases a fulfilled payment before its auto-release time", async function () {
      const terms = await makeTerms(world);
      const id = await payHeld(world, terms);
      await fulfil(world, terms);
      await expect(asPayer().confirm(terms))
        .to.emit(world.escrow, "PaymentReleased")
        .withArgs(id, terms.merchant, 99_00n, 1_00n, (deadline: bigint) => deadline > 0n);
      expect((await world.escrow.paymentOf(id)).status).to.equal(PaymentStatus.Released);
    });

    it("still releases a held payment after the fulfilment deadline passed", async function () {
      const terms = await makeTerms(world);
      const id = await payHeld(world, terms);
      await networkHelpers.time.increase(terms.fulfilmentPeriod + 1);
      await confirmAsPayer(world, terms);
      expect((await world.escrow.paymentOf(id)).status).to.equal(PaymentStatus.Released);
    });

    it("rounds the fee down to whole minor units", async function () {
      // 99 at 100 bps is 0.99 of a minor unit: no fee at all.
      const small = await makeTerms(world, { amount: 99n });
      const smallId = await payHeld(world, small);
      const smallTx = asPayer().confirm(small);
      await expect(smallTx).to.emit(world.escrow, "PaymentReleased").withArgs(smallId, small.merchant, 99n, 0n, (d: bigint) => d > 0n);
      await expect(smallTx).to.changeTokenBalances(ethers, world.token, [world.merchant, world.feeReceiver, world.escrow], [99n, 0n, -99n]);

      // 12,345 at 100 bps is 123.45: the fee is 123.
      const odd = await makeTerms(world, { amount: 123_45n });
      const oddId = await payHeld(world, odd);
      const oddTx = asPayer().confirm(odd);
      await expect(oddTx).to.emit(world.escrow, "PaymentReleased").withArgs(oddId, odd.merchant, 122_22n, 1_23n, (d: bigint) => d > 0n);
      await expect(oddTx).to.changeTokenBalances(ethers, world.token, [world.merchant, world.feeReceiver], [122_22n, 1_23n]);
    });

    it("releases only what remains after a partial refund, the fee taken on the remainder", async function () {
      const terms = await makeTerms(world);
      const id = await payHeld(world, terms);
      await refundAsMerchant(world, terms, 30_00n);
      const tx = asPayer().confirm(terms);
      await expect(tx).to.emit(world.escrow, "PaymentReleased").withArgs(id, terms.merchant, 69_30n, 70n, (d: bigint) => d > 0n);
      await expect(tx).to.changeTokenBalances(
        ethers,
        world.token,
        [world.escrow, world.merchant, world.feeReceiver, world.payer],
        [-70_00n, 69_30n, 70n, 0n],
      );
      const state = await world.escrow.paymentOf(id);
      expect(state.status).to.equal(PaymentStatus.Released);
      expect(state.amount).to.equal(100_00n);
      expect(state.refunded).to.equal(30_00n);
    });
  });

  describe("reverts", function () {
    it("refuses anyone but the payer", async function () {
      const terms = await makeTerms(world);
      await payHeld(world, terms);
      await expect(world.as(world.escrow, world.merchant).confirm(terms))
        .to.be.revertedWithCustomError(world.escrow, "InvalidSigner")
        .withArgs(terms.merchant, terms.payer);
      await expect(world.as(world.escrow, world.relayer).confirm(terms))
        .to.be.revertedWithCustomError(world.escrow, "InvalidSigner")
        .withArgs(await world.relayer.getAddress(), terms.payer);
    });

    it("refuses terms that were never paid", async function () {
      const terms = await makeTerms(world);
      await expect(asPayer().confirm(terms))
        .to.be.revertedWithCustomError(world.escrow, "PaymentNotFound")
        .withArgs(await world.escrow.paymentIdOf(terms));
    });

    it("refuses confirming a released payment again", async function () {
      const terms = await makeTerms(world);
      const id = await payHeld(world, terms);
      await confirmAsPayer(world, terms);
      await expect(asPayer().confirm(terms))
        .to.be.revertedWithCustomError(world.escrow, "InvalidPaymentStatus")
        .withArgs(id, PaymentStatus.Released);
    });

    it("refuses a disputed payment", async function () {
      const terms = await makeTerms(world);
      const id = await payHeld(world, terms);
      await disputeAsPayer(world, terms);
      await expect(asPayer().confirm(terms))
        .to.be.revertedWithCustomError(world.escrow, "InvalidPaymentStatus")
        .withArgs(id, PaymentStatus.Disputed);
    });

    it("refuses a fully refunded payment", async function () {
      const terms = await makeTerms(world);
      const id = await payHeld(world, terms);
      await refundAsMerchant(world, terms, terms.amount);
      await expect(asPayer().confirm(terms))
        .to.be.revertedWithCustomError(world.escrow, "InvalidPaymentStatus")
        .withArgs(id, PaymentStatus.Refunded);
    });

    it("refuses a release re-entered from the token during the payout; the merchant is paid once", async function () {
      const token = await admitTestToken(world, await ethers.deployContract("ReentrantToken"));
      const terms = await makeTerms(world, { token: await token.getAddress() });
      const id = await payHeld(world, terms);
      const escrowAddress = await world.escrow.getAddress();
      await (await token.arm(escrowAddress, world.escrow.interface.encodeFunctionData("release", [terms]), false)).wait();
      const tx = asPayer().confirm(terms);

      await expect(tx)
        .to.emit(token, "ReentryAttempted")
        .withArgs(escrowAddress, false, world.escrow.interface.encodeErrorResult("ReentrancyGuardReentrantCall", []));
      await expect(tx).to.changeTokenBalances(
        ethers,
        token,
        [world.escrow, world.merchant, world.feeReceiver],
        [-100_00n, 99_00n, 1_00n],
      );
      expect((await world.escrow.paymentOf(id)).status).to.equal(PaymentStatus.Released);
    });
  });
});
