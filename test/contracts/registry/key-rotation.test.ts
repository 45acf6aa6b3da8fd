/** ParticipantRegistry key rotation of institutions and regulators, by themselves or by the admin. */
import { expect } from "chai";
import { ZeroAddress } from "ethers";

import { accountOf, Kind, load, nodeOf, PAYOUT, REGULATOR_ROLE, Status } from "../helpers/registry.js";

describe("ParticipantRegistry", function () {
  describe("key rotation", function () {
    it("rotates an institution's key at its own request, keeping its id", async function () {
      const { registry, inst1, newKey } = await load();
      await expect(registry.connect(inst1).rotateKey(newKey.address))
        .to.emit(registry, "InstitutionKeyRotated")
        .withArgs(inst1.address, inst1.address, newKey.address);
      expect(await registry.signerOf(inst1.address)).to.equal(newKey.address);
      expect(await registry.institutionOfSigner(newKey.address)).to.equal(inst1.address);
      expect(await registry.institutionOfSigner(inst1.address)).to.equal(ZeroAddress);
      expect(await registry.isActiveInstitution(newKey.address)).to.equal(true);
      expect(await registry.isActiveInstitution(inst1.address)).to.equal(false);
      const node = await nodeOf(registry, inst1.address);
      expect([node.account, node.signer, node.peerId]).to.deep.equal([inst1.address, newKey.address, "12D3KooWInstitution0"]);
      expect(await accountOf(registry, inst1.address)).to.deep.equal({
        kind: Kind.Institution,
        status: Status.Active,
        kycLevel: 0,
        feeBps: 0,
        institution: inst1.address,
      });
      expect(await registry.activeInstitutionCount()).to.equal(3n);
    });

    it("moves onboarding powers from the old key to the new one; merchants stay with the institution id", async function () {
      const { registry, inst1, newKey, fresh, fresh2 } = await load();
      await (await registry.connect(inst1).rotateKey(newKey.address)).wait();
      await expect(registry.connect(inst1).registerMerchant(fresh.address, 1, 10, PAYOUT))
        .to.be.revertedWithCustomError(registry, "NotActiveInstitution")
        .withArgs(inst1.address);
      await expect(registry.connect(newKey).registerMerchant(fresh.address, 1, 10, PAYOUT))
        .to.emit(registry, "MerchantRegistered")
        .withArgs(fresh.address, inst1.address, 1, 10, PAYOUT);
      expect((await accountOf(registry, fresh.address)).institution).to.equal(inst1.address);
      await expect(registry.connect(newKey).registerCustomer(fresh2.address, 2))
        .to.emit(registry, "CustomerRegistered")
        .withArgs(fresh2.address, inst1.address, 2);
    });

    it("lets the new key manage accounts opened under the old key, and the old key no longer", async function () {
      const { registry, inst1, newKey, merchant, payer } = await load();
      await (await registry.connect(inst1).rotateKey(newKey.address)).wait();
      await expect(registry.connect(inst1).setMerchantFee(merchant.address, 50))
        .to.be.revertedWithCustomError(registry, "NotActiveInstitution")
        .withArgs(inst1.address);
      await expect(registry.connect(newKey).setMerchantFee(merchant.address, 50))
        .to.emit(registry, "MerchantFeeUpdated")
        .withArgs(merchant.address, 50);
      await expect(registry.connect(newKey).setAccountStatus(payer.address, Status.Suspended))
        .to.emit(registry, "AccountStatusChanged")
        .withArgs(payer.address, Kind.Customer, Status.Suspended);
    });

    it("lets the admin rotate a lost key on the institution's behalf", async function () {
      const { registry, inst2, newKey, fresh } = await load();
      await expect(registry.rotateKeyFor(inst2.address, newKey.address))
        .to.emit(registry, "InstitutionKeyRotated")
        .withArgs(inst2.address, inst2.address, newKey.address);
      expect(await registry.signerOf(inst2.address)).to.equal(newKey.address);
      expect((await nodeOf(registry, inst2.address)).signer).to.equal(newKey.address);
      await expect(registry.connect(inst2).registerCustomer(fresh.address, 1))
        .to.be.revertedWithCustomError(registry, "NotActiveInstitution")
        .withArgs(inst2.address);
      await expect(registry.connect(newKey).registerCustomer(fresh.address, 1))
        .to.emit(registry, "CustomerRegistered")
        .withArgs(fresh.address, inst2.address, 1);
    });

    it("frees an intermediate key when a rotated key is rotated again", async function () {
      const { registry, inst1, inst2, newKey, newKey2 } = await load();
      await (await registry.connect(inst1).rotateKey(newKey.address)).wait();
      await expect(registry.rotateKeyFor(inst1.address, newKey2.address))
        .to.emit(registry, "InstitutionKeyRotated")
        .withArgs(inst1.address, newKey.address, newKey2.address);
      expect(await registry.institutionOfSigner(newKey.address)).to.equal(ZeroAddress);
      expect(await registry.institutionOfSigner(newKey2.address)).to.equal(inst1.address);
      await expect(registry.connect(inst2).registerCustomer(newKey.address, 1))
        .to.emit(registry, "CustomerRegistered")
        .withArgs(newKey.address, inst2.address, 1);
    });

    it("refuses a new key that is already some operator's key", async function () {
      const { registry, inst1, inst2, regulator } = await load();
      for (const key of [inst1.address, inst2.address, regulator.address]) {
        await expect(registry.connect(inst1).rotateKey(key))
          .to.be.revertedWithCustomError(registry, "SignerAlreadyInUse")
          .withArgs(key);
        await expect(registry.rotateKeyFor(inst1.address, key))
          .to.be.revertedWithCustomError(registry, "SignerAlreadyInUse")
          .withArgs(key);
      }
      expect(await registry.signerOf(inst1.address)).to.equal(inst1.address);
    });

    it("refuses the zero address as new key", async function () {
      const { registry, inst1 } = await load();
      await expect(registry.connect(inst1).rotateKey(ZeroAddress)).to.be.revertedWithCustomError(registry, "ZeroAddress");
      await expect(registry.rotateKeyFor(inst1.address, ZeroAddress)).to.be.revertedWithCustomError(registry, "ZeroAddress");
    });

    it("refuses rotation by or for an account that is not a node operator", async function () {
      const { registry, outsider, merchant, newKey } = await load();
      for (const account of [outsider, merchant]) {
        await expect(registry.connect(account).rotateKey(newKey.address))
          .to.be.revertedWithCustomError(registry, "NotActiveInstitution")
          .withArgs(account.address);
        await expect(registry.rotateKeyFor(account.address, newKey.address))
          .to.be.revertedWithCustomError(registry, "NotActiveInstitution")
          .withArgs(account.address);
      }
    });

    it("moves the regulator role with a regulator's key", async function () {
      const { registry, regulator, newKey } = await load();
      await expect(registry.connect(regulator).rotateKey(newKey.address))
        .to.emit(registry, "InstitutionKeyRotated")
        .withArgs(regulator.address, regulator.address, newKey.address)
        .and.to.emit(registry, "RoleRevoked")
        .withArgs(REGULATOR_ROLE, regulator.address, regulator.address)
        .and.to.emit(registry, "RoleGranted")
        .withArgs(REGULATOR_ROLE, newKey.address, regulator.address);
      expect(await registry.hasRole(REGULATOR_ROLE, regulator.address)).to.equal(false);
      expect(await registry.hasRole(REGULATOR_ROLE, newKey.address)).to.equal(true);
      const node = await nodeOf(registry, regulator.address);
      expect([node.signer, node.regulator, node.active]).to.deep.equal([newKey.address, true, true]);
      expect(await registry.isActiveInstitution(newKey.address)).to.equal(false);
    });

    it("moves the regulator role when the admin rotates a regulator's key", async function () {
      const { registry, admin, regulator, newKey } = await load();
      await expect(registry.rotateKeyFor(regulator.address, newKey.address))
        .to.emit(registry, "RoleGranted")
        .withArgs(REGULATOR_ROLE, newKey.address, admin.address);
      expect(await registry.hasRole(REGULATOR_ROLE, regulator.address)).to.equal(false);
      expect(await registry.hasRole(REGULATOR_ROLE, newKey.address)).to.equal(true);
    });

    it("refuses to rotate a key onto an address that is already a participant account", async function () {
      const { registry, inst1, regulator, merchant, payer, escrow } = await load();
      for (const taken of [merchant.address, payer.address, await escrow.getAddress()]) {
        await expect(registry.connect(inst1).rotateKey(taken))
          .to.be.revertedWithCustomError(registry, "AccountAlreadyRegistered")
          .withArgs(taken);
        await expect(registry.rotateKeyFor(regulator.address, taken))
          .to.be.revertedWithCustomError(registry, "AccountAlreadyRegistered")
          .withArgs(taken);
      }
      expect(await registry.hasRole(REGULATOR_ROLE, merchant.address)).to.equal(false);
    });

    it("does not hand a revoked regulator role to the regulator's next key", async function () {
      const { registry, regulator, newKey } = await load();
      await (await registry.revokeRole(REGULATOR_ROLE, regulator.address)).wait();
      await (await registry.rotateKeyFor(regulator.address, newKey.address)).wait();
      expect(await registry.hasRole(REGULATOR_ROLE, newKey.address)).to.equal(false);
      expect(await registry.signerOf(regulator.address)).to.equal(newKey.address);
    });

    it("refuses key rotation and peer id changes by a suspended institution, but lets the admin rotate its key", async function () {
      const { registry, inst1, newKey } = await load();
      await (await registry.setInstitutionStatus(inst1.address, Status.Suspended)).wait();
      await expect(registry.connect(inst1).rotateKey(newKey.address))
        .to.be.revertedWithCustomError(registry, "NotActiveInstitution")
        .withArgs(inst1.address);
      await expect(registry.connect(inst1).updatePeerId("12D3KooWSuspended"))
        .to.be.revertedWithCustomError(registry, "NotActiveInstitution")
        .withArgs(inst1.address);
      await (await registry.rotateKeyFor(inst1.address, newKey.address)).wait();
      expect(await registry.signerOf(inst1.address)).to.equal(newKey.address);
    });
  });
});
