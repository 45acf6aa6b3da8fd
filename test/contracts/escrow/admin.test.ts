import { expect } from "chai";

import {
  deployWorld,
  ethers,
  makeTerms,
  networkHelpers,
  OperationKind,
  payHeld,
  PaymentStatus,
  type World,
} from "../helpers/fixture.js";
import { payDisputed, payFulfilled, reasonOf, signedOperation } from "../helpers/escrow2.js";

describe("PaymentEscrow administration", function () {
  let world: World;

  beforeEach(async function () {
    world = await networkHelpers.loadFixture(deployWorld);
  });

  /** Pauses the escrow as the regulator. */
  async function pause() {
    await (await world.as(world.escrow, world.regulator).pause()).wait();
  }

  describe("pause", function () {
    for (const who of ["admin", "regulator"] as const) {
      it(`lets the ${who} pause and unpause`, async function () {
        const { escrow, as } = world;
        const caller = world[who];
        await expect(as(escrow, caller).pause()).to.emit(escrow, "Paused").withArgs(await caller.getAddress());
        expect(await escrow.paused()).to.equal(true);
        await expect(as(escrow, caller).unpause()).to.emit(escrow, "Unpaused").withArgs(await caller.getAddress());
        expect(await escrow.paused()).to.equal(false);
      });
    }

    it("refuses pause and unpause from anyone without the admin or regulator role", async function () {
      const { escrow, registry, outsider, inst1, arbiter, merchant, as } = world;
      const regulatorRole = await registry.REGULATOR_ROLE();
      for (const caller of [outsider, inst1, arbiter, merchant]) {
        await expect(as(escrow, caller).pause())
          .to.be.revertedWithCustomError(escrow, "Unauthorized")
          .withArgs(await caller.getAddress(), regulatorRole);
      }
      await pause();
      await expect(as(escrow, outsider).unpause())
        .to.be.revertedWithCustomError(escrow, "Unauthorized")
        .withArgs(await outsider.getAddress(), regulatorRole);
      expect(await escrow.paused()).to.equal(true);
    });

    it("refuses a direct payment while paused and takes it after unpausing", async function () {
      const { escrow, payer, regulator, as } = world;
      const terms = await makeTerms(world);
      await pause();
      await expect(as(escrow, payer).pay(terms, "0x")).to.be.revertedWithCustomError(escrow, "EnforcedPause");
      await (await as(escrow, regulator).unpause()).wait();
      await expect(as(escrow, payer).pay(terms, "0x")).to.emit(escrow, "PaymentPaid");
    });

    it("refuses a relayed payment while paused", async function () {
      const { escrow, payer, relayer, as } = world;
      const terms = await makeTerms(world);
      const op = await signedOperation(world, OperationKind.Pay, terms, payer);
      await pause();
      await expect(as(escrow, relayer).execute(op)).to.be.revertedWithCustomError(escrow, "EnforcedPause");
    });

    it("fails a batched payment with EnforcedPause while paused, leaving funds with the payer", async function () {
      const { escrow, token, payer, relayer, as } = world;
      const terms = await makeTerms(world);
      const id = await escrow.paymentIdOf(terms);
      const op = await signedOperation(world, OperationKind.Pay, terms, payer);
      await pause();
      const batch = as(escrow, relayer);
      expect(await batch.executeBatch.staticCall([op])).to.deep.equal([false]);
      const tx = batch.executeBatch([op]);
      await expect(tx)
        .to.emit(escrow, "OperationFailed")
        .withArgs(0n, OperationKind.Pay, id, id, escrow.interface.encodeErrorResult("EnforcedPause", []));
      await expect(tx).to.changeTokenBalances(ethers, token, [payer, escrow], [0n, 0n]);
      expect((await escrow.paymentOf(id)).status).to.equal(PaymentStatus.None);
    });

    it("keeps fulfilment, confirmation and auto-release working while paused", async function () {
      const { escrow, payer, merchant, outsider, as } = world;
      const toConfirm = await makeTerms(world);
      const toConfirmId = await payHeld(world, toConfirm);
      const toRelease = await makeTerms(world);
      const toReleaseId = await payHeld(world, toRelease);
      await pause();

      await expect(as(escrow, merchant).markFulfilled(toConfirm)).to.emit(escrow, "PaymentFulfilled");
      await expect(as(escrow, payer).confirm(toConfirm)).to.emit(escrow, "PaymentReleased");
      expect((await escrow.paymentOf(toConfirmId)).status).to.equal(PaymentStatus.Released);

      await (await as(escrow, merchant).markFulfilled(toRelease)).wait();
      await networkHelpers.time.increaseTo((await escrow.paymentOf(toReleaseId)).deadline);
      await expect(as(escrow, outsider).release(toRelease)).to.emit(escrow, "PaymentReleased");
      expect((await escrow.paymentOf(toReleaseId)).status).to.equal(PaymentStatus.Released);
    });

    it("keeps refunds working while paused, direct and relayed, before and after release", async function () {
      const { escrow, token, payer, merchant, relayer, as } = world;
      const held = await makeTerms(world, { amount: 100_00n });
      const heldId = await payHeld(world, held);
      const released = await makeTerms(world, { amount: 100_00n, direct: true });
      const releasedId = await payHeld(world, released);
      await pause();

      await expect(as(escrow, merchant).refund(held, 100_00n, ethers.ZeroHash)).to.changeTokenBalances(
        ethers,
        token,
        [escrow, payer],
        [-100_00n, 100_00n],
      );
      expect((await escrow.paymentOf(heldId)).status).to.equal(PaymentStatus.Refunded);

      const op = await signedOperation(world, OperationKind.Refund, released, merchant, { amount: 20_00n });
      await expect(as(escrow, relayer).execute(op)).to.changeTokenBalances(ethers, token, [merchant, payer], [-20_00n, 20_00n]);
      expect((await escrow.paymentOf(releasedId)).refunded).to.equal(20_00n);
    });

    it("keeps disputes and their resolution working while paused", async function () {
      const { escrow, payer, arbiter, as } = world;
      const terms = await makeTerms(world);
      const id = await payFulfilled(world, terms);
      await pause();
      await expect(as(escrow, payer).dispute(terms, reasonOf("paused"))).to.emit(escrow, "PaymentDisputed");
      await expect(as(escrow, arbiter).resolve(terms, terms.amount, ethers.ZeroHash)).to.emit(escrow, "PaymentResolved");
      expect((await escrow.paymentOf(id)).status).to.equal(PaymentStatus.Resolved);
    });

    it("keeps reclaims working while paused", async function () {
      const { escrow, token, payer, as } = world;
      const terms = await makeTerms(world);
      const id = await payHeld(world, terms);
      await pause();
      await networkHelpers.time.increaseTo((await escrow.paymentOf(id)).deadline + 1n);
      await expect(as(escrow, payer).reclaim(terms)).to.changeTokenBalances(ethers, token, [escrow, payer], [-terms.amount, terms.amount]);
      expect((await escrow.paymentOf(id)).status).to.equal(PaymentStatus.Reclaimed);
    });
  });

  describe("fee receiver", function () {
    it("is fixed at deployment: the escrow offers no way to change it", async function () {
      const { escrow, feeReceiver } = world;
      expect(await escrow.feeReceiver()).to.equal(await feeReceiver.getAddress());
      const feeFunctions: string[] = [];
      escrow.interface.forEachFunction((f) => {
        if (/fee/i.test(f.name)) feeFunctions.push(f.name);
      });
      expect(feeFunctions).to.deep.equal(["feeReceiver"]);
    });

    it("receives the fee of every release and resolution", async function () {
      const { escrow, token, payer, arbiter, feeReceiver, as } = world;
      const confirmed = await makeTerms(world, { amount: 100_00n });
      await payHeld(world, confirmed);
      await expect(as(escrow, payer).confirm(confirmed)).to.changeTokenBalance(ethers, token, feeReceiver, 1_00n);

      const resolved = await makeTerms(world, { amount: 100_00n });
      await payDisputed(world, resolved);
      await expect(as(escrow, arbiter).resolve(resolved, 0n, ethers.ZeroHash)).to.changeTokenBalance(ethers, token, feeReceiver, 1_00n);
    });
  });

  describe("deployment", function () {
    it("refuses a zero registry or fee receiver", async function () {
      const { escrow, registry, feeReceiver } = world;
      const noRegistry = ethers.deployContract("PaymentEscrow", [ethers.ZeroAddress, await feeReceiver.getAddress()]);
      await expect(noRegistry).to.be.revertedWithCustomError(escrow, "ZeroAddress");
      const noFeeReceiver = ethers.deployContract("PaymentEscrow", [await registry.getAddress(), ethers.ZeroAddress]);
      await expect(noFeeReceiver).to.be.revertedWithCustomError(escrow, "ZeroAddress");
    });

    it("refuses a fee receiver that is not a registered, active account (fees could never be paid to it)", async function () {
      const { escrow, registry, outsider } = world;
      await expect(ethers.deployContract("PaymentEscrow", [await registry.getAddress(), await outsider.getAddress()]))
        .to.be.revertedWithCustomError(escrow, "FeeReceiverNotRegistered")
        .withArgs(await outsider.getAddress());
    });

    it("records the registry and a registered fee receiver", async function () {
      const { registry, admin, outsider, as } = world;
      await (await as(registry, admin).registerProtocolAccount(await outsider.getAddress())).wait();
      const escrow = await ethers.deployContract("PaymentEscrow", [await registry.getAddress(), await outsider.getAddress()]);
      expect(await escrow.registry()).to.equal(await registry.getAddress());
      expect(await escrow.feeReceiver()).to.equal(await outsider.getAddress());
    });
  });

  describe("views", function () {
    it("reports the amount still held through a payment's life", async function () {
      const { escrow, merchant, arbiter, as } = world;
      const terms = await makeTerms(world, { amount: 100_00n });
      const id = await escrow.paymentIdOf(terms);
      expect(await escrow.heldAmountOf(id)).to.equal(0n);
      await payHeld(world, terms);
      expect(await escrow.heldAmountOf(id)).to.equal(100_00n);
      await (await as(escrow, merchant).refund(terms, 30_00n, ethers.ZeroHash)).wait();
      expect(await escrow.heldAmountOf(id)).to.equal(70_00n);
      await (await as(escrow, merchant).markFulfilled(terms)).wait();
      expect(await escrow.heldAmountOf(id)).to.equal(70_00n);
      await (await as(escrow, world.payer).dispute(terms, ethers.ZeroHash)).wait();
      expect(await escrow.heldAmountOf(id)).to.equal(70_00n);
      await (await as(escrow, arbiter).resolve(terms, 10_00n, ethers.ZeroHash)).wait();
      expect(await escrow.heldAmountOf(id)).to.equal(0n);

      const direct = await makeTerms(world, { direct: true });
      expect(await escrow.heldAmountOf(await payHeld(world, direct))).to.equal(0n);
    });

    it("returns the stored payment slot, its deadline following the status", async function () {
      const { escrow, merchant, payer, as } = world;
      const terms = await makeTerms(world, { amount: 42_00n });
      const id = await escrow.paymentIdOf(terms);
      const unknown = await escrow.paymentOf(id);
      expect([unknown.status, unknown.amount, unknown.refunded, unknown.deadline]).to.deep.equal([0n, 0n, 0n, 0n]);

      const paidAt = BigInt(await networkHelpers.time.latest()) + 10n;
      await networkHelpers.time.setNextBlockTimestamp(paidAt);
      await payHeld(world, terms);
      const held = await escrow.paymentOf(id);
      expect([held.status, held.amount, held.refunded, held.deadline]).to.deep.equal([
        BigInt(PaymentStatus.Held),
        42_00n,
        0n,
        paidAt + BigInt(terms.fulfilmentPeriod),
      ]);

      const fulfilledAt = paidAt + 100n;
      await networkHelpers.time.setNextBlockTimestamp(fulfilledAt);
      await (await as(escrow, merchant).markFulfilled(terms)).wait();
      expect((await escrow.paymentOf(id)).deadline).to.equal(fulfilledAt + BigInt(terms.autoReleasePeriod));

      const confirmedAt = fulfilledAt + 100n;
      await networkHelpers.time.setNextBlockTimestamp(confirmedAt);
      await (await as(escrow, payer).confirm(terms)).wait();
      const released = await escrow.paymentOf(id);
      expect(released.status).to.equal(PaymentStatus.Released);
      expect(released.deadline).to.equal(confirmedAt + BigInt(terms.refundPeriod));
    });
  });
});
