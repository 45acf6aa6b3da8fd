import { expect } from "chai";
import { encodeBytes32String } from "ethers";

import { SettlenetError } from "../../../core/errors.js";
import { operationIdFor, operationSchema, tokenNamesOf, tokenOperationDigest } from "../../../core/operations/index.js";
import { deployWorld, networkHelpers } from "../../contracts/helpers/fixture.js";
import { zodPaths } from "../../helpers/errors.js";
import { escrowContext } from "./escrow-behaviour.js";
import { shouldBehaveLikeTokenOperation, signedToken, tokenContext, tokenFields } from "./token-behaviour.js";

const DEPOSIT = encodeBytes32String("deposit-7");

describe("mint (core/operations/mint.ts)", function () {
  shouldBehaveLikeTokenOperation({
    kind: "mint",
    operation: async (world) => ({ kind: "mint", ...(await tokenFields(world)), to: await world.payer.getAddress(), amount: "250", bankRef: DEPOSIT }),
    signer: (world) => world.inst1,
    // inst2 is an institution but no custodian of the token.
    impostor: { signer: (world) => world.inst2, error: "NotCustodian" },
  });

  it("refuses a zero mint, a recipient that is no address, and money as a JSON number", async function () {
    const world = await networkHelpers.loadFixture(deployWorld);
    const { json } = await signedToken(world, { kind: "mint", ...(await tokenFields(world)), to: await world.payer.getAddress(), amount: "5", bankRef: DEPOSIT }, world.inst1);
    expect(zodPaths(() => operationSchema.parse({ ...json, amount: "0" }))).to.deep.equal(["amount"]);
    expect(zodPaths(() => operationSchema.parse({ ...json, amount: 5 }))).to.deep.equal(["amount"]);
    expect(zodPaths(() => operationSchema.parse({ ...json, to: "0x1234" }))).to.deep.equal(["to"]);
    expect(zodPaths(() => operationSchema.parse({ ...json, kind: "mintMore" }))).to.deep.equal(["kind"]);
  });

  it("has the same id through the union of all kinds, and none for a token the context does not name", async function () {
    const world = await networkHelpers.loadFixture(deployWorld);
    const { op } = await signedToken(world, { kind: "mint", ...(await tokenFields(world)), to: await world.payer.getAddress(), amount: "5", bankRef: DEPOSIT }, world.inst1);
    const id = tokenOperationDigest(op, await tokenContext(world));
    expect(operationIdFor(op, { ...(await escrowContext(world)), tokenNames: tokenNamesOf(world.deployment) })).to.equal(id);
    try {
      tokenOperationDigest({ ...op, token: await world.escrow.getAddress() }, { chainId: world.chainId, tokenName: () => undefined });
      expect.fail("expected UNSUPPORTED_TOKEN");
    } catch (error) {
      expect(error).to.be.instanceOf(SettlenetError);
      expect((error as SettlenetError).code).to.equal("UNSUPPORTED_TOKEN");
    }
  });
});
