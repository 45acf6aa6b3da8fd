import { expect } from "chai";

import { escrowKindsExecutedBy, escrowOperationSchema, paymentIdOf, termsToJson } from "../../../core/operations/index.js";
import { deployWorld, makeTerms, networkHelpers } from "../../contracts/helpers/fixture.js";
import { zodPaths } from "../../helpers/errors.js";
import { wireTerms } from "../../helpers/operations.js";
import { escrowContext, escrowEvents, executeBatch, shouldBehaveLikeEscrowOperation, signed } from "./escrow-behaviour.js";

describe("pay (core/operations/pay.ts)", function () {
  shouldBehaveLikeEscrowOperation({
    kind: "pay",
    prepare: (world) => makeTerms(world),
    operation: async (_world, terms) => ({ kind: "pay", terms: termsToJson(terms) }),
    signer: (world) => world.payer,
    impostor: { signer: (world) => world.payer2, error: "InvalidSigner" },
    refused: async (world) => {
      const terms = await makeTerms(world, { payDeadline: BigInt(await networkHelpers.time.latest()) - 1n });
      return { op: await signed(world, { kind: "pay", terms: termsToJson(terms) }, world.payer), error: "PaymentExpired" };
    },
  });

  it("has the payment id the escrow computes as its id, for held and direct payments", async function () {
    const world = await networkHelpers.loadFixture(deployWorld);
    for (const direct of [false, true]) {
      const terms = await makeTerms(world, { direct });
      expect(paymentIdOf(terms, await escrowContext(world))).to.equal(await world.escrow.paymentIdOf(terms));
    }
  });

  it("shows executed by PaymentPaid, and for a direct payment by its PaymentReleased too", async function () {
    const world = await networkHelpers.loadFixture(deployWorld);
    const op = await signed(world, { kind: "pay", terms: termsToJson(await makeTerms(world, { direct: true })) }, world.payer);
    const { receipt, refusals } = await executeBatch(world, [op]);
    expect(refusals.size).to.equal(0);
    const names = escrowEvents(world, receipt).map((event) => event.name);
    expect(names).to.deep.equal(["PaymentPaid", "PaymentReleased"]);
    for (const name of names) expect(escrowKindsExecutedBy(name, true), name).to.include("pay");
    expect(escrowKindsExecutedBy("PaymentReleased", false)).to.not.include("pay");
  });

  describe("refuses malformed terms, naming the field", function () {
    const terms = wireTerms();
    const pay = { kind: "pay", terms, signature: "0x" + "aa".repeat(65) };

    it("accepts the well-formed baseline", function () {
      expect(escrowOperationSchema.parse(pay).terms.amount).to.equal(1000n);
    });
    it("refuses money as a JSON number, a fraction, a negative or zero amount", function () {
      for (const amount of [1000, "10.5", "-1", "0", "01"]) {
        expect(zodPaths(() => escrowOperationSchema.parse({ ...pay, terms: { ...terms, amount } }))).to.deep.equal(["terms.amount"]);
      }
    });
    it("refuses an amount beyond the escrow's 96-bit accounting and a pay deadline beyond 64 bits", function () {
      expect(zodPaths(() => escrowOperationSchema.parse({ ...pay, terms: { ...terms, amount: (1n << 96n).toString() } }))).to.deep.equal(["terms.amount"]);
      expect(zodPaths(() => escrowOperationSchema.parse({ ...pay, terms: { ...terms, payDeadline: (1n << 64n).toString() } }))).to.deep.equal(["terms.payDeadline"]);
    });
    it("refuses a bad address, a short signature and an unknown kind", function () {
      expect(zodPaths(() => escrowOperationSchema.parse({ ...pay, terms: { ...terms, payer: "0x1234" } }))).to.deep.equal(["terms.payer"]);
      expect(zodPaths(() => escrowOperationSchema.parse({ ...pay, signature: "0xabcd" }))).to.deep.equal(["signature"]);
      expect(zodPaths(() => escrowOperationSchema.parse({ ...pay, kind: "steal" }))).to.deep.equal(["kind"]);
    });
    it("refuses a fee above 100% and periods that are not whole seconds", function () {
      expect(zodPaths(() => escrowOperationSchema.parse({ ...pay, terms: { ...terms, feeBps: 10_001 } }))).to.deep.equal(["terms.feeBps"]);
      expect(zodPaths(() => escrowOperationSchema.parse({ ...pay, terms: { ...terms, refundPeriod: 1.5 } }))).to.deep.equal(["terms.refundPeriod"]);
    });
  });
});
