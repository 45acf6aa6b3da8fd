import { expect } from "chai";
import { encodeBytes32String } from "ethers";

import { escrowOperationSchema, termsToJson } from "../../../core/operations/index.js";
import { deployWorld, networkHelpers } from "../../contracts/helpers/fixture.js";
import { zodPaths } from "../../helpers/errors.js";
import { deadlineAhead, freshNonce, heldPayment, shouldBehaveLikeEscrowOperation, signed, unpaidTerms } from "./escrow-behaviour.js";

const REASON = encodeBytes32String("not delivered");

describe("dispute (core/operations/dispute.ts)", function () {
  shouldBehaveLikeEscrowOperation({
    kind: "dispute",
    prepare: (world) => heldPayment(world),
    operation: async (_world, terms) => ({ kind: "dispute", terms: termsToJson(terms), reason: REASON, nonce: freshNonce(), deadline: await deadlineAhead() }),
    signer: (world) => world.payer,
    impostor: { signer: (world) => world.merchant, error: "InvalidSigner" },
    refused: async (world) => ({
      op: await signed(world, { kind: "dispute", terms: termsToJson(await unpaidTerms(world)), reason: REASON, nonce: freshNonce(), deadline: await deadlineAhead() }, world.payer),
      error: "PaymentNotFound",
    }),
  });

  it("needs a 32-byte reason", async function () {
    const world = await networkHelpers.loadFixture(deployWorld);
    const op = await signed(world, { kind: "dispute", terms: termsToJson(await unpaidTerms(world)), reason: REASON, nonce: "1", deadline: "2" }, world.payer);
    expect(zodPaths(() => escrowOperationSchema.parse({ ...op, reason: "not delivered" }))).to.deep.equal(["reason"]);
    const { reason: _reason, ...withoutReason } = op as Record<string, unknown>;
    expect(zodPaths(() => escrowOperationSchema.parse(withoutReason))).to.deep.equal(["reason"]);
  });
});
