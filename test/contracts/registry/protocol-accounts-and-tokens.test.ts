/** ParticipantRegistry protocol accounts (escrow, ledger, fee receiver), admitted tokens and the escrow's payment check. */
import { expect } from "chai";
import { ZeroAddress } from "ethers";

import { ethers, MERCHANT_FEE_BPS } from "../helpers/fixture.js";
import { accountOf, ADMIN_ROLE, Kind, load, Status, TokenKind } from "../helpers/registry.js";

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
    it("admits a settlement token bound to this registry and lists it among the tokens it pushes to", async function () {
      const { registry, token } = await load();
      const tokenAddress = await token.getAddress();
      expect(await registry.isSettlementToken(tokenAddress)).to.equal(true);
      expect(await registry.tokenKindOf(tokenAddress)).to.equal(TokenKind.Settlement);
      const second = await ethers.deployContract("SettlementToken", [await registry.getAddress(), "Settlenet HKD", "HKD"]);
      const secondAddress = await second.getAddress();
      expect(await registry.tokenKindOf(secondAddress)).to.equal(TokenKind.None);
      await expect(registry.registerSettlementToken(secondAddress)).to.emit(registry, "SettlementTokenRegistered").withArgs(secondAddress);
      expect(await registry.isSettlementToken(secondAddress)).to.equal(true);
      expect(await registry.settlementTokens()).to.deep.equal([tokenAddress, secondAddress]);
    });

    it("refuses a token that would not take its permission updates: an account, another registry's token, any other ERC-20", async function () {
      const { registry, fresh } = await load();
      const otherRegistry = await ethers.deployContract("ParticipantRegistry", [fresh.address, 300]);
      const foreignBound = await ethers.deployContract("SettlementToken", [await otherRegistry.getAddress(), "Other CNY", "OCNY"]);
      const plainErc20 = await ethers.deployContract("FeeOnTransferToken");
      for (const candidate of [fresh.address, await foreignBound.getAddress(), await plainErc20.getAddress()]) {
        await expect(registry.registerSettlementToken(candidate)).to.be.revertedWithCustomError(registry, "TokenNotBound").withArgs(candidate);
        expect(await registry.tokenKindOf(candidate)).to.equal(TokenKind.None);
      }
    });

    it("refuses a token already admitted, as either kind, and the zero address", async function () {
      const { registry, token } = await load();
      const tokenAddress = await token.getAddress();
      const foreign = await (await ethers.deployContract("FeeOnTransferToken")).getAddress();
      await (await registry.registerForeignToken(foreign)).wait();
      for (const register of [registry.registerSettlementToken, registry.registerForeignToken]) {
        for (const admitted of [tokenAddress, foreign]) {
          await expect(register(admitted)).to.be.revertedWithCustomError(registry, "TokenAlreadyRegistered").withArgs(admitted);
        }
        await expect(register(ZeroAddress)).to.be.revertedWithCustomError(registry, "ZeroAddress");
      }
    });

    it("refuses token admissions from anyone but the admin", async function () {
      const { registry, inst1, fresh } = await load();
      for (const register of ["registerSettlementToken", "registerForeignToken"] as const) {
        await expect(registry.connect(inst1)[register](fresh.address))
          .to.be.revertedWithCustomError(registry, "AccessControlUnauthorizedAccount")
          .withArgs(inst1.address, ADMIN_ROLE);
      }
    });
  });

  describe("foreign tokens", function () {
    it("admits a foreign ERC-20 for escrow payments, without pushing permissions to it", async function () {
      const { registry, inst1, fresh } = await load();
      const foreign = await (await ethers.deployContract("FeeOnTransferToken")).getAddress();
      await expect(registry.registerForeignToken(foreign)).to.emit(registry, "ForeignTokenRegistered").withArgs(foreign);
      expect(await registry.tokenKindOf(foreign)).to.equal(TokenKind.Foreign);
      expect(await registry.isSettlementToken(foreign)).to.equal(false);
      expect(await registry.settlementTokens()).to.not.include(foreign);
      // Registrations go on: nothing is pushed to a token that would not take it.
      await expect(registry.connect(inst1).registerCustomer(fresh.address, 1)).to.emit(registry, "CustomerRegistered");
    });
  });

  describe("paymentCheck and mayPay", function () {
    it("answers the escrow's checks of the merchant and the token in one call, and of the payer in another", async function () {
      const { registry, token, merchant, merchant2, payer, inst1, feeReceiver, escrow, fresh } = await load();
      const tokenAddress = await token.getAddress();
      const check = async (merchantAddress: string, tokenAt = tokenAddress) => {
        const [tokenKind, merchantActive, merchantFeeBps] = await registry.paymentCheck(merchantAddress, tokenAt);
        return { tokenKind: Number(tokenKind), merchantActive, merchantFeeBps: Number(merchantFeeBps) };
      };
      expect(await check(merchant.address)).to.deep.equal({
        tokenKind: TokenKind.Settlement,
        merchantActive: true,
        merchantFeeBps: MERCHANT_FEE_BPS,
      });
      // A customer or a merchant may pay; institutions, protocol accounts and strangers may not.
      expect(await registry.mayPay(payer.address)).to.equal(true);
      expect(await registry.mayPay(merchant2.address)).to.equal(true);
      for (const notPayer of [inst1.address, feeReceiver.address, await escrow.getAddress(), fresh.address]) {
        expect(await registry.mayPay(notPayer), notPayer).to.equal(false);
      }
      // Only an active merchant is paid.
      for (const notMerchant of [payer.address, inst1.address, fresh.address]) {
        expect((await check(notMerchant)).merchantActive, notMerchant).to.equal(false);
      }
      await (await registry.setAccountStatus(merchant.address, Status.Suspended)).wait();
      await (await registry.setAccountStatus(payer.address, Status.Suspended)).wait();
      expect((await check(merchant.address)).merchantActive).to.equal(false);
      expect(await registry.mayPay(payer.address)).to.equal(false);
      expect((await check(merchant.address, fresh.address)).tokenKind).to.equal(TokenKind.None);
    });
  });
});
