/**
 * Foreign tokens that do more than move balances: no return value, issuer blocklists and pauses
 * (rebasing tokens are not supported: docs/operating.md). The escrow must never record a movement the token refused, never pay one payment out of
 * another's funds silently, and resume once the token lets transfers through again.
 */
import { expect } from "chai";

import type { PaymentTerms } from "../../../core/operations/index.js";
import type { BlocklistPausableToken } from "../../../types/ethers-contracts/index.js";
import { deployWorld, ethers, makeTerms, networkHelpers, PAYER_FUNDS, payHeld, PaymentStatus, type World } from "../helpers/fixture.js";
import { admitTestToken, confirmAsPayer, refundAsMerchant } from "../helpers/escrow-operations.js";

describe("PaymentEscrow with tokens that block, pause or return nothing", function () {
  let world: World;
  let escrowAddress: string;

  beforeEach(async function () {
    world = await networkHelpers.loadFixture(deployWorld);
    escrowAddress = await world.escrow.getAddress();
  });

  const statusOf = async (terms: PaymentTerms) => (await world.escrow.paymentOf(await world.escrow.paymentIdOf(terms))).status;
  const confirmTx = (terms: PaymentTerms) => world.as(world.escrow, world.payer).confirm(terms);

  it("holds, pays out and refunds a token whose transfers return no value", async function () {
    const token = await admitTestToken(world, await ethers.deployContract("NoReturnToken"));
    const held = await makeTerms(world, { token: await token.getAddress(), amount: 100_00n });
    await payHeld(world, held);
    expect(await token.balanceOf(escrowAddress)).to.equal(100_00n);

    await confirmAsPayer(world, held);
    expect(await statusOf(held)).to.equal(PaymentStatus.Released);
    const fee = (100_00n * BigInt(held.feeBps)) / 10_000n;
    expect(await token.balanceOf(held.merchant)).to.equal(100_00n - fee);
    expect(await token.balanceOf(escrowAddress)).to.equal(0n);

    const refunded = await makeTerms(world, { token: await token.getAddress(), amount: 40_00n });
    await payHeld(world, refunded);
    await refundAsMerchant(world, refunded, 40_00n);
    expect(await token.balanceOf(held.payer)).to.equal(PAYER_FUNDS - 100_00n);
  });

  it("refuses a short transfer of a token that returns no value (the revert is not mistaken for success)", async function () {
    const token = await admitTestToken(world, await ethers.deployContract("NoReturnToken"));
    const terms = await makeTerms(world, { token: await token.getAddress(), amount: PAYER_FUNDS + 1n });
    await expect(world.as(world.escrow, world.payer).pay(terms, "0x")).to.be.revert(ethers);
    expect(await statusOf(terms)).to.equal(PaymentStatus.None);
    expect(await token.balanceOf(escrowAddress)).to.equal(0n);
  });

  describe("an issuer's blocklist and pause", function () {
    let token: BlocklistPausableToken;
    beforeEach(async function () {
      token = await admitTestToken(world, await ethers.deployContract("BlocklistPausableToken"));
    });

    it("records no payment when the token refuses the pull (blocked payer, blocked escrow, paused)", async function () {
      for (const [block, unblock, expected] of [
        [() => token.setBlocked(world.payer, true), () => token.setBlocked(world.payer, false), "AccountBlocked"],
        [() => token.setBlocked(escrowAddress, true), () => token.setBlocked(escrowAddress, false), "AccountBlocked"],
        [() => token.setPaused(true), () => token.setPaused(false), "TokenPaused"],
      ] as const) {
        await (await block()).wait();
        const terms = await makeTerms(world, { token: await token.getAddress(), amount: 10_00n });
        await expect(world.as(world.escrow, world.payer).pay(terms, "0x")).to.be.revertedWithCustomError(token, expected);
        expect(await statusOf(terms)).to.equal(PaymentStatus.None);
        await (await unblock()).wait();
      }
      expect(await token.balanceOf(escrowAddress)).to.equal(0n);
      expect(await token.balanceOf(world.payer)).to.equal(PAYER_FUNDS);
    });

    it("keeps a payment held while the merchant is blocked, lets the payer be refunded meanwhile, and pays out once unblocked", async function () {
      const first = await makeTerms(world, { token: await token.getAddress(), amount: 30_00n });
      const second = await makeTerms(world, { token: await token.getAddress(), amount: 20_00n });
      await payHeld(world, first);
      await payHeld(world, second);
      await (await token.setBlocked(world.merchant, true)).wait();

      await expect(confirmTx(first)).to.be.revertedWithCustomError(token, "AccountBlocked").withArgs(first.merchant);
      expect(await statusOf(first)).to.equal(PaymentStatus.Held);
      expect(await token.balanceOf(escrowAddress)).to.equal(50_00n);

      // The refund goes to the payer, whom the token does not block: the other payment is not stuck.
      await refundAsMerchant(world, second, 20_00n);
      expect(await statusOf(second)).to.equal(PaymentStatus.Refunded);
      expect(await token.balanceOf(escrowAddress)).to.equal(30_00n);

      await (await token.setBlocked(world.merchant, false)).wait();
      await confirmAsPayer(world, first);
      expect(await statusOf(first)).to.equal(PaymentStatus.Released);
      expect(await token.balanceOf(escrowAddress)).to.equal(0n);
    });

    it("keeps every payment held while the token is paused and releases it after the pause", async function () {
      const terms = await makeTerms(world, { token: await token.getAddress(), amount: 30_00n });
      await payHeld(world, terms);
      await (await token.setPaused(true)).wait();
      await expect(confirmTx(terms)).to.be.revertedWithCustomError(token, "TokenPaused");
      expect(await statusOf(terms)).to.equal(PaymentStatus.Held);
      await (await token.setPaused(false)).wait();
      await confirmAsPayer(world, terms);
      expect(await statusOf(terms)).to.equal(PaymentStatus.Released);
    });
  });
});
