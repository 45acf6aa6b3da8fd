import { expect } from "chai";
import { encodeBytes32String } from "ethers";

import { tokenOperationSchema } from "../../../core/operations/index.js";
import { deployWorld, networkHelpers } from "../../contracts/helpers/fixture.js";
import { zodPaths } from "../../helpers/errors.js";
import { shouldBehaveLikeTokenOperation, signedToken, tokenFields } from "./token-behaviour.js";

const PAYOUT = encodeBytes32String("payout-7");

describe("burn (core/operations/burn.ts)", function () {
  shouldBehaveLikeTokenOperation({
    kind: "burn",
    // Burning another account's tokens spends its allowance to the custodian's signer.
    prepare: async (world) => {
      await (await world.as(world.token, world.payer).approve(await world.inst1.getAddress(), 1_000_000n)).wait();
    },
    operation: async (world) => ({ kind: "burn", ...(await tokenFields(world)), from: await world.payer.getAddress(), amount: "250", bankRef: PAYOUT }),
    signer: (world) => world.inst1,
    impostor: { signer: (world) => world.payer, error: "NotCustodian" },
  });

  it("refuses a zero burn and a missing source", async function () {
    const world = await networkHelpers.loadFixture(deployWorld);
    const { json } = await signedToken(world, { kind: "burn", ...(await tokenFields(world)), from: await world.payer.getAddress(), amount: "5", bankRef: PAYOUT }, world.inst1);
    expect(zodPaths(() => tokenOperationSchema.parse({ ...json, amount: "0" }))).to.deep.equal(["amount"]);
    const { from: _from, ...withoutSource } = json as Record<string, unknown>;
    expect(zodPaths(() => tokenOperationSchema.parse(withoutSource))).to.deep.equal(["from"]);
  });
});
