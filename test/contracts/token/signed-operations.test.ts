/** SettlementToken signed operations: mint, burn, reserve attestation and freeze relayed with the actor's EIP-712 signature. */
import { expect } from "chai";

import { deployWorld, ethers, networkHelpers, RESERVES } from "../helpers/fixture.js";
import { REGULATOR_ROLE } from "../helpers/registry.js";
import {
  deadlineIn,
  DECISION,
  DEPOSIT,
  FIXTURE_OUTSTANDING,
  PAYOUT,
  recoveredByToken,
  signTokenOperation,
  STATEMENT,
  type DomainOverrides,
} from "../helpers/token.js";

const { time } = networkHelpers;

describe("SettlementToken", function () {
  describe("signed operations", function () {
    it("executes a custodian's signed mint relayed by an outsider", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { token, inst1, payer, outsider, as } = world;
      const message = { to: payer.address, amount: 80_00n, bankRef: DEPOSIT, nonce: 1n, deadline: await deadlineIn(3_600) };
      const signature = await signTokenOperation(world, inst1, "mint", message);
      const tx = as(token, outsider).mintWithSig(message.to, message.amount, message.bankRef, message.nonce, message.deadline, signature);
      await expect(tx).to.emit(token, "Minted").withArgs(inst1.address, payer.address, 80_00n, DEPOSIT);
      await expect(tx).to.changeTokenBalance(ethers, token, payer, 80_00n);
      expect(await token.outstandingOf(inst1.address)).to.equal(FIXTURE_OUTSTANDING + 80_00n);
      expect(await token.isNonceUsed(inst1.address, 1n)).to.equal(true);
    });

    it("executes a custodian's signed burn, spending the allowance to the custodian", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { token, inst1, payer, relayer, as } = world;
      await as(token, payer).approve(inst1.address, 30_00n);
      const message = { from: payer.address, amount: 30_00n, bankRef: PAYOUT, nonce: 2n, deadline: await deadlineIn(3_600) };
      const signature = await signTokenOperation(world, inst1, "burn", message);
      const tx = as(token, relayer).burnWithSig(message.from, message.amount, message.bankRef, message.nonce, message.deadline, signature);
      await expect(tx).to.emit(token, "Burned").withArgs(inst1.address, payer.address, 30_00n, PAYOUT);
      await expect(tx).to.changeTokenBalance(ethers, token, payer, -30_00n);
      expect(await token.allowance(payer.address, inst1.address)).to.equal(0n);
      expect(await token.outstandingOf(inst1.address)).to.equal(FIXTURE_OUTSTANDING - 30_00n);
    });

    it("executes the attestor's signed reserve attestation", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { token, inst1, attestor, relayer, as } = world;
      const asOf = BigInt(await time.latest());
      const message = { custodian: inst1.address, amount: 123_45n + FIXTURE_OUTSTANDING, asOf, sequence: 2n, statementHash: STATEMENT, nonce: 3n, deadline: await deadlineIn(3_600) };
      const signature = await signTokenOperation(world, attestor, "attestReserves", message);
      await expect(as(token, relayer).attestReserveStatementWithSig(inst1.address, message.amount, asOf, 2n, message.statementHash, message.nonce, message.deadline, signature))
        .to.emit(token, "ReservesAttested")
        .withArgs(inst1.address, attestor.address, message.amount, asOf, 2n, STATEMENT, FIXTURE_OUTSTANDING);
      const reserves = await token.reservesOf(inst1.address);
      expect([reserves.amount, reserves.statementHash, reserves.attestedAt]).to.deep.equal([
        message.amount,
        STATEMENT,
        BigInt(await time.latest()),
      ]);
    });

    it("executes a regulator's signed freeze", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { token, regulator, payer, relayer, as } = world;
      const message = { account: payer.address, frozen: true, reason: DECISION, nonce: 4n, deadline: await deadlineIn(3_600) };
      const signature = await signTokenOperation(world, regulator, "freeze", message);
      await expect(
        as(token, relayer).setFrozenWithSig(message.account, message.frozen, message.reason, message.nonce, message.deadline, signature),
      )
        .to.emit(token, "FreezeChanged")
        .withArgs(payer.address, true, regulator.address, DECISION);
      expect(await token.isFrozen(payer.address)).to.equal(true);
      expect(await token.isNonceUsed(regulator.address, 4n)).to.equal(true);
    });

    it("refuses to replay a signed mint", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { token, inst1, payer, relayer, as } = world;
      const message = { to: payer.address, amount: 1_00n, bankRef: DEPOSIT, nonce: 9n, deadline: await deadlineIn(3_600) };
      const signature = await signTokenOperation(world, inst1, "mint", message);
      const args = [message.to, message.amount, message.bankRef, message.nonce, message.deadline, signature] as const;
      await as(token, relayer).mintWithSig(...args);
      await expect(as(token, relayer).mintWithSig(...args))
        .to.be.revertedWithCustomError(token, "NonceAlreadyUsed")
        .withArgs(inst1.address, 9n);
      expect(await token.outstandingOf(inst1.address)).to.equal(FIXTURE_OUTSTANDING + 1_00n);
    });

    it("refuses to replay a signed freeze after the account was unfrozen", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { token, regulator, payer, relayer, as } = world;
      const message = { account: payer.address, frozen: true, reason: DECISION, nonce: 5n, deadline: await deadlineIn(3_600) };
      const signature = await signTokenOperation(world, regulator, "freeze", message);
      const args = [message.account, message.frozen, message.reason, message.nonce, message.deadline, signature] as const;
      await as(token, relayer).setFrozenWithSig(...args);
      await as(token, regulator).setFrozen(payer.address, false, DECISION);
      await expect(as(token, relayer).setFrozenWithSig(...args))
        .to.be.revertedWithCustomError(token, "NonceAlreadyUsed")
        .withArgs(regulator.address, 5n);
    });

    it("accepts nonces in any order but each signer's nonce only once across operation kinds", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { token, inst1, payer, relayer, as } = world;
      const deadline = await deadlineIn(3_600);
      for (const nonce of [300n, 7n]) {
        const message = { to: payer.address, amount: 1n, bankRef: DEPOSIT, nonce, deadline };
        const signature = await signTokenOperation(world, inst1, "mint", message);
        await as(token, relayer).mintWithSig(payer.address, 1n, DEPOSIT, nonce, deadline, signature);
      }
      const burn = { from: payer.address, amount: RESERVES, bankRef: PAYOUT, nonce: 7n, deadline };
      const signature = await signTokenOperation(world, inst1, "burn", burn);
      await expect(as(token, relayer).burnWithSig(payer.address, RESERVES, PAYOUT, 7n, deadline, signature))
        .to.be.revertedWithCustomError(token, "NonceAlreadyUsed")
        .withArgs(inst1.address, 7n);
    });

    it("accepts a signed operation at its deadline and refuses it one second later", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { token, inst1, payer, relayer, as } = world;
      const deadline = await deadlineIn(100);
      const sign = async (nonce: bigint) =>
        signTokenOperation(world, inst1, "mint", { to: payer.address, amount: 1n, bankRef: DEPOSIT, nonce, deadline });
      const onTime = await sign(1n);
      const late = await sign(2n);
      await time.setNextBlockTimestamp(deadline);
      await expect(as(token, relayer).mintWithSig(payer.address, 1n, DEPOSIT, 1n, deadline, onTime)).to.emit(token, "Minted");
      await expect(as(token, relayer).mintWithSig(payer.address, 1n, DEPOSIT, 2n, deadline, late))
        .to.be.revertedWithCustomError(token, "SignatureExpired")
        .withArgs(deadline);
      expect(await token.isNonceUsed(inst1.address, 2n)).to.equal(false);
    });

    it("refuses an expired signed burn, attestation and freeze", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { token, inst1, attestor, regulator, payer, relayer, as } = world;
      const deadline = BigInt(await time.latest());
      const burn = { from: payer.address, amount: 1n, bankRef: PAYOUT, nonce: 1n, deadline };
      const attest = { custodian: inst1.address, amount: 1n, asOf: deadline, sequence: 2n, statementHash: STATEMENT, nonce: 2n, deadline };
      const freeze = { account: payer.address, frozen: true, reason: DECISION, nonce: 3n, deadline };
      const relayed = as(token, relayer);
      await expect(relayed.burnWithSig(payer.address, 1n, PAYOUT, 1n, deadline, await signTokenOperation(world, inst1, "burn", burn)))
        .to.be.revertedWithCustomError(token, "SignatureExpired")
        .withArgs(deadline);
      await expect(relayed.attestReserveStatementWithSig(inst1.address, 1n, deadline, 2n, STATEMENT, 2n, deadline, await signTokenOperation(world, attestor, "attestReserves", attest)))
        .to.be.revertedWithCustomError(token, "SignatureExpired")
        .withArgs(deadline);
      await expect(
        relayed.setFrozenWithSig(payer.address, true, DECISION, 3n, deadline, await signTokenOperation(world, regulator, "freeze", freeze)),
      )
        .to.be.revertedWithCustomError(token, "SignatureExpired")
        .withArgs(deadline);
    });

    it("does not accept a custodian's mint signed for another chain or another token", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { token, inst1, payer, relayer, escrow, as } = world;
      const message = { to: payer.address, amount: 1_00n, bankRef: DEPOSIT, nonce: 1n, deadline: await deadlineIn(3_600) };
      const wrongDomains: DomainOverrides[] = [{ chainId: world.chainId + 1n }, { verifyingContract: await escrow.getAddress() }];
      for (const overrides of wrongDomains) {
        const signature = await signTokenOperation(world, inst1, "mint", message, overrides);
        const recovered = await recoveredByToken(world, "mint", message, signature);
        expect(recovered).to.not.equal(inst1.address);
        await expect(as(token, relayer).mintWithSig(payer.address, 1_00n, DEPOSIT, 1n, message.deadline, signature))
          .to.be.revertedWithCustomError(token, "NotCustodian")
          .withArgs(recovered);
      }
    });

    it("does not accept a regulator's freeze signed for another chain or another token", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { token, regulator, payer, relayer, escrow, as } = world;
      const message = { account: payer.address, frozen: true, reason: DECISION, nonce: 1n, deadline: await deadlineIn(3_600) };
      const wrongDomains: DomainOverrides[] = [{ chainId: world.chainId + 1n }, { verifyingContract: await escrow.getAddress() }];
      for (const overrides of wrongDomains) {
        const signature = await signTokenOperation(world, regulator, "freeze", message, overrides);
        const recovered = await recoveredByToken(world, "freeze", message, signature);
        expect(recovered).to.not.equal(regulator.address);
        await expect(as(token, relayer).setFrozenWithSig(payer.address, true, DECISION, 1n, message.deadline, signature))
          .to.be.revertedWithCustomError(token, "Unauthorized")
          .withArgs(recovered, REGULATOR_ROLE);
      }
    });

    it("does not accept a signed mint whose amount the relayer changed", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { token, inst1, payer, relayer, as } = world;
      const signed = { to: payer.address, amount: 1_00n, bankRef: DEPOSIT, nonce: 1n, deadline: await deadlineIn(3_600) };
      const signature = await signTokenOperation(world, inst1, "mint", signed);
      const recovered = await recoveredByToken(world, "mint", { ...signed, amount: 1_000_00n }, signature);
      await expect(as(token, relayer).mintWithSig(payer.address, 1_000_00n, DEPOSIT, 1n, signed.deadline, signature))
        .to.be.revertedWithCustomError(token, "NotCustodian")
        .withArgs(recovered);
    });

    it("refuses a signed mint from a signer that is not a custodian", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { token, inst2, payer, relayer, as } = world;
      const message = { to: payer.address, amount: 1n, bankRef: DEPOSIT, nonce: 1n, deadline: await deadlineIn(3_600) };
      const signature = await signTokenOperation(world, inst2, "mint", message);
      await expect(as(token, relayer).mintWithSig(payer.address, 1n, DEPOSIT, 1n, message.deadline, signature))
        .to.be.revertedWithCustomError(token, "NotCustodian")
        .withArgs(inst2.address);
    });

    it("refuses a signed reserve attestation from the custodian itself", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { token, inst1, relayer, as } = world;
      const asOf = BigInt(await time.latest());
      const message = { custodian: inst1.address, amount: RESERVES * 10n, asOf, sequence: 2n, statementHash: STATEMENT, nonce: 1n, deadline: await deadlineIn(3_600) };
      const signature = await signTokenOperation(world, inst1, "attestReserves", message);
      await expect(as(token, relayer).attestReserveStatementWithSig(inst1.address, RESERVES * 10n, asOf, 2n, STATEMENT, 1n, message.deadline, signature))
        .to.be.revertedWithCustomError(token, "NotReserveAttestor")
        .withArgs(inst1.address, inst1.address);
    });

    it("refuses a malformed signature", async function () {
      const { token, payer, relayer, as } = await networkHelpers.loadFixture(deployWorld);
      const deadline = await deadlineIn(3_600);
      for (const signature of ["0x" + "00".repeat(65), "0x1234"]) {
        await expect(as(token, relayer).mintWithSig(payer.address, 1n, DEPOSIT, 1n, deadline, signature))
          .to.be.revertedWithCustomError(token, "InvalidSigner")
          .withArgs(ethers.ZeroAddress, ethers.ZeroAddress);
      }
    });

    it("lets a signer cancel a nonce so its signed operation can no longer execute", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { token, inst1, payer, relayer, as } = world;
      const message = { to: payer.address, amount: 1_00n, bankRef: DEPOSIT, nonce: 42n, deadline: await deadlineIn(3_600) };
      const signature = await signTokenOperation(world, inst1, "mint", message);
      expect(await token.isNonceUsed(inst1.address, 42n)).to.equal(false);
      await expect(as(token, inst1).cancelNonce(42n)).to.emit(token, "NonceCancelled").withArgs(inst1.address, 42n);
      expect(await token.isNonceUsed(inst1.address, 42n)).to.equal(true);
      await expect(as(token, relayer).mintWithSig(payer.address, 1_00n, DEPOSIT, 42n, message.deadline, signature))
        .to.be.revertedWithCustomError(token, "NonceAlreadyUsed")
        .withArgs(inst1.address, 42n);
    });

    it("refuses to cancel a nonce twice", async function () {
      const { token, inst1, as } = await networkHelpers.loadFixture(deployWorld);
      await as(token, inst1).cancelNonce(42n);
      await expect(as(token, inst1).cancelNonce(42n))
        .to.be.revertedWithCustomError(token, "NonceAlreadyUsed")
        .withArgs(inst1.address, 42n);
    });
  });
});
