import { expect } from "chai";

import { escrowOperationSchema, operationIdOf, termsToJson } from "../../../core/operations/index.js";
import { deployWorld, networkHelpers } from "../../contracts/helpers/fixture.js";
import { fulfil } from "../../contracts/helpers/escrow-operations.js";
import { zodPaths } from "../../helpers/errors.js";
import { escrowContext, heldPayment, shouldBehaveLikeEscrowOperation } from "./escrow-behaviour.js";

describe("release (core/operations/release.ts)", function () {
  shouldBehaveLikeEscrowOperation({
    kind: "release",
    prepare: async (world) => {
      const terms = await heldPayment(world);
      await fulfil(world, terms);
      await networkHelpers.time.increase(terms.autoReleasePeriod + 1);
      return terms;
    },
    operation: async (_world, terms) => ({ kind: "release", terms: termsToJson(terms) }),
    signer: () => undefined,
    // Held, not fulfilled: the escrow refuses the release for its status, which is not Released.
    refused: async (world) => ({ op: { kind: "release", terms: termsToJson(await heldPayment(world)) }, error: "InvalidPaymentStatus" }),
  });

  it("has one id per payment, whoever sends it, distinct from the payment id", async function () {
    const world = await networkHelpers.loadFixture(deployWorld);
    const terms = termsToJson(await heldPayment(world));
    const ctx = await escrowContext(world);
    const id = operationIdOf(escrowOperationSchema.parse({ kind: "release", terms }), ctx);
    expect(operationIdOf(escrowOperationSchema.parse(JSON.parse(JSON.stringify({ kind: "release", terms }))), ctx)).to.equal(id);
    const other = { ...terms, nonce: (BigInt(terms.nonce) + 1n).toString() };
    expect(id).to.not.equal(operationIdOf(escrowOperationSchema.parse({ kind: "release", terms: other }), ctx));
    expect(id).to.not.equal(await world.escrow.paymentIdOf(escrowOperationSchema.parse({ kind: "release", terms }).terms));
  });

  it("carries no signature, nonce or deadline", async function () {
    const world = await networkHelpers.loadFixture(deployWorld);
    const op = { kind: "release", terms: termsToJson(await heldPayment(world)) };
    for (const extra of [{ signature: "0x" + "11".repeat(65) }, { nonce: "1" }, { deadline: "1" }]) {
      expect(zodPaths(() => escrowOperationSchema.parse({ ...op, ...extra }))).to.deep.equal([""]);
    }
  });
});
