import { expect } from "chai";
import { encodeBytes32String } from "ethers";

import { tokenOperationSchema } from "../../../core/operations/index.js";
import { deployWorld, networkHelpers, type World } from "../../contracts/helpers/fixture.js";
import { zodPaths } from "../../helpers/errors.js";
import { shouldBehaveLikeTokenOperation, signedToken, tokenFields } from "./token-behaviour.js";

const STATEMENT = encodeBytes32String("statement-7");

/** The attestor's next statement of inst1's reserves. */
async function statement(world: World, amount: string) {
  const { sequence } = await world.token.reservesOf(world.inst1.address);
  const asOf = String(await networkHelpers.time.latest());
  return { kind: "attestReserves" as const, ...(await tokenFields(world)), custodian: world.inst1.address, amount, asOf, sequence: String(sequence + 1n), statementHash: STATEMENT };
}

describe("attestReserves (core/operations/attest-reserves.ts)", function () {
  shouldBehaveLikeTokenOperation({
    kind: "attestReserves",
    operation: async (world) => statement(world, (10n ** 12n).toString()),
    signer: (world) => world.attestor,
    impostor: { signer: (world) => world.inst1, error: "NotReserveAttestor" },
  });

  it("may attest zero reserves, and needs a 32-byte statement hash", async function () {
    const world = await networkHelpers.loadFixture(deployWorld);
    const { json, op } = await signedToken(world, await statement(world, "0"), world.attestor);
    expect(op).to.have.property("amount", 0n);
    expect(zodPaths(() => tokenOperationSchema.parse({ ...json, statementHash: "statement" }))).to.deep.equal(["statementHash"]);
  });
});
