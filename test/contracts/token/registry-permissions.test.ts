/**
 * SettlementToken's copy of the registry's permissions: pushed by the registry on every change, looked up
 * once for accounts admitted before the token was registered, never recorded while the registry does not
 * push to the token; and the packed balance slot that holds it.
 */
import { expect } from "chai";
import { encodeBytes32String } from "ethers";

import type { SettlementToken } from "../../../types/ethers-contracts/index.js";
import { attest, deployWorld, ethers, makeTerms, networkHelpers, type World } from "../helpers/fixture.js";
import { Status } from "../helpers/registry.js";
import { DEPOSIT, spareSigners, STATEMENT } from "../helpers/token.js";

const permission = async (token: SettlementToken, account: string) => {
  const [recorded, permitted] = await token.permissionOf(account);
  return { recorded, permitted };
};
const RECORDED_PERMITTED = { recorded: true, permitted: true };
const RECORDED_REFUSED = { recorded: true, permitted: false };
const NOT_RECORDED = { recorded: false, permitted: false };

/** A second settlement token bound to the world's registry, inst1 its custodian with reserves; not yet admitted. */
async function newToken(world: World): Promise<SettlementToken> {
  const token = (await ethers.deployContract("SettlementToken", [await world.registry.getAddress(), "Settlenet HKD", "HKD"])) as unknown as SettlementToken;
  await (await token.setCustodian(world.inst1.address, true)).wait();
  await (await world.as(token, world.attestor).attestReserveStatement(world.inst1.address, 1_000_000_00n, await networkHelpers.time.latest(), 1n, STATEMENT)).wait();
  return token;
}

