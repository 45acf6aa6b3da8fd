import { expect } from "chai";
import { encodeBytes32String } from "ethers";

import { escrowOperationSchema, eventMatches, termsToJson } from "../../../core/operations/index.js";
import { deployWorld, networkHelpers } from "../../contracts/helpers/fixture.js";
import { zodPaths } from "../../helpers/errors.js";
import { deadlineAhead, escrowEvents, executeBatch, freshNonce, heldPayment, shouldBehaveLikeEscrowOperation, signed, unpaidTerms } from "./escrow-behaviour.js";

const REASON = encodeBytes32String("damaged");

describe("refund (core/operations/refund.ts)", function () {
  shouldBehaveLikeEscrowOperation({
    kind: "refund",
    prepare: (world) => heldPayment(world),
    operation: async (_world, terms) => ({ kind: "refund", terms: termsToJson(terms), amount: "1000", reason: REASON, nonce: freshNonce(), deadline: await deadlineAhead() }),
    signer: (world) => world.merchant,
    impostor: { signer: (world) => world.payer, error: "InvalidSigner" },
    refused: async (world) => ({
      op: await signed(
        world,
        { kind: "refund", terms: termsToJson(await unpaidTerms(world)), amount: "1000", reason: REASON, nonce: freshNonce(), deadline: await deadlineAhead() },
        world.merchant,
      ),
      error: "PaymentNotFound",
    }),
  });

  it("matches each PaymentRefunded to the refund of its amount and reason (a payment may take several)", async function () {
    const world = await networkHelpers.loadFixture(deployWorld);
    const terms = termsToJson(await heldPayment(world));
    const refund = async (amount: string, reason = REASON) =>
      signed(world, { kind: "refund", terms, amount, reason, nonce: freshNonce(), deadline: await deadlineAhead() }, world.merchant);
    const [small, large, otherReason] = [await refund("100"), await refund("2500"), await refund("100", encodeBytes32String("wrong size"))];
    const { receipt, refusals } = await executeBatch(world, [small, large]);
    expect(refusals.size).to.equal(0);
    const refunded = escrowEvents(world, receipt).filter((event) => event.name === "PaymentRefunded");
    expect(refunded.map((event) => [small, large, otherReason].map((op) => eventMatches(op, event.name, event.arg)))).to.deep.equal([
      [true, false, false],
      [false, true, false],
    ]);
  });

  it("refuses a zero refund, one beyond the escrow's 96 bits, a missing amount and a reason that is not 32 bytes", async function () {
    const world = await networkHelpers.loadFixture(deployWorld);
    const op = await signed(
      world,
      { kind: "refund", terms: termsToJson(await unpaidTerms(world)), amount: "1", reason: REASON, nonce: "1", deadline: "2" },
      world.merchant,
    );
    for (const amount of ["0", (1n << 96n).toString(), "-1", "1.5"]) expect(zodPaths(() => escrowOperationSchema.parse({ ...op, amount })), amount).to.deep.equal(["amount"]);
    const { amount: _amount, ...withoutAmount } = op as Record<string, unknown>;
    expect(zodPaths(() => escrowOperationSchema.parse(withoutAmount))).to.deep.equal(["amount"]);
    expect(zodPaths(() => escrowOperationSchema.parse({ ...op, reason: "0x1234" }))).to.deep.equal(["reason"]);
  });
});
