/** ParticipantRegistry merchants and customers: onboarding by an institution, fees, KYC levels, status. */
import { expect } from "chai";
import { encodeBytes32String, ZeroAddress } from "ethers";

import { MAX_FEE_BPS, MERCHANT_FEE_BPS } from "../helpers/fixture.js";
import { accountOf, Kind, load, PAYOUT, Status } from "../helpers/registry.js";

describe("ParticipantRegistry", function () {
  describe("merchants", function () {
    it("onboards a merchant at the calling institution", async function () {
      const { registry, inst2, fresh } = await load();
      await expect(registry.connect(inst2).registerMerchant(fresh.address, 3, MAX_FEE_BPS, PAYOUT))
        .to.emit(registry, "MerchantRegistered")
        .withArgs(fresh.address, inst2.address, 3, MAX_FEE_BPS, PAYOUT);
      expect(await accountOf(registry, fresh.address)).to.deep.equal({
        kind: Kind.Merchant,
        status: Status.Active,
        kycLevel: 3,
        feeBps: MAX_FEE_BPS,
        institution: inst2.address,
      });
      expect(await registry.payoutAccountOf(fresh.address)).to.equal(PAYOUT);
      expect(await registry.isActiveParticipant(fresh.address)).to.equal(true);
      expect(await registry.isActiveInstitution(fresh.address)).to.equal(false);
    });

    it("refuses a fee above the maximum", async function () {
      const { registry, inst1, fresh } = await load();
      await expect(registry.connect(inst1).registerMerchant(fresh.address, 1, MAX_FEE_BPS + 1, PAYOUT))
        .to.be.revertedWithCustomError(registry, "FeeAboveMaximum")
        .withArgs(MAX_FEE_BPS + 1, MAX_FEE_BPS);
    });

    it("refuses the zero address, accounts already registered and operators' keys", async function () {
      const { registry, inst1, inst2, merchant, payer, regulator, escrow, newKey } = await load();
      await expect(registry.connect(inst1).registerMerchant(ZeroAddress, 1, 0, PAYOUT)).to.be.revertedWithCustomError(
        registry,
        "ZeroAddress",
      );
      await (await registry.connect(inst2).rotateKey(newKey.address)).wait();
      const taken = [merchant.address, payer.address, inst2.address, regulator.address, await escrow.getAddress(), newKey.address];
      for (const account of taken) {
        await expect(registry.connect(inst1).registerMerchant(account, 1, 0, PAYOUT))
          .to.be.revertedWithCustomError(registry, "AccountAlreadyRegistered")
          .withArgs(account);
      }
    });

    it("lets the acquiring institution change the merchant's fee", async function () {
      const { registry, inst1, merchant } = await load();
      await expect(registry.connect(inst1).setMerchantFee(merchant.address, 250))
        .to.emit(registry, "MerchantFeeUpdated")
        .withArgs(merchant.address, 250);
      expect((await accountOf(registry, merchant.address)).feeBps).to.equal(250);
      await expect(registry.connect(inst1).setMerchantFee(merchant.address, MAX_FEE_BPS + 1))
        .to.be.revertedWithCustomError(registry, "FeeAboveMaximum")
        .withArgs(MAX_FEE_BPS + 1, MAX_FEE_BPS);
    });

    it("lets the acquiring institution change the merchant's payout account", async function () {
      const { registry, inst1, merchant } = await load();
      expect(await registry.payoutAccountOf(merchant.address)).to.equal(encodeBytes32String("acct-m1"));
      await expect(registry.connect(inst1).setMerchantPayoutAccount(merchant.address, PAYOUT))
        .to.emit(registry, "MerchantPayoutAccountUpdated")
        .withArgs(merchant.address, PAYOUT);
      expect(await registry.payoutAccountOf(merchant.address)).to.equal(PAYOUT);
    });

    it("refuses fee and payout changes from another institution", async function () {
      const { registry, inst2, merchant } = await load();
      await expect(registry.connect(inst2).setMerchantFee(merchant.address, 50))
        .to.be.revertedWithCustomError(registry, "NotAccountInstitution")
        .withArgs(inst2.address, merchant.address);
      await expect(registry.connect(inst2).setMerchantPayoutAccount(merchant.address, PAYOUT))
        .to.be.revertedWithCustomError(registry, "NotAccountInstitution")
        .withArgs(inst2.address, merchant.address);
      expect((await accountOf(registry, merchant.address)).feeBps).to.equal(MERCHANT_FEE_BPS);
    });

    it("refuses fee and payout changes for accounts that are not merchants", async function () {
      const { registry, inst1, payer, inst2, outsider, escrow } = await load();
      // The institution's own customer gets past the ownership check and fails on its kind.
      await expect(registry.connect(inst1).setMerchantFee(payer.address, 50))
        .to.be.revertedWithCustomError(registry, "AccountKindMismatch")
        .withArgs(payer.address, Kind.Merchant, Kind.Customer);
      await expect(registry.connect(inst1).setMerchantPayoutAccount(payer.address, PAYOUT))
        .to.be.revertedWithCustomError(registry, "AccountKindMismatch")
        .withArgs(payer.address, Kind.Merchant, Kind.Customer);
      const others: [string, number][] = [
        [inst2.address, Kind.Institution],
        [outsider.address, Kind.None],
        [await escrow.getAddress(), Kind.Protocol],
      ];
      for (const [account, kind] of others) {
        await expect(registry.connect(inst1).setMerchantFee(account, 50))
          .to.be.revertedWithCustomError(registry, "AccountKindMismatch")
          .withArgs(account, Kind.Merchant, kind);
        await expect(registry.connect(inst1).setMerchantPayoutAccount(account, PAYOUT))
          .to.be.revertedWithCustomError(registry, "AccountKindMismatch")
          .withArgs(account, Kind.Merchant, kind);
      }
    });
  });

  describe("customers", function () {
    it("opens a customer account at the calling institution", async function () {
      const { registry, inst3, fresh } = await load();
      await expect(registry.connect(inst3).registerCustomer(fresh.address, 2))
        .to.emit(registry, "CustomerRegistered")
        .withArgs(fresh.address, inst3.address, 2);
      expect(await accountOf(registry, fresh.address)).to.deep.equal({
        kind: Kind.Customer,
        status: Status.Active,
        kycLevel: 2,
        feeBps: 0,
        institution: inst3.address,
      });
      expect(await registry.isActiveParticipant(fresh.address)).to.equal(true);
    });

    it("refuses the zero address and accounts already registered", async function () {
      const { registry, inst1, payer2, merchant, inst3 } = await load();
      await expect(registry.connect(inst1).registerCustomer(ZeroAddress, 1)).to.be.revertedWithCustomError(
        registry,
        "ZeroAddress",
      );
      for (const account of [payer2.address, merchant.address, inst3.address]) {
        await expect(registry.connect(inst1).registerCustomer(account, 1))
          .to.be.revertedWithCustomError(registry, "AccountAlreadyRegistered")
          .withArgs(account);
      }
    });
  });

  describe("KYC levels", function () {
    it("lets the owning institution change a merchant's and a customer's KYC level", async function () {
      const { registry, inst1, merchant, payer } = await load();
      await expect(registry.connect(inst1).setKycLevel(merchant.address, 4))
        .to.emit(registry, "KycLevelUpdated")
        .withArgs(merchant.address, 4);
      await expect(registry.connect(inst1).setKycLevel(payer.address, 3))
        .to.emit(registry, "KycLevelUpdated")
        .withArgs(payer.address, 3);
      expect((await accountOf(registry, merchant.address)).kycLevel).to.equal(4);
      expect((await accountOf(registry, payer.address)).kycLevel).to.equal(3);
    });

    it("refuses a KYC change from another institution", async function () {
      const { registry, inst2, merchant, payer } = await load();
      for (const account of [merchant.address, payer.address]) {
        await expect(registry.connect(inst2).setKycLevel(account, 4))
          .to.be.revertedWithCustomError(registry, "NotAccountInstitution")
          .withArgs(inst2.address, account);
      }
      expect((await accountOf(registry, payer.address)).kycLevel).to.equal(1);
    });

    it("refuses a KYC change for institutions, protocol accounts and unknown accounts", async function () {
      const { registry, inst1, outsider, escrow } = await load();
      const cases: [string, number][] = [
        [inst1.address, Kind.Institution],
        [await escrow.getAddress(), Kind.Protocol],
        [outsider.address, Kind.None],
      ];
      for (const [account, kind] of cases) {
        await expect(registry.connect(inst1).setKycLevel(account, 4))
          .to.be.revertedWithCustomError(registry, "AccountKindMismatch")
          .withArgs(account, Kind.Merchant, kind);
      }
    });
  });

  describe("account status", function () {
    it("lets the owning institution suspend and reactivate its merchant", async function () {
      const { registry, inst1, merchant } = await load();
      await expect(registry.connect(inst1).setAccountStatus(merchant.address, Status.Suspended))
        .to.emit(registry, "AccountStatusChanged")
        .withArgs(merchant.address, Kind.Merchant, Status.Suspended);
      expect((await accountOf(registry, merchant.address)).status).to.equal(Status.Suspended);
      expect(await registry.isActiveParticipant(merchant.address)).to.equal(false);
      await expect(registry.connect(inst1).setAccountStatus(merchant.address, Status.Active))
        .to.emit(registry, "AccountStatusChanged")
        .withArgs(merchant.address, Kind.Merchant, Status.Active);
      expect(await registry.isActiveParticipant(merchant.address)).to.equal(true);
    });

    it("lets the admin suspend any merchant or customer", async function () {
      const { registry, payer2, merchant2 } = await load();
      await expect(registry.setAccountStatus(payer2.address, Status.Suspended))
        .to.emit(registry, "AccountStatusChanged")
        .withArgs(payer2.address, Kind.Customer, Status.Suspended);
      await expect(registry.setAccountStatus(merchant2.address, Status.Suspended))
        .to.emit(registry, "AccountStatusChanged")
        .withArgs(merchant2.address, Kind.Merchant, Status.Suspended);
      expect(await registry.isActiveParticipant(payer2.address)).to.equal(false);
      expect(await registry.isActiveParticipant(merchant2.address)).to.equal(false);
    });

    it("refuses a status change from another institution", async function () {
      const { registry, inst2, merchant, payer } = await load();
      for (const account of [merchant.address, payer.address]) {
        await expect(registry.connect(inst2).setAccountStatus(account, Status.Suspended))
          .to.be.revertedWithCustomError(registry, "NotAccountInstitution")
          .withArgs(inst2.address, account);
      }
      expect(await registry.isActiveParticipant(payer.address)).to.equal(true);
    });

    it("refuses the current status and the None status", async function () {
      const { registry, inst1, payer } = await load();
      await expect(registry.connect(inst1).setAccountStatus(payer.address, Status.Active))
        .to.be.revertedWithCustomError(registry, "InvalidStatus")
        .withArgs(payer.address, Status.Active);
      await expect(registry.setAccountStatus(payer.address, Status.None))
        .to.be.revertedWithCustomError(registry, "InvalidStatus")
        .withArgs(payer.address, Status.None);
    });

    it("refuses institutions, protocol accounts and unknown accounts, even from the admin", async function () {
      const { registry, inst1, outsider, escrow } = await load();
      const cases: [string, number][] = [
        [inst1.address, Kind.Institution],
        [await escrow.getAddress(), Kind.Protocol],
        [outsider.address, Kind.None],
      ];
      for (const [account, kind] of cases) {
        await expect(registry.setAccountStatus(account, Status.Suspended))
          .to.be.revertedWithCustomError(registry, "AccountKindMismatch")
          .withArgs(account, Kind.Merchant, kind);
      }
    });
  });

  describe("maximum fee", function () {
    it("lowers the maximum for new fees while existing merchants keep theirs", async function () {
      const { registry, inst1, merchant, fresh } = await load();
      await expect(registry.setMaxFeeBps(50)).to.emit(registry, "MaxFeeUpdated").withArgs(50);
      expect(await registry.maxFeeBps()).to.equal(50n);
      expect((await accountOf(registry, merchant.address)).feeBps).to.equal(MERCHANT_FEE_BPS);
      await expect(registry.connect(inst1).setMerchantFee(merchant.address, MERCHANT_FEE_BPS))
        .to.be.revertedWithCustomError(registry, "FeeAboveMaximum")
        .withArgs(MERCHANT_FEE_BPS, 50);
      await expect(registry.connect(inst1).registerMerchant(fresh.address, 1, 51, PAYOUT))
        .to.be.revertedWithCustomError(registry, "FeeAboveMaximum")
        .withArgs(51, 50);
    });

    it("accepts a maximum of 100% and refuses anything above", async function () {
      const { registry } = await load();
      await expect(registry.setMaxFeeBps(10_000)).to.emit(registry, "MaxFeeUpdated").withArgs(10_000);
      await expect(registry.setMaxFeeBps(10_001))
        .to.be.revertedWithCustomError(registry, "InvalidMaximumFee")
        .withArgs(10_001);
      expect(await registry.maxFeeBps()).to.equal(10_000n);
    });
  });
});
