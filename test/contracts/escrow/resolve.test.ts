import { expect } from "chai";

import { deployWorld, ethers, makeTerms, networkHelpers, payHeld, PaymentStatus, type World } from "../helpers/fixture.js";
import { payDisputed, payFulfilled, reasonOf } from "../helpers/escrow2.js";

describe("PaymentEscrow.resolve", function () {
  let world: World;

  beforeEach(async function () {
    world = await networkHelpers.loadFixture(deployWorld);
  });

  for (const who of ["merchant", "payer", "outsider", "admin"] as const) {
    it(`refuses a resolution by the ${who}, who is no arbiter`, async function () {
      const { escrow, as } = world;
      const caller = world[who];
      const terms = await makeTerms(world);
      const id = await payDisputed(world, terms);
      await expect(as(escrow, caller).resolve(terms, 0n, ethers.ZeroHash))
        .to.be.revertedWithCustomError(escrow, "NotArbiter")
        .withArgs(await caller.getAddress());
      expect((await escrow.paymentOf(id)).status).to.equal(PaymentStatus.Disputed);
    });
  }

  it("refuses a resolution by an arbiter whose role was revoked", async function () {
    const { escrow, registry, arbiter, as } = world;
    const terms = await makeTerms(world);
    await payDisputed(world, terms);
    await (await registry.revokeRole(await registry.ARBITER_ROLE(), await arbiter.getAddress())).wait();
    await expect(as(escrow, arbiter).resolve(terms, 0n, ethers.ZeroHash))
      .to.be.revertedWithCustomError(escrow, "NotArbiter")
      .withArgs(await arbiter.getAddress());
  });

  it("resolves only disputed payments", async function () {
    const { escrow, arbiter, as } = world;
    const held = await makeTerms(world);
    const heldId = await payHeld(world, held);
    await expect(as(escrow, arbiter).resolve(held, 0n, ethers.ZeroHash))
      .to.be.revertedWithCustomError(escrow, "InvalidPaymentStatus")
      .withArgs(heldId, PaymentStatus.Held);

    const fulfilled = await makeTerms(world);
    const fulfilledId = await payFulfilled(world, fulfilled);
    await expect(as(escrow, arbiter).resolve(fulfilled, 0n, ethers.ZeroHash))
      .to.be.revertedWithCustomError(escrow, "InvalidPaymentStatus")
      .withArgs(fulfilledId, PaymentStatus.Fulfilled);

    const unknown = await makeTerms(world);
    await expect(as(escrow, arbiter).resolve(unknown, 0n, ethers.ZeroHash))
      .to.be.revertedWithCustomError(escrow, "PaymentNotFound")
      .withArgs(await escrow.paymentIdOf(unknown));
  });

  it("splits the held amount, taking the fee from the merchant's part rounded down", async function () {
    const { escrow, token, arbiter, payer, merchant, feeReceiver, as } = world;
    const terms = await makeTerms(world, { amount: 100_00n });
    const id = await payDisputed(world, terms);
    // merchant's gross 69_99 at 1%: fee 69.99 rounds down to 69.
    const tx = as(escrow, arbiter).resolve(terms, 30_01n, reasonOf("split"));
    await expect(tx)
      .to.emit(escrow, "PaymentResolved")
      .withArgs(id, await arbiter.getAddress(), 30_01n, 69_30n, 69n, reasonOf("split"));
    await expect(tx).to.changeTokenBalances(
      ethers,
      token,
      [escrow, payer, merchant, feeReceiver],
      [-100_00n, 30_01n, 69_30n, 69n],
    );
  });

  it("charges no fee when the merchant's part is too small to bear one", async function () {
    const { escrow, token, arbiter, payer, merchant, feeReceiver, as } = world;
    const terms = await makeTerms(world, { amount: 10_00n });
    const id = await payDisputed(world, terms);
    // merchant's gross 99 at 1% = 0.99, rounded down to 0.
    const tx = as(escrow, arbiter).resolve(terms, 9_01n, ethers.ZeroHash);
    await expect(tx).to.emit(escrow, "PaymentResolved").withArgs(id, await arbiter.getAddress(), 9_01n, 99n, 0n, ethers.ZeroHash);
    await expect(tx).to.changeTokenBalances(ethers, token, [escrow, payer, merchant, feeReceiver], [-10_00n, 9_01n, 99n, 0n]);
  });

  it("awards everything to the payer", async function () {
    const { escrow, token, arbiter, payer, merchant, feeReceiver, as } = world;
    const terms = await makeTerms(world);
    const id = await payDisputed(world, terms);
    const tx = as(escrow, arbiter).resolve(terms, terms.amount, reasonOf("payer-wins"));
    await expect(tx)
      .to.emit(escrow, "PaymentResolved")
      .withArgs(id, await arbiter.getAddress(), terms.amount, 0n, 0n, reasonOf("payer-wins"));
    await expect(tx).to.changeTokenBalances(
      ethers,
      token,
      [escrow, payer, merchant, feeReceiver],
      [-terms.amount, terms.amount, 0n, 0n],
    );
  });

  it("awards everything to the merchant, less the full fee", async function () {
    const { escrow, token, arbiter, payer, merchant, feeReceiver, as } = world;
    const terms = await makeTerms(world, { amount: 100_00n });
    const id = await payDisputed(world, terms);
    const tx = as(escrow, arbiter).resolve(terms, 0n, reasonOf("merchant-wins"));
    await expect(tx)
      .to.emit(escrow, "PaymentResolved")
      .withArgs(id, await arbiter.getAddress(), 0n, 99_00n, 1_00n, reasonOf("merchant-wins"));
    await expect(tx).to.changeTokenBalances(ethers, token, [escrow, payer, merchant, feeReceiver], [-100_00n, 0n, 99_00n, 1_00n]);
  });

  it("records the resolution: status Resolved, the payer's award counted as refunded, nothing held", async function () {
    const { escrow, arbiter, as } = world;
    const terms = await makeTerms(world);
    const id = await payDisputed(world, terms);
    await (await as(escrow, arbiter).resolve(terms, 25_00n, ethers.ZeroHash)).wait();
    const state = await escrow.paymentOf(id);
    expect(state.status).to.equal(PaymentStatus.Resolved);
    expect(state.amount).to.equal(terms.amount);
    expect(state.refunded).to.equal(25_00n);
    expect(await escrow.heldAmountOf(id)).to.equal(0n);
  });

  it("refuses to award the payer more than is held", async function () {
    const { escrow, arbiter, as } = world;
    const terms = await makeTerms(world);
    const id = await payDisputed(world, terms);
    await expect(as(escrow, arbiter).resolve(terms, terms.amount + 1n, ethers.ZeroHash))
      .to.be.revertedWithCustomError(escrow, "ResolutionExceedsHeld")
      .withArgs(id, terms.amount + 1n, terms.amount);
  });

  it("splits only what is left after a partial refund", async function () {
    const { escrow, token, arbiter, merchant, payer, feeReceiver, as } = world;
    const terms = await makeTerms(world, { amount: 100_00n });
    const id = await payDisputed(world, terms);
    await (await as(escrow, merchant).refund(terms, 40_00n, reasonOf("partial"))).wait();
    await expect(as(escrow, arbiter).resolve(terms, 60_01n, ethers.ZeroHash))
      .to.be.revertedWithCustomError(escrow, "ResolutionExceedsHeld")
      .withArgs(id, 60_01n, 60_00n);

    // 60_00 held: 10_00 to the payer, 50_00 gross to the merchant, fee 50.
    const tx = as(escrow, arbiter).resolve(terms, 10_00n, ethers.ZeroHash);
    await expect(tx).to.emit(escrow, "PaymentResolved").withArgs(id, await arbiter.getAddress(), 10_00n, 49_50n, 50n, ethers.ZeroHash);
    await expect(tx).to.changeTokenBalances(ethers, token, [escrow, payer, merchant, feeReceiver], [-60_00n, 10_00n, 49_50n, 50n]);
    expect((await escrow.paymentOf(id)).refunded).to.equal(50_00n);
  });

  it("refuses any refund or second resolution once resolved", async function () {
    const { escrow, arbiter, merchant, as } = world;
    const terms = await makeTerms(world);
    const id = await payDisputed(world, terms);
    await (await as(escrow, arbiter).resolve(terms, 50_00n, ethers.ZeroHash)).wait();
    await expect(as(escrow, merchant).refund(terms, 1n, ethers.ZeroHash))
      .to.be.revertedWithCustomError(escrow, "InvalidPaymentStatus")
      .withArgs(id, PaymentStatus.Resolved);
    await expect(as(escrow, arbiter).resolve(terms, 0n, ethers.ZeroHash))
      .to.be.revertedWithCustomError(escrow, "InvalidPaymentStatus")
      .withArgs(id, PaymentStatus.Resolved);
  });
});
