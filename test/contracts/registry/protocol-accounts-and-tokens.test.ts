/** ParticipantRegistry protocol accounts (escrow, ledger, fee receiver) and settlement tokens. */
import { expect } from "chai";
import { ZeroAddress } from "ethers";

import { accountOf, Kind, load, Status } from "../helpers/registry.js";

describe("ParticipantRegistry", function () {
  describe("protocol accounts", function () {
    it("registers a protocol account that may hold tokens but is no participant", async function () {
      const { registry, fresh } = await load();
      await expect(registry.registerProtocolAccount(fresh.address))
        .to.emit(registry, "ProtocolAccountRegistered")
        .withArgs(fresh.address);
      expect(await accountOf(registry, fresh.address)).to.deep.equal({
        kind: Kind.Protocol,
        status: Status.Active,
        kycLevel: 0,
        feeBps: 0,
        institution: ZeroAddress,
      });
      expect(await registry.isActiveParticipant(fresh.address)).to.equal(false);
    });

    it("reports the deployed escrow, ledger and fee receiver as protocol accounts, not participants", async function () {
      const { registry, escrow, ledger, feeReceiver } = await load();
      for (const account of [await escrow.getAddress(), await ledger.getAddress(), feeReceiver.address]) {
        expect((await accountOf(registry, account)).kind).to.equal(Kind.Protocol);
        expect(await registry.isActiveParticipant(account)).to.equal(false);
      }
    });

    it("refuses the zero address and accounts already registered", async function () {
      const { registry, escrow, merchant, inst1 } = await load();
      await expect(registry.registerProtocolAccount(ZeroAddress)).to.be.revertedWithCustomError(registry, "ZeroAddress");
      for (const account of [await escrow.getAddress(), merchant.address, inst1.address]) {
        await expect(registry.registerProtocolAccount(account))
          .to.be.revertedWithCustomError(registry, "AccountAlreadyRegistered")
          .withArgs(account);
      }
    });
  });

  describe("settlement tokens", function () {
    it("admits a settlement token", async function () {
      const { registry, token, fresh } = await load();
      expect(await registry.isSettlementToken(await token.getAddress())).to.equal(true);
      expect(await registry.isSettlementToken(fresh.address)).to.equal(false);
      await expect(registry.registerSettlementToken(fresh.address))
        .to.emit(registry, "SettlementTokenRegistered")
        .withArgs(fresh.address);
      expect(await registry.isSettlementToken(fresh.address)).to.equal(true);
    });

    it("refuses a token already admitted and the zero address", async function () {
      const { registry, token } = await load();
      const tokenAddress = await token.getAddress();
      await expect(registry.registerSettlementToken(tokenAddress))
        .to.be.revertedWithCustomError(registry, "TokenAlreadyRegistered")
        .withArgs(tokenAddress);
      await expect(registry.registerSettlementToken(ZeroAddress)).to.be.revertedWithCustomError(registry, "ZeroAddress");
    });
  });
});
