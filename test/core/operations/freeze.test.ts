import { expect } from "chai";
import { encodeBytes32String } from "ethers";

import { tokenOperationSchema } from "../../../core/operations/index.js";
import { deployWorld, networkHelpers } from "../../contracts/helpers/fixture.js";
import { zodPaths } from "../../helpers/errors.js";
import { executeToken, shouldBehaveLikeTokenOperation, signedToken, tokenFields } from "./token-behaviour.js";

const DECISION = encodeBytes32String("aml-case-7");

describe("freeze (core/operations/freeze.ts)", function () {
  shouldBehaveLikeTokenOperation({
    kind: "freeze",
    operation: async (world) => ({ kind: "freeze", ...(await tokenFields(world)), account: await world.payer2.getAddress(), frozen: true, reason: DECISION }),
    signer: (world) => world.regulator,
    impostor: { signer: (world) => world.inst1, error: "Unauthorized" },
  });

  it("unfreezes with frozen: false, and refuses a freeze state that is not a JSON boolean", async function () {
    const world = await networkHelpers.loadFixture(deployWorld);
    const account = await world.payer2.getAddress();
    const freeze = await signedToken(world, { kind: "freeze", ...(await tokenFields(world)), account, frozen: true, reason: DECISION }, world.regulator);
    await executeToken(world, freeze.op);
    const unfreeze = await signedToken(world, { kind: "freeze", ...(await tokenFields(world)), account, frozen: false, reason: DECISION }, world.regulator);
    expect((await executeToken(world, unfreeze.op)).refusal).to.equal(undefined);
    expect(await world.token.isFrozen(account)).to.equal(false);
    expect(zodPaths(() => tokenOperationSchema.parse({ ...freeze.json, frozen: "true" }))).to.deep.equal(["frozen"]);
  });
});
