/** SettlementToken redemptions: a holder burns its own balance for a bank payout with its own signature, with no allowance to anyone. */
import { expect } from "chai";
import { encodeBytes32String } from "ethers";

import { deployWorld, ethers, networkHelpers, type World } from "../helpers/fixture.js";
import { Status } from "../helpers/registry.js";
import { deadlineIn, DECISION, FIXTURE_OUTSTANDING, signTokenOperation } from "../helpers/token.js";

const REFERENCE = encodeBytes32String("po_1");

/** `signer`'s redemption of `holder`'s `amount` for `bankRef` on inst1's reserves, with the call arguments. */
async function signedRedemption(world: World, fields: { holder?: string; amount?: bigint; bankRef?: string; nonce?: bigint; custodian?: string; signer?: "payer" | "inst1" } = {}) {
  const message = {
    holder: fields.holder ?? world.payer.address,
    custodian: fields.custodian ?? world.inst1.address,
    amount: fields.amount ?? 30_00n,
    bankRef: fields.bankRef ?? REFERENCE,
    nonce: fields.nonce ?? 1n,
    deadline: await deadlineIn(3_600),
  };
  const signature = await signTokenOperation(world, fields.signer === "inst1" ? world.inst1 : world.payer, "redeem", message);
  const args = [message.holder, message.custodian, message.amount, message.bankRef, message.nonce, message.deadline, signature] as const;
  return { message, args };
}

describe("SettlementToken", function () {
  describe("redeemWithSig", function () {
    it("burns the holder's own balance with its signature, relayed by anyone, and emits Burned then Redeemed with the bank reference", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { token, inst1, payer, outsider, as } = world;
      const { args } = await signedRedemption(world);
      const tx = as(token, outsider).redeemWithSig(...args);
      await expect(tx).to.emit(token, "Burned").withArgs(inst1.address, payer.address, 30_00n, REFERENCE);
      await expect(tx).to.emit(token, "Redeemed").withArgs(payer.address, inst1.address, 30_00n, REFERENCE);
      await expect(tx).to.changeTokenBalance(ethers, token, payer, -30_00n);
      expect(await token.outstandingOf(inst1.address)).to.equal(FIXTURE_OUTSTANDING - 30_00n);
      expect(await token.totalSupply()).to.equal(FIXTURE_OUTSTANDING - 30_00n);
      expect(await token.isRedeemed(REFERENCE)).to.equal(true);
      expect(await token.allowance(payer.address, inst1.address)).to.equal(0n);
    });

    it("does not burn twice: the same signed redemption again is NonceAlreadyUsed, the same reference under a new nonce RedemptionReferenceUsed", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { token, payer, relayer, as } = world;
      const { args } = await signedRedemption(world);
      await (await as(token, relayer).redeemWithSig(...args)).wait();
      await expect(as(token, relayer).redeemWithSig(...args))
        .to.be.revertedWithCustomError(token, "NonceAlreadyUsed")
        .withArgs(payer.address, 1n);
      const again = await signedRedemption(world, { nonce: 2n });
      await expect(as(token, relayer).redeemWithSig(...again.args))
        .to.be.revertedWithCustomError(token, "RedemptionReferenceUsed")
        .withArgs(REFERENCE);
      expect(await token.outstandingOf(world.inst1.address)).to.equal(FIXTURE_OUTSTANDING - 30_00n);
    });

    it("refuses a redemption signed by anyone but the holder, the custodian included (InvalidSigner)", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { token, inst1, relayer, as } = world;
      const { args } = await signedRedemption(world, { signer: "inst1" });
      await expect(as(token, relayer).redeemWithSig(...args))
        .to.be.revertedWithCustomError(token, "InvalidSigner")
        .withArgs(inst1.address, world.payer.address);
    });

    it("refuses a frozen holder (AccountIsFrozen) and a suspended one (AccountNotPermitted)", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { token, registry, regulator, payer, relayer, as } = world;
      await as(token, regulator).setFrozen(payer.address, true, DECISION);
      await expect(as(token, relayer).redeemWithSig(...(await signedRedemption(world)).args))
        .to.be.revertedWithCustomError(token, "AccountIsFrozen")
        .withArgs(payer.address);
      await as(token, regulator).setFrozen(payer.address, false, DECISION);
      await registry.setAccountStatus(payer.address, Status.Suspended);
      await expect(as(token, relayer).redeemWithSig(...(await signedRedemption(world, { nonce: 2n })).args))
        .to.be.revertedWithCustomError(token, "AccountNotPermitted")
        .withArgs(payer.address);
      expect(await token.isRedeemed(REFERENCE)).to.equal(false);
    });

    it("refuses a redemption drawn on a non-custodian (NotCustodian), above the custodian's outstanding supply, or of zero", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { token, inst1, inst2, relayer, as } = world;
      await expect(as(token, relayer).redeemWithSig(...(await signedRedemption(world, { custodian: inst2.address })).args))
        .to.be.revertedWithCustomError(token, "NotCustodian")
        .withArgs(inst2.address);
      await expect(as(token, relayer).redeemWithSig(...(await signedRedemption(world, { amount: FIXTURE_OUTSTANDING + 1n, nonce: 2n })).args))
        .to.be.revertedWithCustomError(token, "BurnExceedsOutstanding")
        .withArgs(inst1.address, FIXTURE_OUTSTANDING + 1n, FIXTURE_OUTSTANDING);
      await expect(as(token, relayer).redeemWithSig(...(await signedRedemption(world, { amount: 0n, nonce: 3n })).args)).to.be.revertedWithCustomError(token, "ZeroAmount");
    });

    it("leaves the custodian no way to move a holder's balance: transferFrom and burn from it need an allowance nobody gave", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { token, inst1, payer, as } = world;
      await expect(as(token, inst1).transferFrom(payer.address, inst1.address, 1n))
        .to.be.revertedWithCustomError(token, "ERC20InsufficientAllowance")
        .withArgs(inst1.address, 0n, 1n);
      await expect(as(token, inst1).burn(payer.address, 1n, REFERENCE))
        .to.be.revertedWithCustomError(token, "ERC20InsufficientAllowance")
        .withArgs(inst1.address, 0n, 1n);
    });
  });
});
