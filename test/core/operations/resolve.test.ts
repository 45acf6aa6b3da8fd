import { expect } from "chai";
import { encodeBytes32String } from "ethers";

import { escrowOperationSchema, toContractOperation, termsToJson } from "../../../core/operations/index.js";
import { deployWorld, networkHelpers } from "../../contracts/helpers/fixture.js";
import { disputeAsPayer } from "../../contracts/helpers/escrow-operations.js";
import { zodPaths } from "../../helpers/errors.js";
import { deadlineAhead, freshNonce, heldPayment, shouldBehaveLikeEscrowOperation, signed, unpaidTerms } from "./escrow-behaviour.js";

const DECISION = encodeBytes32String("half back");

describe("resolve (core/operations/resolve.ts)", function () {
  shouldBehaveLikeEscrowOperation({
    kind: "resolve",
    prepare: async (world) => {
      const terms = await heldPayment(world);
      await disputeAsPayer(world, terms);
      return terms;
    },
    operation: async (_world, terms) => ({
      kind: "resolve",
      terms: termsToJson(terms),
      payerAmount: (terms.amount / 2n).toString(),
      reason: DECISION,
      nonce: freshNonce(),
      deadline: await deadlineAhead(),
    }),
    signer: (world) => world.arbiter,
    // Any arbiter may sign, so the escrow checks the role of whoever did.
    impostor: { signer: (world) => world.payer, error: "NotArbiter" },
    refused: async (world) => ({
      op: await signed(
        world,
        { kind: "resolve", terms: termsToJson(await unpaidTerms(world)), payerAmount: "0", reason: DECISION, nonce: freshNonce(), deadline: await deadlineAhead() },
        world.arbiter,
      ),
      error: "PaymentNotFound",
    }),
  });

  it("may award the payer nothing, at most 96 bits, carried in the tuple's amount", async function () {
    const world = await networkHelpers.loadFixture(deployWorld);
    const op = await signed(
      world,
      { kind: "resolve", terms: termsToJson(await unpaidTerms(world)), payerAmount: "0", reason: DECISION, nonce: "1", deadline: "2" },
      world.arbiter,
    );
    expect(escrowOperationSchema.parse(op)).to.have.property("payerAmount", 0n);
    expect(toContractOperation(escrowOperationSchema.parse({ ...op, payerAmount: "77" })).amount).to.equal(77n);
    expect(zodPaths(() => escrowOperationSchema.parse({ ...op, payerAmount: (1n << 96n).toString() }))).to.deep.equal(["payerAmount"]);
    expect(zodPaths(() => escrowOperationSchema.parse({ ...op, amount: "1" }))).to.deep.equal([""]);
  });
});
