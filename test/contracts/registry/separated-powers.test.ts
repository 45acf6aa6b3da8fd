/**
 * ParticipantRegistry's separated powers: governance names each custodian's independent reserve attestor
 * and may give the custodian a custodian key distinct from its operator key; SettlementToken honours both.
 */
import { expect } from "chai";
import { ZeroAddress } from "ethers";

import { attest, deployWorld, networkHelpers } from "../helpers/fixture.js";
import { ADMIN_ROLE } from "../helpers/registry.js";
import { DEPOSIT, FIXTURE_OUTSTANDING, spareSigners, STATEMENT } from "../helpers/token.js";

describe("ParticipantRegistry", function () {
  describe("separated powers", function () {
    it("lets governance alone name a custodian's reserve attestor", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { registry, inst1, inst2, as } = world;
      const { keyA } = await spareSigners();
      await expect(as(registry, inst1).setReserveAttestor(inst2.address, keyA.address))
        .to.be.revertedWithCustomError(registry, "AccessControlUnauthorizedAccount")
        .withArgs(inst1.address, ADMIN_ROLE);
      await expect(registry.setReserveAttestor(inst2.address, keyA.address)).to.emit(registry, "ReserveAttestorSet").withArgs(inst2.address, keyA.address);
      expect(await registry.reserveAttestorOf(inst2.address)).to.equal(keyA.address);
      await expect(registry.setReserveAttestor(inst2.address, ZeroAddress)).to.emit(registry, "ReserveAttestorSet").withArgs(inst2.address, ZeroAddress);
      expect(await registry.reserveAttestorOf(inst2.address)).to.equal(ZeroAddress);
    });

    it("refuses an attestor or custodian key that already holds another power or account", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { registry, inst1, inst2, regulator, arbiter, merchant, payer, admin, attestor } = world;
      for (const taken of [inst1, inst2, regulator, arbiter, merchant, payer, admin, attestor]) {
        await expect(registry.setReserveAttestor(inst2.address, taken.address)).to.be.revertedWithCustomError(registry, "KeyNotIndependent").withArgs(taken.address);
        await expect(registry.setCustodianKey(inst1.address, taken.address)).to.be.revertedWithCustomError(registry, "KeyNotIndependent").withArgs(taken.address);
      }
      const { keyA } = await spareSigners();
      await registry.setCustodianKey(inst1.address, keyA.address);
      // A power key cannot become an institution's operator key or an account either.
      await expect(world.as(registry, inst1).rotateKey(keyA.address)).to.be.revertedWithCustomError(registry, "KeyNotIndependent").withArgs(keyA.address);
      await expect(world.as(registry, inst1).registerCustomer(keyA.address, 1)).to.be.revertedWithCustomError(registry, "KeyNotIndependent").withArgs(keyA.address);
    });

    it("mints with the custodian key only, once the custodian has one", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { registry, token, inst1, payer, as } = world;
      const { keyA: custodianKey } = await spareSigners();
      await expect(as(token, custodianKey).mint(payer.address, 1n, DEPOSIT)).to.be.revertedWithCustomError(token, "NotCustodian").withArgs(custodianKey.address);
      await expect(registry.setCustodianKey(inst1.address, custodianKey.address)).to.emit(registry, "CustodianKeySet").withArgs(inst1.address, custodianKey.address);
      expect(await registry.custodianInstitutionOf(custodianKey.address)).to.equal(inst1.address);
      expect(await registry.custodianInstitutionOf(inst1.address)).to.equal(ZeroAddress);

      await expect(as(token, inst1).mint(payer.address, 1n, DEPOSIT)).to.be.revertedWithCustomError(token, "NotCustodian").withArgs(inst1.address);
      await expect(as(token, custodianKey).mint(payer.address, 1n, DEPOSIT)).to.emit(token, "Minted").withArgs(inst1.address, payer.address, 1n, DEPOSIT);
      expect(await token.outstandingOf(inst1.address)).to.equal(FIXTURE_OUTSTANDING + 1n);
      // The custodian key cannot attest the reserves that cap it.
      await expect(attest(world, 10n ** 30n, STATEMENT, custodianKey)).to.be.revertedWithCustomError(token, "NotReserveAttestor").withArgs(custodianKey.address, inst1.address);

      await registry.setCustodianKey(inst1.address, ZeroAddress);
      await expect(as(token, custodianKey).mint(payer.address, 1n, DEPOSIT)).to.be.revertedWithCustomError(token, "NotCustodian").withArgs(custodianKey.address);
      await expect(as(token, inst1).mint(payer.address, 1n, DEPOSIT)).to.emit(token, "Minted");
    });

    it("stops a suspended institution's custodian key", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { registry, token, inst1, payer, as } = world;
      const { keyA: custodianKey } = await spareSigners();
      await registry.setCustodianKey(inst1.address, custodianKey.address);
      await registry.setInstitutionStatus(inst1.address, 2);
      expect(await registry.custodianInstitutionOf(custodianKey.address)).to.equal(ZeroAddress);
      await expect(as(token, custodianKey).mint(payer.address, 1n, DEPOSIT)).to.be.revertedWithCustomError(token, "NotCustodian").withArgs(custodianKey.address);
    });
  });
});