describe("SettlementToken", function () {
  describe("permissions pushed by the registry", function () {
    it("holds the permission of every account the registry admitted after the token, before any transfer", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { token, registry, inst1, admin, as } = world;
      const { keyA, keyB } = await spareSigners();
      const existing = [world.inst1, world.merchant, world.payer, world.feeReceiver].map((s) => s.address);
      existing.push(await world.escrow.getAddress(), await world.ledger.getAddress());
      for (const account of existing) expect(await permission(token, account), account).to.deep.equal(RECORDED_PERMITTED);

      expect(await permission(token, keyA.address)).to.deep.equal(NOT_RECORDED);
      await (await as(registry, inst1).registerCustomer(keyA.address, 1)).wait();
      expect(await permission(token, keyA.address)).to.deep.equal(RECORDED_PERMITTED);
      await (await as(registry, admin).registerProtocolAccount(keyB.address)).wait();
      expect(await permission(token, keyB.address)).to.deep.equal(RECORDED_PERMITTED);
    });

    it("holds whether each account may pay into escrow, as the registry's mayPay says, and follows its status", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { token, registry, payer2 } = world;
      const payerFlag = async (account: string) => (await token.permissionOf(account))[2];
      for (const account of [world.payer.address, world.merchant.address]) expect(await payerFlag(account), account).to.equal(true);
      for (const account of [world.inst1.address, world.feeReceiver.address, await world.escrow.getAddress()]) {
        expect(await payerFlag(account), account).to.equal(false);
      }
      await (await registry.setAccountStatus(payer2.address, Status.Suspended)).wait();
      expect(await payerFlag(payer2.address)).to.equal(false);
      await (await registry.setAccountStatus(payer2.address, Status.Active)).wait();
      expect(await payerFlag(payer2.address)).to.equal(true);
    });

    it("records a suspension and a reactivation, and transfers follow", async function () {
      const { token, registry, payer, payer2, as } = await networkHelpers.loadFixture(deployWorld);
      await (await registry.setAccountStatus(payer2.address, Status.Suspended)).wait();
      expect(await permission(token, payer2.address)).to.deep.equal(RECORDED_REFUSED);
      await expect(as(token, payer).transfer(payer2.address, 1n))
        .to.be.revertedWithCustomError(token, "AccountNotPermitted")
        .withArgs(payer2.address);

      await (await registry.setAccountStatus(payer2.address, Status.Active)).wait();
      expect(await permission(token, payer2.address)).to.deep.equal(RECORDED_PERMITTED);
      await expect(as(token, payer).transfer(payer2.address, 1n)).to.changeTokenBalance(ethers, token, payer2, 1n);
    });

    it("follows an institution's keys: its status reaches its current key, and a replaced key loses its permission", async function () {
      const { token, registry, inst1, payer, as } = await networkHelpers.loadFixture(deployWorld);
      const { keyA, keyB } = await spareSigners();
      await (await as(registry, inst1).rotateKey(keyA.address)).wait();
      expect(await permission(token, keyA.address)).to.deep.equal(RECORDED_PERMITTED);
      await (await as(token, payer).transfer(keyA.address, 5_00n)).wait();

      await (await registry.setInstitutionStatus(inst1.address, Status.Suspended)).wait();
      for (const account of [inst1.address, keyA.address]) expect(await permission(token, account), account).to.deep.equal(RECORDED_REFUSED);
      await expect(as(token, keyA).transfer(payer.address, 1n))
        .to.be.revertedWithCustomError(token, "AccountNotPermitted")
        .withArgs(keyA.address);

      await (await registry.setInstitutionStatus(inst1.address, Status.Active)).wait();
      for (const account of [inst1.address, keyA.address]) expect(await permission(token, account), account).to.deep.equal(RECORDED_PERMITTED);
      await expect(as(token, keyA).transfer(payer.address, 1n)).to.changeTokenBalance(ethers, token, payer, 1n);

      await (await as(registry, keyA).rotateKey(keyB.address)).wait();
      expect(await permission(token, keyA.address)).to.deep.equal(RECORDED_REFUSED);
      expect(await permission(token, keyB.address)).to.deep.equal(RECORDED_PERMITTED);
      // The institution's own account keeps its record whatever its key.
      expect(await permission(token, inst1.address)).to.deep.equal(RECORDED_PERMITTED);
    });

    it("refuses permission updates from anyone but its registry", async function () {
      const { token, admin, inst1, outsider, as } = await networkHelpers.loadFixture(deployWorld);
      for (const caller of [admin, inst1]) {
        await expect(as(token, caller).setPermitted(outsider.address, true, true))
          .to.be.revertedWithCustomError(token, "NotRegistry")
          .withArgs(caller.address);
      }
      expect(await permission(token, outsider.address)).to.deep.equal(NOT_RECORDED);
    });

    it("pushes to every settlement token the registry admitted", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { token, registry, inst1, as } = world;
      const second = await newToken(world);
      await (await registry.registerSettlementToken(await second.getAddress())).wait();
      expect(await registry.settlementTokens()).to.deep.equal([await token.getAddress(), await second.getAddress()]);
      const { keyA } = await spareSigners();
      await (await as(registry, inst1).registerCustomer(keyA.address, 1)).wait();
      await (await registry.setAccountStatus(keyA.address, Status.Suspended)).wait();
      for (const t of [token, second]) expect(await permission(t, keyA.address)).to.deep.equal(RECORDED_REFUSED);
    });
  });

  describe("a token admitted after the accounts", function () {
    it("looks an older account up on its first transfer and records the answer; later changes are pushed", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { registry, inst1, payer, merchant, outsider, as } = world;
      const token = await newToken(world);
      await (await registry.registerSettlementToken(await token.getAddress())).wait();
      expect(await permission(token, payer.address)).to.deep.equal(NOT_RECORDED);

      await (await as(token, inst1).mint(payer.address, 10_00n, DEPOSIT)).wait();
      expect(await permission(token, payer.address)).to.deep.equal(RECORDED_PERMITTED);
      await (await as(token, payer).transfer(merchant.address, 4_00n)).wait();
      expect(await permission(token, merchant.address)).to.deep.equal(RECORDED_PERMITTED);
      expect(await token.balanceOf(merchant.address)).to.equal(4_00n);
      await expect(as(token, payer).transfer(outsider.address, 1n))
        .to.be.revertedWithCustomError(token, "AccountNotPermitted")
        .withArgs(outsider.address);
      expect(await permission(token, outsider.address)).to.deep.equal(NOT_RECORDED);

      await (await registry.setAccountStatus(payer.address, Status.Suspended)).wait();
      expect(await permission(token, payer.address)).to.deep.equal(RECORDED_REFUSED);
      await expect(as(token, payer).transfer(merchant.address, 1n))
        .to.be.revertedWithCustomError(token, "AccountNotPermitted")
        .withArgs(payer.address);
    });

    it("looks an older payer up on its first payment into escrow and records that it may pay; an older institution may not", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { registry, escrow, admin, inst1, payer, as } = world;
      const token = await newToken(world);
      const tokenAddress = await token.getAddress();
      const escrowAddress = await escrow.getAddress();
      await (await as(token, admin).setEscrow(escrowAddress)).wait();
      // Funded before the token is admitted: nothing is recorded yet.
      for (const account of [payer, inst1]) {
        await (await as(token, inst1).mint(account.address, 10_00n, DEPOSIT)).wait();
        await (await as(token, account).approve(escrowAddress, ethers.MaxUint256)).wait();
      }
      await (await registry.registerSettlementToken(tokenAddress)).wait();
      expect(await permission(token, payer.address)).to.deep.equal(NOT_RECORDED);

      const terms = await makeTerms(world, { token: tokenAddress, amount: 3_00n });
      await expect(as(escrow, payer).pay(terms, "0x")).to.changeTokenBalance(ethers, token, payer, -3_00n);
      expect(await token.permissionOf(payer.address)).to.deep.equal([true, true, true]);
      const byInstitution = await makeTerms(world, { token: tokenAddress, payer: inst1.address, amount: 3_00n });
      await expect(as(escrow, inst1).pay(byInstitution, "0x"))
        .to.be.revertedWithCustomError(escrow, "PayerNotActive")
        .withArgs(inst1.address);
    });

    it("records nothing while the registry does not push to it, so no answer can go stale", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { registry, inst1, payer, merchant, as } = world;
      const token = await newToken(world);
      // Not admitted: the registry answers every transfer, as nothing it says can be kept current here.
      await (await as(token, inst1).mint(payer.address, 10_00n, DEPOSIT)).wait();
      await (await as(token, payer).transfer(merchant.address, 1_00n)).wait();
      expect(await permission(token, payer.address)).to.deep.equal(NOT_RECORDED);

      await (await registry.setAccountStatus(payer.address, Status.Suspended)).wait();
      await expect(as(token, payer).transfer(merchant.address, 1n))
        .to.be.revertedWithCustomError(token, "AccountNotPermitted")
        .withArgs(payer.address);
    });
  });

  describe("balances in the packed slot", function () {
    it("keeps the balance and the flags apart: freezing, permission changes and transfers to oneself leave the balance", async function () {
      const { token, registry, regulator, payer, as } = await networkHelpers.loadFixture(deployWorld);
      const balance = await token.balanceOf(payer.address);
      await expect(as(token, payer).transfer(payer.address, 7_00n))
        .to.emit(token, "Transfer")
        .withArgs(payer.address, payer.address, 7_00n);
      expect(await token.balanceOf(payer.address)).to.equal(balance);
      await (await as(token, regulator).setFrozen(payer.address, true, encodeBytes32String("decision"))).wait();
      await (await registry.setAccountStatus(payer.address, Status.Suspended)).wait();
      expect(await token.balanceOf(payer.address)).to.equal(balance);
      expect(await token.isFrozen(payer.address)).to.equal(true);
      expect(await permission(token, payer.address)).to.deep.equal(RECORDED_REFUSED);
    });

    it("refuses a transfer to oneself of more than the balance", async function () {
      const { token, payer, as } = await networkHelpers.loadFixture(deployWorld);
      const balance = await token.balanceOf(payer.address);
      await expect(as(token, payer).transfer(payer.address, balance + 1n))
        .to.be.revertedWithCustomError(token, "ERC20InsufficientBalance")
        .withArgs(payer.address, balance, balance + 1n);
    });

    it("keeps the supply, and so every balance, within 248 bits", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { token, inst1, payer, as } = world;
      await (await attest(world, ethers.MaxUint256, STATEMENT)).wait();
      const room = 2n ** 248n - 1n - (await token.totalSupply());
      await expect(as(token, inst1).mint(payer.address, room + 1n, DEPOSIT)).to.be.revertedWithCustomError(
        token,
        "SafeCastOverflowedUintDowncast",
      );
      const before = await token.balanceOf(payer.address);
      await (await as(token, inst1).mint(payer.address, room, DEPOSIT)).wait();
      expect(await token.totalSupply()).to.equal(2n ** 248n - 1n);
      expect(await token.balanceOf(payer.address)).to.equal(before + room);
      expect(await permission(token, payer.address)).to.deep.equal(RECORDED_PERMITTED);
    });
  });
});
