/** ParticipantRegistry deployment, who may call what (admin, institutions) and the role ids it shares. */
import { expect } from "chai";
import { ZeroAddress, ZeroHash } from "ethers";

import type { ParticipantRegistry } from "../../../types/ethers-contracts/index.js";
import { ethers } from "../helpers/fixture.js";
import { accountOf, ADMIN_ROLE, ARBITER_ROLE, Kind, load, PAYOUT, REGULATOR_ROLE, Status, type RegistryWorld } from "../helpers/registry.js";

describe("ParticipantRegistry", function () {
  describe("deployment", function () {
    it("grants the admin role to the given admin and records the initial maximum fee", async function () {
      const { outsider, admin } = await load();
      const registry = await ethers.deployContract("ParticipantRegistry", [outsider.address, 250]);
      await expect(registry.deploymentTransaction()).to.emit(registry, "MaxFeeUpdated").withArgs(250);
      expect(await registry.hasRole(ADMIN_ROLE, outsider.address)).to.equal(true);
      expect(await registry.hasRole(ADMIN_ROLE, admin.address)).to.equal(false);
      expect(await registry.maxFeeBps()).to.equal(250n);
      expect(await registry.activeInstitutionCount()).to.equal(0n);
      expect(await registry.nodes()).to.deep.equal([]);
    });

    it("refuses the zero address as admin", async function () {
      const { registry } = await load();
      await expect(ethers.deployContract("ParticipantRegistry", [ZeroAddress, 250])).to.be.revertedWithCustomError(
        registry,
        "ZeroAddress",
      );
    });

    it("refuses an initial maximum fee above 100% and accepts exactly 100%", async function () {
      const { registry, admin } = await load();
      await expect(ethers.deployContract("ParticipantRegistry", [admin.address, 10_001]))
        .to.be.revertedWithCustomError(registry, "InvalidMaximumFee")
        .withArgs(10_001);
      const full = await ethers.deployContract("ParticipantRegistry", [admin.address, 10_000]);
      expect(await full.maxFeeBps()).to.equal(10_000n);
    });
  });

  describe("admin-only functions", function () {
    const adminOnly: [string, (r: ParticipantRegistry, w: RegistryWorld) => Promise<unknown>][] = [
      ["registerInstitution", (r, w) => r.registerInstitution(w.fresh.address, "12D3KooWNew", "New Bank")],
      ["registerRegulator", (r, w) => r.registerRegulator(w.fresh.address, "12D3KooWNewRegulator", "Regulator 2")],
      ["setInstitutionStatus", (r, w) => r.setInstitutionStatus(w.inst2.address, Status.Suspended)],
      ["setRegulatorNodeActive", (r, w) => r.setRegulatorNodeActive(w.regulator.address, false)],
      ["rotateKeyFor", (r, w) => r.rotateKeyFor(w.inst2.address, w.newKey.address)],
      ["registerProtocolAccount", (r, w) => r.registerProtocolAccount(w.fresh.address)],
      ["registerSettlementToken", (r, w) => r.registerSettlementToken(w.fresh.address)],
      ["setMaxFeeBps", (r) => r.setMaxFeeBps(500)],
      ["grantRole", (r, w) => r.grantRole(ARBITER_ROLE, w.fresh.address)],
    ];
    for (const [name, call] of adminOnly) {
      it(`refuses ${name} from outsiders, institutions and regulators`, async function () {
        const world = await load();
        for (const caller of [world.outsider, world.inst1, world.regulator]) {
          await expect(call(world.registry.connect(caller), world))
            .to.be.revertedWithCustomError(world.registry, "AccessControlUnauthorizedAccount")
            .withArgs(caller.address, ADMIN_ROLE);
        }
      });
    }
  });

  describe("institution-only functions", function () {
    const institutionOnly: [string, (r: ParticipantRegistry, w: RegistryWorld) => Promise<unknown>][] = [
      ["registerMerchant", (r, w) => r.registerMerchant(w.fresh.address, 1, 0, PAYOUT)],
      ["registerCustomer", (r, w) => r.registerCustomer(w.fresh.address, 1)],
      ["setMerchantFee", (r, w) => r.setMerchantFee(w.merchant.address, 50)],
      ["setMerchantPayoutAccount", (r, w) => r.setMerchantPayoutAccount(w.merchant.address, PAYOUT)],
      ["setKycLevel", (r, w) => r.setKycLevel(w.merchant.address, 3)],
      ["setAccountStatus", (r, w) => r.setAccountStatus(w.merchant.address, Status.Suspended)],
    ];
    for (const [name, call] of institutionOnly) {
      it(`refuses ${name} from outsiders, regulators and suspended institutions`, async function () {
        const world = await load();
        await (await world.registry.setInstitutionStatus(world.inst1.address, Status.Suspended)).wait();
        // inst1 acquired the merchant, so only its suspension stands in the way.
        for (const caller of [world.outsider, world.regulator, world.merchant, world.inst1]) {
          await expect(call(world.registry.connect(caller), world))
            .to.be.revertedWithCustomError(world.registry, "NotActiveInstitution")
            .withArgs(caller.address);
        }
      });
    }
  });

  describe("views", function () {
    it("reports unknown accounts as neither participants nor institutions", async function () {
      const { registry, outsider } = await load();
      expect(await accountOf(registry, outsider.address)).to.deep.equal({
        kind: Kind.None,
        status: Status.None,
        kycLevel: 0,
        feeBps: 0,
        institution: ZeroAddress,
      });
      expect(await registry.isActiveParticipant(outsider.address)).to.equal(false);
      expect(await registry.isActiveInstitution(outsider.address)).to.equal(false);
      expect(await registry.institutionOfSigner(outsider.address)).to.equal(ZeroAddress);
      expect(await registry.signerOf(outsider.address)).to.equal(ZeroAddress);
      expect(await registry.operatorOfPeer("12D3KooWNobody")).to.equal(ZeroAddress);
      expect(await registry.payoutAccountOf(outsider.address)).to.equal(ZeroHash);
    });

    it("exposes the role ids shared with the other contracts", async function () {
      const { registry, arbiter } = await load();
      expect(await registry.REGULATOR_ROLE()).to.equal(REGULATOR_ROLE);
      expect(await registry.ARBITER_ROLE()).to.equal(ARBITER_ROLE);
      expect(await registry.DEFAULT_ADMIN_ROLE()).to.equal(ADMIN_ROLE);
      expect(await registry.hasRole(ARBITER_ROLE, arbiter.address)).to.equal(true);
    });
  });
});
