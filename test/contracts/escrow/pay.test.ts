import { expect } from "chai";
import { TypedDataEncoder, verifyTypedData, ZeroAddress } from "ethers";

import { PAYMENT_TYPES } from "../../../core/operations/index.js";
import { escrowDomain } from "../../../core/protocol/eip712.js";
import {
  deployWorld,
  ethers,
  makeTerms,
  networkHelpers,
  PAYER_FUNDS,
  payHeld,
  PaymentStatus,
  signTerms,
  type World,
} from "../helpers/fixture.js";
import {
  admitTestToken,
  confirmAsPayer,
  mintTo,
  nextBlockAt,
  nextBlockIn,
} from "../helpers/escrow-operations.js";

const SUSPENDED = 2;

describe("PaymentEscrow.pay", function () {
  let world: World;
  let escrowAddress: string;

  beforeEach(async function () {
    world = await networkHelpers.loadFixture(deployWorld);
    escrowAddress = await world.escrow.getAddress();
  });

  const asPayer = () => world.as(world.escrow, world.payer);

  describe("holding a payment", function () {
    it("holds the payment: emits PaymentPaid and stores Held, the amount and the fulfilment deadline", async function () {
      const terms = await makeTerms(world);
      const id = await world.escrow.paymentIdOf(terms);
      const paidAt = await nextBlockIn(5);
      const deadline = paidAt + BigInt(terms.fulfilmentPeriod);

      await expect(asPayer().pay(terms, "0x"))
        .to.emit(world.escrow, "PaymentPaid")
        .withArgs(id, terms.payer, terms.merchant, terms.token, terms.amount, terms.orderId, terms.feeBps, false, deadline);

      const state = await world.escrow.paymentOf(id);
      expect(state.status).to.equal(PaymentStatus.Held);
      expect(state.amount).to.equal(terms.amount);
      expect(state.refunded).to.equal(0n);
      expect(state.deadline).to.equal(deadline);
      expect(await world.escrow.heldAmountOf(id)).to.equal(terms.amount);
    });

    it("moves the amount from the payer into the escrow and pays nobody else", async function () {
      const terms = await makeTerms(world, { amount: 123_45n });
      await expect(asPayer().pay(terms, "0x")).to.changeTokenBalances(
        ethers,
        world.token,
        [world.payer, world.escrow, world.merchant, world.feeReceiver],
        [-123_45n, 123_45n, 0n, 0n],
      );
    });

    it("uses the EIP-712 digest of the terms as the payment id, as TypeScript computes it", async function () {
      const terms = await makeTerms(world);
      const expected = TypedDataEncoder.hash(escrowDomain(world.chainId, escrowAddress), PAYMENT_TYPES, terms);
      expect(await world.escrow.paymentIdOf(terms)).to.equal(expected);
      expect(await asPayer().pay.staticCall(terms, "0x")).to.equal(expected);
      // Terms differing only in the nonce are a different payment.
      expect(await world.escrow.paymentIdOf({ ...terms, nonce: terms.nonce + 1n })).to.not.equal(expected);
    });
  });

  describe("relayed with the payer's signature", function () {
    it("accepts a third party relaying the payer's signed terms, charging the payer", async function () {
      const terms = await makeTerms(world);
      const id = await world.escrow.paymentIdOf(terms);
      const signature = await signTerms(world, world.payer, terms);
      const tx = world.as(world.escrow, world.relayer).pay(terms, signature);

      await expect(tx).to.emit(world.escrow, "PaymentPaid").withArgs(
        id, terms.payer, terms.merchant, terms.token, terms.amount, terms.orderId, terms.feeBps, false,
        (deadline: bigint) => deadline > 0n,
      );
      await expect(tx).to.changeTokenBalances(ethers, world.token, [world.payer, world.relayer, world.escrow], [-terms.amount, 0n, terms.amount]);
      expect((await world.escrow.paymentOf(id)).status).to.equal(PaymentStatus.Held);
    });

    it("refuses terms signed by someone other than the payer", async function () {
      const terms = await makeTerms(world);
      const signature = await signTerms(world, world.payer2, terms);
      await expect(world.as(world.escrow, world.relayer).pay(terms, signature))
        .to.be.revertedWithCustomError(world.escrow, "InvalidSigner")
        .withArgs(await world.payer2.getAddress(), terms.payer);
    });

    it("refuses a relayed payment without a signature", async function () {
      const terms = await makeTerms(world);
      await expect(world.as(world.escrow, world.relayer).pay(terms, "0x"))
        .to.be.revertedWithCustomError(world.escrow, "InvalidSigner")
        .withArgs(ZeroAddress, terms.payer);
    });

    it("refuses a signature over other terms or for another chain", async function () {
      const terms = await makeTerms(world);
      const domain = escrowDomain(world.chainId, escrowAddress);

      const tampered = { ...terms, amount: terms.amount * 10n };
      const signature = await signTerms(world, world.payer, terms);
      await expect(world.as(world.escrow, world.relayer).pay(tampered, signature))
        .to.be.revertedWithCustomError(world.escrow, "InvalidSigner")
        .withArgs(verifyTypedData(domain, PAYMENT_TYPES, tampered, signature), terms.payer);

      const otherChain = await signTerms(world, world.payer, terms, world.chainId + 1n);
      await expect(world.as(world.escrow, world.relayer).pay(terms, otherChain))
        .to.be.revertedWithCustomError(world.escrow, "InvalidSigner")
        .withArgs(verifyTypedData(domain, PAYMENT_TYPES, terms, otherChain), terms.payer);
    });
  });

  describe("a payment id is paid once, ever", function () {
    it("refuses to pay the same terms a second time", async function () {
      const terms = await makeTerms(world);
      const id = await payHeld(world, terms);
      await expect(asPayer().pay(terms, "0x"))
        .to.be.revertedWithCustomError(world.escrow, "PaymentAlreadyExists")
        .withArgs(id);
    });

    it("refuses to pay the terms again after the payment was released", async function () {
      const terms = await makeTerms(world);
      const id = await payHeld(world, terms);
      await confirmAsPayer(world, terms);
      const signature = await signTerms(world, world.payer, terms);
      await expect(world.as(world.escrow, world.relayer).pay(terms, signature))
        .to.be.revertedWithCustomError(world.escrow, "PaymentAlreadyExists")
        .withArgs(id);
    });
  });

  describe("validation", function () {
    it("accepts a payment made exactly at the pay deadline", async function () {
      const terms = await makeTerms(world);
      const id = await world.escrow.paymentIdOf(terms);
      await nextBlockAt(terms.payDeadline);
      await expect(asPayer().pay(terms, "0x")).to.emit(world.escrow, "PaymentPaid");
      expect((await world.escrow.paymentOf(id)).status).to.equal(PaymentStatus.Held);
    });

    it("refuses a payment one second after the pay deadline", async function () {
      const terms = await makeTerms(world);
      const id = await world.escrow.paymentIdOf(terms);
      await nextBlockAt(terms.payDeadline + 1n);
      await expect(asPayer().pay(terms, "0x"))
        .to.be.revertedWithCustomError(world.escrow, "PaymentExpired")
        .withArgs(id, terms.payDeadline);
    });

    it("refuses a zero amount", async function () {
      const terms = await makeTerms(world, { amount: 0n });
      await expect(asPayer().pay(terms, "0x")).to.be.revertedWithCustomError(world.escrow, "ZeroAmount");
    });

    it("refuses an amount that does not fit 96 bits", async function () {
      const terms = await makeTerms(world, { amount: 2n ** 96n });
      await expect(asPayer().pay(terms, "0x"))
        .to.be.revertedWithCustomError(world.escrow, "AmountTooLarge")
        .withArgs(2n ** 96n);
    });

    it("refuses a token that is not a registered settlement token", async function () {
      const unregistered = await ethers.deployContract("FeeOnTransferToken");
      const terms = await makeTerms(world, { token: await unregistered.getAddress() });
      await expect(asPayer().pay(terms, "0x"))
        .to.be.revertedWithCustomError(world.escrow, "UnsupportedToken")
        .withArgs(terms.token);
    });

    it("refuses an unregistered merchant", async function () {
      const terms = await makeTerms(world, { merchant: await world.outsider.getAddress() });
      await expect(asPayer().pay(terms, "0x"))
        .to.be.revertedWithCustomError(world.escrow, "MerchantNotActive")
        .withArgs(terms.merchant);
    });

    it("refuses a suspended merchant", async function () {
      const terms = await makeTerms(world);
      await (await world.registry.setAccountStatus(terms.merchant, SUSPENDED)).wait();
      await expect(asPayer().pay(terms, "0x"))
        .to.be.revertedWithCustomError(world.escrow, "MerchantNotActive")
        .withArgs(terms.merchant);
    });

    it("refuses a customer account as merchant", async function () {
      const terms = await makeTerms(world, { merchant: await world.payer2.getAddress(), feeBps: 0 });
      await expect(asPayer().pay(terms, "0x"))
        .to.be.revertedWithCustomError(world.escrow, "MerchantNotActive")
        .withArgs(terms.merchant);
    });

    it("refuses an unregistered payer", async function () {
      const terms = await makeTerms(world, { payer: await world.outsider.getAddress() });
      await expect(world.as(world.escrow, world.outsider).pay(terms, "0x"))
        .to.be.revertedWithCustomError(world.escrow, "PayerNotActive")
        .withArgs(terms.payer);
    });

    it("refuses a suspended payer, even with a valid signature", async function () {
      const terms = await makeTerms(world);
      const signature = await signTerms(world, world.payer, terms);
      await (await world.registry.setAccountStatus(terms.payer, SUSPENDED)).wait();
      await expect(world.as(world.escrow, world.relayer).pay(terms, signature))
        .to.be.revertedWithCustomError(world.escrow, "PayerNotActive")
        .withArgs(terms.payer);
    });

    it("refuses a protocol account as payer, though it may hold the token", async function () {
      const terms = await makeTerms(world, { payer: await world.feeReceiver.getAddress() });
      await expect(world.as(world.escrow, world.feeReceiver).pay(terms, "0x"))
        .to.be.revertedWithCustomError(world.escrow, "PayerNotActive")
        .withArgs(terms.payer);
    });

    it("refuses terms whose calldata words carry dirty high bits (one payment, one id)", async function () {
      const terms = await makeTerms(world);
      const data = ethers.getBytes(world.escrow.interface.encodeFunctionData("pay", [terms, "0x"]));
      // Words 0-2 are the addresses, 5 feeBps, 6 direct, 7 payDeadline, 8-10 the periods (after the selector).
      for (const word of [0, 1, 2, 5, 6, 7, 8, 9, 10]) {
        const dirty = Uint8Array.from(data);
        dirty[4 + word * 32] = 1;
        await expect(world.payer.sendTransaction({ to: await world.escrow.getAddress(), data: ethers.hexlify(dirty) }), `word ${word}`).to.revert(ethers);
      }
      await expect(world.payer.sendTransaction({ to: await world.escrow.getAddress(), data: ethers.hexlify(data) })).to.emit(world.escrow, "PaymentPaid");
    });

    it("leaves the payment's pull to the escrow alone", async function () {
      await expect(world.as(world.token, world.payer).pullPayment(await world.payer.getAddress(), 1n))
        .to.be.revertedWithCustomError(world.token, "NotEscrow")
        .withArgs(await world.payer.getAddress());
    });

    it("refuses an institution as payer", async function () {
      const terms = await makeTerms(world, { payer: await world.inst2.getAddress() });
      await expect(world.as(world.escrow, world.inst2).pay(terms, "0x"))
        .to.be.revertedWithCustomError(world.escrow, "PayerNotActive")
        .withArgs(terms.payer);
    });

    it("accepts a merchant paying another merchant", async function () {
      const merchantAddress = await world.merchant.getAddress();
      await mintTo(world, merchantAddress, 50_00n);
      const terms = await makeTerms(world, { payer: merchantAddress, merchant: await world.merchant2.getAddress(), feeBps: 0, amount: 50_00n });
      const id = await payHeld(world, terms, world.merchant);
      expect((await world.escrow.paymentOf(id)).status).to.equal(PaymentStatus.Held);
      expect(await world.token.balanceOf(escrowAddress)).to.equal(50_00n);
    });

    it("refuses terms whose fee no longer matches the merchant's registered fee", async function () {
      const terms = await makeTerms(world);
      await (await world.as(world.registry, world.inst1).setMerchantFee(terms.merchant, 200)).wait();
      await expect(asPayer().pay(terms, "0x"))
        .to.be.revertedWithCustomError(world.escrow, "FeeMismatch")
        .withArgs(terms.feeBps, 200);
    });
  });

  describe("direct payment", function () {
    it("releases at once: PaymentPaid and PaymentReleased with the fee split, status Released until the refund deadline", async function () {
      const terms = await makeTerms(world, { direct: true });
      const id = await world.escrow.paymentIdOf(terms);
      const paidAt = await nextBlockIn(5);
      const refundDeadline = paidAt + BigInt(terms.refundPeriod);
      const tx = asPayer().pay(terms, "0x");

      await expect(tx)
        .to.emit(world.escrow, "PaymentPaid")
        .withArgs(id, terms.payer, terms.merchant, terms.token, terms.amount, terms.orderId, terms.feeBps, true, refundDeadline);
      await expect(tx).to.emit(world.escrow, "PaymentReleased").withArgs(id, terms.merchant, 99_00n, 1_00n, refundDeadline);

      const state = await world.escrow.paymentOf(id);
      expect(state.status).to.equal(PaymentStatus.Released);
      expect(state.amount).to.equal(terms.amount);
      expect(state.deadline).to.equal(refundDeadline);
      expect(await world.escrow.heldAmountOf(id)).to.equal(0n);
    });

    it("pays the merchant and the fee receiver, leaving nothing in escrow", async function () {
      const terms = await makeTerms(world, { direct: true, amount: 250_00n });
      await expect(asPayer().pay(terms, "0x")).to.changeTokenBalances(
        ethers,
        world.token,
        [world.payer, world.merchant, world.feeReceiver, world.escrow],
        [-250_00n, 247_50n, 2_50n, 0n],
      );
    });
  });

  describe("hostile tokens", function () {
    it("refuses a fee-on-transfer token that delivers less than the amount", async function () {
      const token = await admitTestToken(world, await ethers.deployContract("FeeOnTransferToken"));
      const terms = await makeTerms(world, { token: await token.getAddress(), amount: 100_00n });
      const id = await world.escrow.paymentIdOf(terms);
      await expect(asPayer().pay(terms, "0x"))
        .to.be.revertedWithCustomError(world.escrow, "TransferAmountMismatch")
        .withArgs(100_00n, 99_00n);
      expect((await world.escrow.paymentOf(id)).status).to.equal(PaymentStatus.None);
      expect(await token.balanceOf(escrowAddress)).to.equal(0n);
    });

    // The re-entered call (a second payment relayed with a valid payer signature) would succeed on its
    // own; only the reentrancy guard stops it.
    async function armReentrantPay(bubble: boolean) {
      const token = await admitTestToken(world, await ethers.deployContract("ReentrantToken"));
      const tokenAddress = await token.getAddress();
      const outer = await makeTerms(world, { token: tokenAddress, amount: 100_00n });
      const inner = await makeTerms(world, { token: tokenAddress, amount: 40_00n });
      const innerSignature = await signTerms(world, world.payer, inner);
      await (await token.arm(escrowAddress, world.escrow.interface.encodeFunctionData("pay", [inner, innerSignature]), bubble)).wait();
      return { token, outer, inner };
    }

    it("refuses a pay re-entered from the token's transferFrom (failure bubbled)", async function () {
      const { token, outer, inner } = await armReentrantPay(true);
      await expect(asPayer().pay(outer, "0x")).to.be.revertedWithCustomError(world.escrow, "ReentrancyGuardReentrantCall");
      expect((await world.escrow.paymentOf(await world.escrow.paymentIdOf(outer))).status).to.equal(PaymentStatus.None);
      expect((await world.escrow.paymentOf(await world.escrow.paymentIdOf(inner))).status).to.equal(PaymentStatus.None);
      expect(await token.balanceOf(outer.payer)).to.equal(PAYER_FUNDS);
    });

    it("takes the outer payment once when the token swallows the refused reentrant pay", async function () {
      const { token, outer, inner } = await armReentrantPay(false);
      const guardError = world.escrow.interface.encodeErrorResult("ReentrancyGuardReentrantCall", []);
      const tx = asPayer().pay(outer, "0x");

      await expect(tx).to.emit(token, "ReentryAttempted").withArgs(escrowAddress, false, guardError);
      await expect(tx).to.changeTokenBalances(ethers, token, [world.payer, world.escrow], [-100_00n, 100_00n]);
      expect((await world.escrow.paymentOf(await world.escrow.paymentIdOf(outer))).status).to.equal(PaymentStatus.Held);
      expect((await world.escrow.paymentOf(await world.escrow.paymentIdOf(inner))).status).to.equal(PaymentStatus.None);
    });
  });
});

