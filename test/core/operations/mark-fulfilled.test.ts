import { expect } from "chai";

import { escrowOperationSchema, termsToJson } from "../../../core/operations/index.js";
import { deployWorld, networkHelpers } from "../../contracts/helpers/fixture.js";
import { zodPaths } from "../../helpers/errors.js";
import { deadlineAhead, freshNonce, heldPayment, shouldBehaveLikeEscrowOperation, signed, unpaidTerms } from "./escrow-behaviour.js";

describe("markFulfilled (core/operations/mark-fulfilled.ts)", function () {
  shouldBehaveLikeEscrowOperation({
    kind: "markFulfilled",
    prepare: (world) => heldPayment(world),
    operation: async (_world, terms) => ({ kind: "markFulfilled", terms: termsToJson(terms), nonce: freshNonce(), deadline: await deadlineAhead() }),
    signer: (world) => world.merchant,
    impostor: { signer: (world) => world.payer, error: "InvalidSigner" },
    refused: async (world) => ({
      op: await signed(world, { kind: "markFulfilled", terms: termsToJson(await unpaidTerms(world)), nonce: freshNonce(), deadline: await deadlineAhead() }, world.merchant),
      error: "PaymentNotFound",
    }),
  });

  it("carries no amount or reason", async function () {
    const world = await networkHelpers.loadFixture(deployWorld);
    const op = await signed(world, { kind: "markFulfilled", terms: termsToJson(await unpaidTerms(world)), nonce: "1", deadline: "2" }, world.merchant);
    expect(zodPaths(() => escrowOperationSchema.parse({ ...op, amount: "5" }))).to.deep.equal([""]);
    expect(zodPaths(() => escrowOperationSchema.parse({ ...op, reason: "0x" + "00".repeat(32) }))).to.deep.equal([""]);
  });
});
