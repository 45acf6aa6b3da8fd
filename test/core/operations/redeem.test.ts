import { expect } from "chai";
import { encodeBytes32String, keccak256, toUtf8Bytes } from "ethers";

import { tokenOperationSchema } from "../../../core/operations/index.js";
import { deployWorld, networkHelpers } from "../../contracts/helpers/fixture.js";
import { zodPaths } from "../../helpers/errors.js";
import { executeToken, shouldBehaveLikeTokenOperation, signedToken, tokenFields } from "./token-behaviour.js";

/** A fresh bank reference per operation: a reference is redeemed once. */
const freshRef = () => keccak256(toUtf8Bytes(`po_${Math.random()}`));

describe("redeem (core/operations/redeem.ts)", function () {
  shouldBehaveLikeTokenOperation({
    kind: "redeem",
    // The holder signs for its own balance: no allowance to anyone.
    operation: async (world) => ({
      kind: "redeem",
      ...(await tokenFields(world)),
      holder: await world.payer.getAddress(),
      custodian: await world.inst1.getAddress(),
      amount: "250",
      bankRef: freshRef(),
    }),
    signer: (world) => world.payer,
    impostor: { signer: (world) => world.inst1, error: "InvalidSigner" },
  });

  it("refuses a second redemption of the same bank reference under a fresh nonce (RedemptionReferenceUsed)", async function () {
    const world = await networkHelpers.loadFixture(deployWorld);
    const bankRef = encodeBytes32String("payout-9");
    const unsigned = async () => ({ kind: "redeem" as const, ...(await tokenFields(world)), holder: await world.payer.getAddress(), custodian: await world.inst1.getAddress(), amount: "5", bankRef });
    const first = await signedToken(world, await unsigned(), world.payer);
    expect((await executeToken(world, first.op)).refusal).to.equal(undefined);
    const second = await signedToken(world, await unsigned(), world.payer);
    expect((await executeToken(world, second.op)).refusal?.code).to.equal("RedemptionReferenceUsed");
  });

  it("refuses a zero redemption and a missing custodian", async function () {
    const world = await networkHelpers.loadFixture(deployWorld);
    const { json } = await signedToken(
      world,
      { kind: "redeem", ...(await tokenFields(world)), holder: await world.payer.getAddress(), custodian: await world.inst1.getAddress(), amount: "5", bankRef: freshRef() },
      world.payer,
    );
    expect(zodPaths(() => tokenOperationSchema.parse({ ...json, amount: "0" }))).to.deep.equal(["amount"]);
    const { custodian: _custodian, ...withoutCustodian } = json as Record<string, unknown>;
    expect(zodPaths(() => tokenOperationSchema.parse(withoutCustodian))).to.deep.equal(["custodian"]);
  });
});
