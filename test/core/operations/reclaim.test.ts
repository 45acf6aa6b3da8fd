import { expect } from "chai";

import { escrowOperationSchema, termsToJson } from "../../../core/operations/index.js";
import { deployWorld, networkHelpers } from "../../contracts/helpers/fixture.js";
import { zodPaths } from "../../helpers/errors.js";
import { deadlineAhead, freshNonce, heldPayment, shouldBehaveLikeEscrowOperation, signed, unpaidTerms } from "./escrow-behaviour.js";

describe("reclaim (core/operations/reclaim.ts)", function () {
  shouldBehaveLikeEscrowOperation({
    kind: "reclaim",
    prepare: async (world) => {
      const terms = await heldPayment(world);
      await networkHelpers.time.increase(terms.fulfilmentPeriod + 1);
      return terms;
    },
    operation: async (_world, terms) => ({ kind: "reclaim", terms: termsToJson(terms), nonce: freshNonce(), deadline: await deadlineAhead() }),
    signer: (world) => world.payer,
    impostor: { signer: (world) => world.merchant, error: "InvalidSigner" },
    // Held and still within its fulfilment period.
    refused: async (world) => ({
      op: await signed(world, { kind: "reclaim", terms: termsToJson(await heldPayment(world)), nonce: freshNonce(), deadline: await deadlineAhead() }, world.payer),
      error: "ReclaimNotDue",
    }),
  });

  it("carries no amount or reason", async function () {
    const world = await networkHelpers.loadFixture(deployWorld);
    const op = await signed(world, { kind: "reclaim", terms: termsToJson(await unpaidTerms(world)), nonce: "1", deadline: "2" }, world.payer);
    expect(zodPaths(() => escrowOperationSchema.parse({ ...op, amount: "5" }))).to.deep.equal([""]);
  });
});
