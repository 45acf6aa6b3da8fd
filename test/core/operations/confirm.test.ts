import { expect } from "chai";

import { escrowOperationSchema, termsToJson } from "../../../core/operations/index.js";
import { deployWorld, networkHelpers } from "../../contracts/helpers/fixture.js";
import { zodPaths } from "../../helpers/errors.js";
import { deadlineAhead, freshNonce, heldPayment, shouldBehaveLikeEscrowOperation, signed, unpaidTerms } from "./escrow-behaviour.js";

describe("confirm (core/operations/confirm.ts)", function () {
  shouldBehaveLikeEscrowOperation({
    kind: "confirm",
    prepare: (world) => heldPayment(world),
    operation: async (_world, terms) => ({ kind: "confirm", terms: termsToJson(terms), nonce: freshNonce(), deadline: await deadlineAhead() }),
    signer: (world) => world.payer,
    impostor: { signer: (world) => world.merchant, error: "InvalidSigner" },
    refused: async (world) => ({
      op: await signed(world, { kind: "confirm", terms: termsToJson(await unpaidTerms(world)), nonce: freshNonce(), deadline: await deadlineAhead() }, world.payer),
      error: "PaymentNotFound",
    }),
  });

  it("refuses a nonce or deadline beyond 256 bits and a missing signature", async function () {
    const world = await networkHelpers.loadFixture(deployWorld);
    const op = await signed(world, { kind: "confirm", terms: termsToJson(await unpaidTerms(world)), nonce: "1", deadline: "2" }, world.payer);
    const tooBig = (1n << 256n).toString();
    expect(zodPaths(() => escrowOperationSchema.parse({ ...op, nonce: tooBig }))).to.deep.equal(["nonce"]);
    expect(zodPaths(() => escrowOperationSchema.parse({ ...op, deadline: tooBig }))).to.deep.equal(["deadline"]);
    const { signature: _signature, ...unsigned } = op as Record<string, unknown>;
    expect(zodPaths(() => escrowOperationSchema.parse(unsigned))).to.deep.equal(["signature"]);
  });
});
