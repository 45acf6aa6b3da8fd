import { expect } from "chai";

import { ESCROW_ACTION_TYPES, escrowDomain } from "../../../core/protocol/eip712.js";
import {
  escrowOperationSchema,
  operationIdOf,
  paymentIdOf,
  termsToJson,
  toContractOperation,
  type EscrowOperationInput,
} from "../../../core/operations/index.js";
import { deployWorld, makeTerms, networkHelpers, signTerms, PaymentStatus } from "../../contracts/helpers/fixture.js";
import { zodPaths } from "../../helpers/errors.js";

describe("operation wire format", function () {
  it("computes the same payment id as the escrow contract", async function () {
    const world = await networkHelpers.loadFixture(deployWorld);
    const terms = await makeTerms(world);
    const ctx = { chainId: world.chainId, escrow: await world.escrow.getAddress() };
    expect(paymentIdOf(terms, ctx)).to.equal(await world.escrow.paymentIdOf(terms));
  });

  it("round-trips a signed pay and confirm through JSON and executes them on-chain by a relayer", async function () {
    const world = await networkHelpers.loadFixture(deployWorld);
    const terms = await makeTerms(world);
    const ctx = { chainId: world.chainId, escrow: await world.escrow.getAddress() };
    const payJson: EscrowOperationInput = { kind: "pay", terms: termsToJson(terms), signature: await signTerms(world, world.payer, terms) };
    const pay = escrowOperationSchema.parse(JSON.parse(JSON.stringify(payJson)));
    await (await world.as(world.escrow, world.relayer).execute(toContractOperation(pay))).wait();
    const id = operationIdOf(pay, ctx);
    expect((await world.escrow.paymentOf(id)).status).to.equal(PaymentStatus.Held);

    const deadline = BigInt(await networkHelpers.time.latest()) + 600n;
    const signature = await world.payer.signTypedData(escrowDomain(world.chainId, ctx.escrow), ESCROW_ACTION_TYPES.confirm, {
      paymentId: id,
      nonce: 7n,
      deadline,
    });
    const confirm = escrowOperationSchema.parse({
      kind: "confirm",
      terms: termsToJson(terms),
      nonce: "7",
      deadline: deadline.toString(),
      signature,
    });
    await (await world.as(world.escrow, world.relayer).execute(toContractOperation(confirm))).wait();
    expect((await world.escrow.paymentOf(id)).status).to.equal(PaymentStatus.Released);
    expect(operationIdOf(confirm, ctx)).to.not.equal(id);
  });

  it("gives each kind of operation on one payment a distinct id", async function () {
    const world = await networkHelpers.loadFixture(deployWorld);
    const terms = termsToJson(await makeTerms(world));
    const ctx = { chainId: world.chainId, escrow: await world.escrow.getAddress() };
    const sig = "0x" + "11".repeat(65);
    const signed = { terms, nonce: "1", deadline: "99", signature: sig };
    const ops: EscrowOperationInput[] = [
      { kind: "pay", terms, signature: sig },
      { kind: "markFulfilled", ...signed },
      { kind: "confirm", ...signed },
      { kind: "release", terms },
      { kind: "refund", ...signed, amount: "5", reason: "0x" + "00".repeat(32) },
      { kind: "dispute", ...signed, reason: "0x" + "00".repeat(32) },
      { kind: "resolve", ...signed, payerAmount: "5", reason: "0x" + "00".repeat(32) },
      { kind: "reclaim", ...signed },
    ];
    const ids = ops.map((op) => operationIdOf(escrowOperationSchema.parse(op), ctx));
    expect(new Set(ids).size).to.equal(ops.length);
  });

  describe("refuses malformed input, naming the field", function () {
    const terms = {
      payer: "0x" + "11".repeat(20),
      merchant: "0x" + "22".repeat(20),
      token: "0x" + "33".repeat(20),
      amount: "1000",
      orderId: "0x" + "44".repeat(32),
      feeBps: 100,
      direct: false,
      payDeadline: "1900000000",
      fulfilmentPeriod: 60,
      autoReleasePeriod: 60,
      refundPeriod: 60,
      nonce: "1",
    };
    const pay = { kind: "pay", terms, signature: "0x" + "aa".repeat(65) };

    it("accepts the well-formed baseline", function () {
      expect(escrowOperationSchema.parse(pay).terms.amount).to.equal(1000n);
    });
    it("refuses unknown fields", function () {
      expect(zodPaths(() => escrowOperationSchema.parse({ ...pay, extra: 1 }))).to.deep.equal([""]);
      expect(zodPaths(() => escrowOperationSchema.parse({ ...pay, terms: { ...terms, memo: "x" } }))).to.deep.equal(["terms"]);
    });
    it("refuses money as a JSON number, a fraction, a negative or zero amount", function () {
      for (const amount of [1000, "10.5", "-1", "0", "01"]) {
        expect(zodPaths(() => escrowOperationSchema.parse({ ...pay, terms: { ...terms, amount } }))).to.deep.equal(["terms.amount"]);
      }
    });
    it("refuses an amount beyond the escrow's 96-bit accounting", function () {
      const amount = (1n << 96n).toString();
      expect(zodPaths(() => escrowOperationSchema.parse({ ...pay, terms: { ...terms, amount } }))).to.deep.equal(["terms.amount"]);
    });
    it("refuses a bad address, a short signature and an unknown kind", function () {
      expect(zodPaths(() => escrowOperationSchema.parse({ ...pay, terms: { ...terms, payer: "0x1234" } }))).to.deep.equal(["terms.payer"]);
      expect(zodPaths(() => escrowOperationSchema.parse({ ...pay, signature: "0xabcd" }))).to.deep.equal(["signature"]);
      expect(zodPaths(() => escrowOperationSchema.parse({ ...pay, kind: "steal" }))).to.deep.equal(["kind"]);
    });
    it("refuses a fee above 100% and a refund without amount", function () {
      expect(zodPaths(() => escrowOperationSchema.parse({ ...pay, terms: { ...terms, feeBps: 10_001 } }))).to.deep.equal(["terms.feeBps"]);
      const refund = { kind: "refund", terms, nonce: "1", deadline: "2", signature: pay.signature, reason: terms.orderId };
      expect(zodPaths(() => escrowOperationSchema.parse(refund))).to.deep.equal(["amount"]);
    });
  });
});
