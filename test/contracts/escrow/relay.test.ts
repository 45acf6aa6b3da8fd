import { expect } from "chai";
import { anyValue } from "@nomicfoundation/hardhat-ethers-chai-matchers/withArgs";
import { keccak256, toUtf8Bytes, TypedDataEncoder, verifyTypedData } from "ethers";

import { ESCROW_ACTION_TYPES, ESCROW_OPERATION_KINDS, PAYMENT_TYPES, descriptorOf } from "../../../core/operations/index.js";
import { escrowDomain } from "../../../core/protocol/eip712.js";
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
import { actionMessage, operationIdOfTuple, payDisputed, payFulfilled, reasonOf, signedOperation } from "../helpers/escrow2.js";

describe("PaymentEscrow relayed operations", function () {
  let world: World;

  beforeEach(async function () {
    world = await networkHelpers.loadFixture(deployWorld);
  });

  /** Fixes the next block's timestamp a few seconds ahead and returns it. */
  async function nextBlockAt(): Promise<bigint> {
    const at = BigInt(await networkHelpers.time.latest()) + 5n;
    await networkHelpers.time.setNextBlockTimestamp(at);
    return at;
  }

  describe("execute", function () {
    it("relays a payment signed by the payer", async function () {
      const { escrow, token, payer, relayer, as } = world;
      const terms = await makeTerms(world);
      const id = await escrow.paymentIdOf(terms);
      const op = await signedOperation(world, OperationKind.Pay, terms, payer);
      const at = await nextBlockAt();
      const tx = as(escrow, relayer).execute(op);
      await expect(tx)
        .to.emit(escrow, "PaymentPaid")
        .withArgs(
          id,
          terms.payer,
          terms.merchant,
          terms.token,
          terms.amount,
          terms.orderId,
          terms.feeBps,
          false,
          at + BigInt(terms.fulfilmentPeriod),
        );
      await expect(tx).to.changeTokenBalances(ethers, token, [payer, escrow, relayer], [-terms.amount, terms.amount, 0n]);
      expect((await escrow.paymentOf(id)).status).to.equal(PaymentStatus.Held);
    });

    it("relays the merchant's fulfilment notice and uses up the merchant's nonce", async function () {
      const { escrow, merchant, relayer, as } = world;
      const terms = await makeTerms(world);
      const id = await payHeld(world, terms);
      const op = await signedOperation(world, OperationKind.MarkFulfilled, terms, merchant);
      const at = await nextBlockAt();
      await expect(as(escrow, relayer).execute(op))
        .to.emit(escrow, "PaymentFulfilled")
        .withArgs(id, at + BigInt(terms.autoReleasePeriod));
      expect((await escrow.paymentOf(id)).status).to.equal(PaymentStatus.Fulfilled);
      expect(await escrow.isNonceUsed(await merchant.getAddress(), op.nonce)).to.equal(true);
    });

    it("relays the payer's confirmation", async function () {
      const { escrow, token, payer, merchant, feeReceiver, relayer, as } = world;
      const terms = await makeTerms(world, { amount: 100_00n });
      const id = await payFulfilled(world, terms);
      const op = await signedOperation(world, OperationKind.Confirm, terms, payer);
      const at = await nextBlockAt();
      const tx = as(escrow, relayer).execute(op);
      await expect(tx)
        .to.emit(escrow, "PaymentReleased")
        .withArgs(id, terms.merchant, 99_00n, 1_00n, at + BigInt(terms.refundPeriod));
      await expect(tx).to.changeTokenBalances(ethers, token, [escrow, merchant, feeReceiver], [-100_00n, 99_00n, 1_00n]);
      expect((await escrow.paymentOf(id)).status).to.equal(PaymentStatus.Released);
    });

    it("relays a due release with an empty signature", async function () {
      const { escrow, token, merchant, relayer, as } = world;
      const terms = await makeTerms(world, { amount: 100_00n });
      const id = await payFulfilled(world, terms);
      await networkHelpers.time.increaseTo((await escrow.paymentOf(id)).deadline);
      const op = await signedOperation(world, OperationKind.Release, terms, relayer);
      expect(op.signature).to.equal("0x");
      const tx = as(escrow, relayer).execute(op);
      await expect(tx).to.emit(escrow, "PaymentReleased").withArgs(id, terms.merchant, 99_00n, 1_00n, anyValue);
      await expect(tx).to.changeTokenBalances(ethers, token, [escrow, merchant], [-100_00n, 99_00n]);
    });

    it("relays the merchant's refund", async function () {
      const { escrow, token, payer, merchant, relayer, as } = world;
      const terms = await makeTerms(world, { amount: 100_00n });
      const id = await payHeld(world, terms);
      const op = await signedOperation(world, OperationKind.Refund, terms, merchant, { amount: 30_00n, reason: reasonOf("late") });
      const tx = as(escrow, relayer).execute(op);
      await expect(tx).to.emit(escrow, "PaymentRefunded").withArgs(id, terms.payer, 30_00n, 70_00n, reasonOf("late"));
      await expect(tx).to.changeTokenBalances(ethers, token, [escrow, payer], [-30_00n, 30_00n]);
    });

    it("relays the payer's dispute", async function () {
      const { escrow, payer, relayer, as } = world;
      const terms = await makeTerms(world);
      const id = await payFulfilled(world, terms);
      const op = await signedOperation(world, OperationKind.Dispute, terms, payer, { reason: reasonOf("broken") });
      await expect(as(escrow, relayer).execute(op)).to.emit(escrow, "PaymentDisputed").withArgs(id, terms.payer, reasonOf("broken"));
      expect((await escrow.paymentOf(id)).status).to.equal(PaymentStatus.Disputed);
    });

    it("relays a resolution signed by an arbiter, naming the arbiter, not the relayer", async function () {
      const { escrow, token, payer, merchant, feeReceiver, arbiter, relayer, as } = world;
      const terms = await makeTerms(world, { amount: 100_00n });
      const id = await payDisputed(world, terms);
      const op = await signedOperation(world, OperationKind.Resolve, terms, arbiter, { amount: 50_00n, reason: reasonOf("half") });
      const tx = as(escrow, relayer).execute(op);
      await expect(tx)
        .to.emit(escrow, "PaymentResolved")
        .withArgs(id, await arbiter.getAddress(), 50_00n, 49_50n, 50n, reasonOf("half"));
      await expect(tx).to.changeTokenBalances(ethers, token, [escrow, payer, merchant, feeReceiver], [-100_00n, 50_00n, 49_50n, 50n]);
      expect(await escrow.isNonceUsed(await arbiter.getAddress(), op.nonce)).to.equal(true);
    });

    it("refuses a resolution signed by someone without the arbiter role", async function () {
      const { escrow, merchant, relayer, as } = world;
      const terms = await makeTerms(world);
      await payDisputed(world, terms);
      const op = await signedOperation(world, OperationKind.Resolve, terms, merchant);
      await expect(as(escrow, relayer).execute(op))
        .to.be.revertedWithCustomError(escrow, "NotArbiter")
        .withArgs(await merchant.getAddress());
    });

    it("relays the payer's reclaim", async function () {
      const { escrow, token, payer, relayer, as } = world;
      const terms = await makeTerms(world);
      const id = await payHeld(world, terms);
      await networkHelpers.time.increaseTo((await escrow.paymentOf(id)).deadline + 1n);
      const op = await signedOperation(world, OperationKind.Reclaim, terms, payer);
      const tx = as(escrow, relayer).execute(op);
      await expect(tx).to.emit(escrow, "PaymentReclaimed").withArgs(id, terms.payer, terms.amount);
      await expect(tx).to.changeTokenBalances(ethers, token, [escrow, payer], [-terms.amount, terms.amount]);
    });

    it("refuses every operation signed by the wrong party", async function () {
      const { escrow, payer, payer2, merchant, relayer, as } = world;
      const terms = await makeTerms(world);
      await payHeld(world, terms);
      const wrong = [
        { kind: OperationKind.Pay, signer: payer2, expected: terms.payer, terms: await makeTerms(world) },
        { kind: OperationKind.MarkFulfilled, signer: payer, expected: terms.merchant, terms },
        { kind: OperationKind.Confirm, signer: merchant, expected: terms.payer, terms },
        { kind: OperationKind.Refund, signer: payer, expected: terms.merchant, terms, amount: 1n },
        { kind: OperationKind.Dispute, signer: merchant, expected: terms.payer, terms },
        { kind: OperationKind.Reclaim, signer: merchant, expected: terms.payer, terms },
      ];
      for (const item of wrong) {
        const op = await signedOperation(world, item.kind, item.terms, item.signer, { amount: item.amount ?? 0n });
        await expect(as(escrow, relayer).execute(op), `kind ${item.kind}`)
          .to.be.revertedWithCustomError(escrow, "InvalidSigner")
          .withArgs(await item.signer.getAddress(), item.expected);
      }
    });

    it("treats a malformed signature as signed by nobody", async function () {
      const { escrow, merchant, relayer, as } = world;
      const terms = await makeTerms(world);
      await payHeld(world, terms);
      const op = { ...(await signedOperation(world, OperationKind.MarkFulfilled, terms, merchant)), signature: "0x1234" };
      await expect(as(escrow, relayer).execute(op))
        .to.be.revertedWithCustomError(escrow, "InvalidSigner")
        .withArgs(ethers.ZeroAddress, terms.merchant);
    });

    it("refuses a resolution whose signature recovers to nobody, before looking for the arbiter role", async function () {
      const { escrow, arbiter, relayer, as } = world;
      const terms = await makeTerms(world);
      await payDisputed(world, terms);
      const op = { ...(await signedOperation(world, OperationKind.Resolve, terms, arbiter)), signature: "0x1234" };
      await expect(as(escrow, relayer).execute(op))
        .to.be.revertedWithCustomError(escrow, "InvalidSigner")
        .withArgs(ethers.ZeroAddress, ethers.ZeroAddress);
    });
  });

  describe("replay protection", function () {
    it("executes a signed operation once: a replay fails with NonceAlreadyUsed", async function () {
      const { escrow, token, payer, merchant, relayer, as } = world;
      const terms = await makeTerms(world, { amount: 100_00n });
      const id = await payHeld(world, terms);
      const op = await signedOperation(world, OperationKind.Refund, terms, merchant, { amount: 10_00n });
      await expect(as(escrow, relayer).execute(op)).to.changeTokenBalances(ethers, token, [payer], [10_00n]);
      await expect(as(escrow, relayer).execute(op))
        .to.be.revertedWithCustomError(escrow, "NonceAlreadyUsed")
        .withArgs(await merchant.getAddress(), op.nonce);
      expect(await escrow.heldAmountOf(id)).to.equal(90_00n);
    });

    it("refuses to pay the same signed terms twice", async function () {
      const { escrow, payer, relayer, as } = world;
      const terms = await makeTerms(world);
      const op = await signedOperation(world, OperationKind.Pay, terms, payer);
      await (await as(escrow, relayer).execute(op)).wait();
      await expect(as(escrow, relayer).execute(op))
        .to.be.revertedWithCustomError(escrow, "PaymentAlreadyExists")
        .withArgs(await escrow.paymentIdOf(terms));
    });

    it("refuses an action signed for another chain", async function () {
      const { escrow, merchant, relayer, chainId, as } = world;
      const terms = await makeTerms(world);
      const id = await payHeld(world, terms);
      const op = await signedOperation(world, OperationKind.MarkFulfilled, terms, merchant, { chainId: chainId + 1n });
      const recovered = verifyTypedData(
        escrowDomain(chainId, await escrow.getAddress()),
        ESCROW_ACTION_TYPES.markFulfilled,
        actionMessage(OperationKind.MarkFulfilled, id, op.nonce, op.deadline),
        op.signature,
      );
      expect(recovered).to.not.equal(terms.merchant);
      await expect(as(escrow, relayer).execute(op))
        .to.be.revertedWithCustomError(escrow, "InvalidSigner")
        .withArgs(recovered, terms.merchant);
    });

    it("refuses payment terms signed for another chain", async function () {
      const { escrow, payer, relayer, chainId, as } = world;
      const terms = await makeTerms(world);
      const op = await signedOperation(world, OperationKind.Pay, terms, payer, { chainId: chainId + 1n });
      const recovered = verifyTypedData(escrowDomain(chainId, await escrow.getAddress()), PAYMENT_TYPES, terms, op.signature);
      await expect(as(escrow, relayer).execute(op))
        .to.be.revertedWithCustomError(escrow, "InvalidSigner")
        .withArgs(recovered, terms.payer);
    });

    it("refuses operations signed for another escrow contract", async function () {
      const { escrow, registry, feeReceiver, payer, relayer, chainId, as } = world;
      const other = await ethers.deployContract("PaymentEscrow", [await registry.getAddress(), await feeReceiver.getAddress()]);
      const otherAddress = await other.getAddress();
      const escrowAddress = await escrow.getAddress();

      const payTerms = await makeTerms(world);
      const payOp = await signedOperation(world, OperationKind.Pay, payTerms, payer, { verifyingContract: otherAddress });
      const payRecovered = verifyTypedData(escrowDomain(chainId, escrowAddress), PAYMENT_TYPES, payTerms, payOp.signature);
      await expect(as(escrow, relayer).execute(payOp))
        .to.be.revertedWithCustomError(escrow, "InvalidSigner")
        .withArgs(payRecovered, payTerms.payer);

      const terms = await makeTerms(world);
      const id = await payHeld(world, terms);
      const confirmOp = await signedOperation(world, OperationKind.Confirm, terms, payer, { verifyingContract: otherAddress });
      const recovered = verifyTypedData(
        escrowDomain(chainId, escrowAddress),
        ESCROW_ACTION_TYPES.confirm,
        actionMessage(OperationKind.Confirm, id, confirmOp.nonce, confirmOp.deadline),
        confirmOp.signature,
      );
      await expect(as(escrow, relayer).execute(confirmOp))
        .to.be.revertedWithCustomError(escrow, "InvalidSigner")
        .withArgs(recovered, terms.payer);
      expect((await escrow.paymentOf(id)).status).to.equal(PaymentStatus.Held);
    });

    it("accepts a signature up to its deadline and refuses it one second later", async function () {
      const { escrow, merchant, relayer, as } = world;
      const late = await makeTerms(world);
      await payHeld(world, late);
      const onTime = await makeTerms(world);
      const onTimeId = await payHeld(world, onTime);

      const deadline = BigInt(await networkHelpers.time.latest()) + 60n;
      const lateOp = await signedOperation(world, OperationKind.MarkFulfilled, late, merchant, { deadline });
      const onTimeOp = await signedOperation(world, OperationKind.MarkFulfilled, onTime, merchant, { deadline: deadline + 10n });

      await networkHelpers.time.setNextBlockTimestamp(deadline + 1n);
      await expect(as(escrow, relayer).execute(lateOp)).to.be.revertedWithCustomError(escrow, "SignatureExpired").withArgs(deadline);
      await networkHelpers.time.setNextBlockTimestamp(deadline + 10n);
      await expect(as(escrow, relayer).execute(onTimeOp)).to.emit(escrow, "PaymentFulfilled").withArgs(onTimeId, anyValue);
    });

    it("refuses an operation whose nonce the signer cancelled", async function () {
      const { escrow, payer, relayer, as } = world;
      const terms = await makeTerms(world);
      const id = await payHeld(world, terms);
      const op = await signedOperation(world, OperationKind.Dispute, terms, payer);
      await expect(as(escrow, payer).cancelNonce(op.nonce))
        .to.emit(escrow, "NonceCancelled")
        .withArgs(await payer.getAddress(), op.nonce);
      expect(await escrow.isNonceUsed(await payer.getAddress(), op.nonce)).to.equal(true);
      await expect(as(escrow, relayer).execute(op))
        .to.be.revertedWithCustomError(escrow, "NonceAlreadyUsed")
        .withArgs(await payer.getAddress(), op.nonce);
      expect((await escrow.paymentOf(id)).status).to.equal(PaymentStatus.Held);
    });
  });

  describe("executeBatch", function () {
    it("runs the good items of a mixed batch and reports each failure with its encoded error", async function () {
      const { escrow, payer, merchant, relayer, as } = world;
      const fresh = await makeTerms(world);
      const freshId = await escrow.paymentIdOf(fresh);
      const held = await makeTerms(world);
      const heldId = await payHeld(world, held);
      const toConfirm = await makeTerms(world);
      const toConfirmId = await payHeld(world, toConfirm);

      const ops = [
        await signedOperation(world, OperationKind.Pay, fresh, payer),
        await signedOperation(world, OperationKind.MarkFulfilled, held, payer), // wrong signer
        await signedOperation(world, OperationKind.Confirm, toConfirm, payer),
        await signedOperation(world, OperationKind.Release, held, relayer), // not fulfilled
        await signedOperation(world, OperationKind.Dispute, held, payer),
      ];
      const batch = as(escrow, relayer);
      expect(await batch.executeBatch.staticCall(ops)).to.deep.equal([true, false, true, false, true]);

      const wrongSigner = escrow.interface.encodeErrorResult("InvalidSigner", [await payer.getAddress(), await merchant.getAddress()]);
      const notFulfilled = escrow.interface.encodeErrorResult("InvalidPaymentStatus", [heldId, PaymentStatus.Held]);
      const tx = batch.executeBatch(ops);
      await expect(tx)
        .to.emit(escrow, "OperationFailed")
        .withArgs(1n, OperationKind.MarkFulfilled, heldId, await operationIdOfTuple(world, ops[1]!), wrongSigner);
      await expect(tx)
        .to.emit(escrow, "OperationFailed")
        .withArgs(3n, OperationKind.Release, heldId, await operationIdOfTuple(world, ops[3]!), notFulfilled);
      const receipt = await (await tx).wait();
      const failures = (receipt?.logs ?? []).filter((log) => escrow.interface.parseLog(log)?.name === "OperationFailed");
      expect(failures).to.have.length(2);

      expect((await escrow.paymentOf(freshId)).status).to.equal(PaymentStatus.Held);
      expect((await escrow.paymentOf(heldId)).status).to.equal(PaymentStatus.Disputed);
      expect((await escrow.paymentOf(toConfirmId)).status).to.equal(PaymentStatus.Released);
      // The failed item rolled back, so its nonce is still free.
      expect(await escrow.isNonceUsed(await payer.getAddress(), ops[1]?.nonce ?? 0n)).to.equal(false);
    });

    it("checks the merchant's fee on every item, also when the registry's answer is kept for the batch", async function () {
      const { escrow, payer, relayer, as } = world;
      const first = await makeTerms(world);
      const wrongFee = await makeTerms(world, { feeBps: Number(first.feeBps) + 1 });
      const ops = [
        await signedOperation(world, OperationKind.Pay, first, payer),
        await signedOperation(world, OperationKind.Pay, wrongFee, payer),
      ];
      const tx = as(escrow, relayer).executeBatch(ops);
      const wrongFeeId = await escrow.paymentIdOf(wrongFee);
      await expect(tx)
        .to.emit(escrow, "OperationFailed")
        .withArgs(1n, OperationKind.Pay, wrongFeeId, wrongFeeId, escrow.interface.encodeErrorResult("FeeMismatch", [wrongFee.feeBps, first.feeBps]));
      expect((await escrow.paymentOf(await escrow.paymentIdOf(first))).status).to.equal(PaymentStatus.Held);
    });

    it("keeps a registry answer for one batch only: a later batch or pay in the same transaction asks again", async function () {
      const { escrow, registry, payer, merchant } = world;
      const sequence = await ethers.deployContract("CallSequence");
      const sequenceAddress = await sequence.getAddress();
      // The sequence suspends the merchant between the calls, as the registry's admin.
      await (await registry.grantRole(ethers.ZeroHash, sequenceAddress)).wait();
      const [inFirstBatch, alone, inSecondBatch] = [await makeTerms(world), await makeTerms(world), await makeTerms(world)];
      const batchOf = async (terms: typeof alone) =>
        escrow.interface.encodeFunctionData("executeBatch", [[await signedOperation(world, OperationKind.Pay, terms, payer)]]);
      const signedAlone = await signedOperation(world, OperationKind.Pay, alone, payer);
      const escrowAddress = await escrow.getAddress();
      const tx = sequence.run(
        [escrowAddress, await registry.getAddress(), escrowAddress, escrowAddress],
        [
          await batchOf(inFirstBatch),
          registry.interface.encodeFunctionData("setAccountStatus", [await merchant.getAddress(), 2]),
          escrow.interface.encodeFunctionData("pay", [alone, signedAlone.signature]),
          await batchOf(inSecondBatch),
        ],
      );
      await expect(tx).to.emit(sequence, "Called").withArgs(2n, false);
      const secondId = await escrow.paymentIdOf(inSecondBatch);
      await expect(tx)
        .to.emit(escrow, "OperationFailed")
        .withArgs(0n, OperationKind.Pay, secondId, secondId, escrow.interface.encodeErrorResult("MerchantNotActive", [await merchant.getAddress()]));
      const statusOf = async (terms: typeof alone) => (await escrow.paymentOf(await escrow.paymentIdOf(terms))).status;
      expect(await statusOf(inFirstBatch)).to.equal(PaymentStatus.Held);
      expect(await statusOf(alone)).to.equal(PaymentStatus.None);
      expect(await statusOf(inSecondBatch)).to.equal(PaymentStatus.None);
    });

    it("executes a payment listed twice in a batch only once", async function () {
      const { escrow, token, payer, relayer, as } = world;
      const terms = await makeTerms(world);
      const id = await escrow.paymentIdOf(terms);
      const op = await signedOperation(world, OperationKind.Pay, terms, payer);
      const batch = as(escrow, relayer);
      expect(await batch.executeBatch.staticCall([op, op])).to.deep.equal([true, false]);
      const tx = batch.executeBatch([op, op]);
      await expect(tx)
        .to.emit(escrow, "OperationFailed")
        .withArgs(1n, OperationKind.Pay, id, id, escrow.interface.encodeErrorResult("PaymentAlreadyExists", [id]));
      await expect(tx).to.changeTokenBalances(ethers, token, [payer, escrow], [-terms.amount, terms.amount]);
    });

    it("executes a batch of ten payments", async function () {
      const { escrow, token, payer, relayer, as } = world;
      const allTerms = [];
      for (let i = 0; i < 10; i++) allTerms.push(await makeTerms(world, { amount: BigInt(i + 1) * 1_00n }));
      const ops = await Promise.all(allTerms.map((terms) => signedOperation(world, OperationKind.Pay, terms, payer)));
      const batch = as(escrow, relayer);
      expect(await batch.executeBatch.staticCall(ops)).to.deep.equal(Array<boolean>(10).fill(true));
      await expect(batch.executeBatch(ops)).to.changeTokenBalances(ethers, token, [payer, escrow], [-55_00n, 55_00n]);
      for (const terms of allTerms) {
        const state = await escrow.paymentOf(await escrow.paymentIdOf(terms));
        expect(state.status).to.equal(PaymentStatus.Held);
        expect(state.amount).to.equal(terms.amount);
      }
    });

    it("names each failed item by the operation id nodes compute for it, for every kind", async function () {
      const { escrow, payer, merchant, arbiter, relayer, as } = world;
      // Every kind fails: the payment is already paid (pay), unknown (the rest).
      const paid = await makeTerms(world);
      await payHeld(world, paid);
      const unknown = await makeTerms(world);
      const ops = [
        await signedOperation(world, OperationKind.Pay, paid, payer),
        await signedOperation(world, OperationKind.MarkFulfilled, unknown, merchant),
        await signedOperation(world, OperationKind.Confirm, unknown, payer),
        await signedOperation(world, OperationKind.Release, unknown, relayer),
        await signedOperation(world, OperationKind.Refund, unknown, merchant, { amount: 5n, reason: reasonOf("late") }),
        await signedOperation(world, OperationKind.Dispute, unknown, payer, { reason: reasonOf("broken") }),
        await signedOperation(world, OperationKind.Resolve, unknown, arbiter, { amount: 7n, reason: reasonOf("split") }),
        await signedOperation(world, OperationKind.Reclaim, unknown, payer),
      ];
      const receipt = await (await as(escrow, relayer).executeBatch(ops)).wait();
      const failed = (receipt?.logs ?? []).flatMap((log) => {
        const event = escrow.interface.parseLog(log);
        return event?.name === "OperationFailed" ? [{ index: Number(event.args.getValue("index")), operationId: String(event.args.getValue("operationId")) }] : [];
      });
      expect(failed.map((f) => f.index)).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7]);
      for (const [i, op] of ops.entries()) {
        expect(failed[i]?.operationId, `item ${i} (${ESCROW_OPERATION_KINDS[op.kind]})`).to.equal(await operationIdOfTuple(world, op));
      }
    });

    it("refuses a direct call of the batch item entry point", async function () {
      const { escrow, merchant, relayer, as } = world;
      const terms = await makeTerms(world);
      await payHeld(world, terms);
      const op = await signedOperation(world, OperationKind.MarkFulfilled, terms, merchant);
      await expect(as(escrow, relayer).executeFromBatch(op)).to.be.revertedWithCustomError(escrow, "OnlySelf");
      await expect(as(escrow, merchant).executeFromBatch(op)).to.be.revertedWithCustomError(escrow, "OnlySelf");
    });
  });

  describe("EIP-712 types agree with the operation descriptors (core/operations)", function () {
    it("has every typehash equal to the hash of the type string of the descriptor that signs it", async function () {
      const { escrow } = world;
      const signed = ESCROW_OPERATION_KINDS.map((kind) => descriptorOf(kind).struct).filter((struct) => struct !== undefined);
      expect(signed.map((struct) => struct.primaryType)).to.deep.equal(["Payment", "MarkFulfilled", "Confirm", "Refund", "Dispute", "Resolve", "Reclaim"]);
      for (const struct of signed) {
        // MarkFulfilled → MARK_FULFILLED_TYPEHASH
        const constant = `${struct.primaryType.replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase()}_TYPEHASH`;
        const encoded = TypedDataEncoder.from(struct.types).encodeType(struct.primaryType);
        expect(encoded).to.equal(struct.typeString);
        const onChain = await escrow.getFunction(constant).staticCall();
        expect(onChain, `${constant} vs ${encoded}`).to.equal(keccak256(toUtf8Bytes(encoded)));
      }
    });

    it("derives the payment id as the EIP-712 digest of the terms under the escrow's domain", async function () {
      const { escrow, chainId } = world;
      const terms = await makeTerms(world);
      const domain = escrowDomain(chainId, await escrow.getAddress());
      expect(await escrow.paymentIdOf(terms)).to.equal(TypedDataEncoder.hash(domain, PAYMENT_TYPES, terms));
      const onChainDomain = await escrow.eip712Domain();
      expect([onChainDomain.name, onChainDomain.version, onChainDomain.chainId, onChainDomain.verifyingContract]).to.deep.equal([
        domain.name,
        domain.version,
        chainId,
        domain.verifyingContract,
      ]);
    });
  });
});
