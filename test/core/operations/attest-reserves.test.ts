import { expect } from "chai";
import { encodeBytes32String } from "ethers";

import { tokenOperationSchema } from "../../../core/operations/index.js";
import { deployWorld, networkHelpers } from "../../contracts/helpers/fixture.js";
import { zodPaths } from "../../helpers/errors.js";
import { shouldBehaveLikeTokenOperation, signedToken, tokenFields } from "./token-behaviour.js";

const STATEMENT = encodeBytes32String("statement-7");

describe("attestReserves (core/operations/attest-reserves.ts)", function () {
  shouldBehaveLikeTokenOperation({
    kind: "attestReserves",
    operation: async (world) => ({ kind: "attestReserves", ...(await tokenFields(world)), amount: (10n ** 12n).toString(), statementHash: STATEMENT }),
    signer: (world) => world.inst1,
    impostor: { signer: (world) => world.regulator, error: "NotCustodian" },
  });

  it("may attest zero reserves, and needs a 32-byte statement hash", async function () {
    const world = await networkHelpers.loadFixture(deployWorld);
    const { json, op } = await signedToken(world, { kind: "attestReserves", ...(await tokenFields(world)), amount: "0", statementHash: STATEMENT }, world.inst1);
    expect(op).to.have.property("amount", 0n);
    expect(zodPaths(() => tokenOperationSchema.parse({ ...json, statementHash: "statement" }))).to.deep.equal(["statementHash"]);
  });
});
