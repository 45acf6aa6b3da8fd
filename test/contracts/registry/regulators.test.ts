/** ParticipantRegistry regulators: admission with the regulator role and their read-only nodes. */
import { expect } from "chai";

import { accountOf, Kind, load, nodeOf, REGULATOR_ROLE, Status } from "../helpers/registry.js";

describe("ParticipantRegistry", function () {
  describe("regulators", function () {
    it("registers a regulator with the regulator role and a read-only node", async function () {
      const { registry, fresh } = await load();
      await expect(registry.registerRegulator(fresh.address, "12D3KooWReg2", "Regulator 2"))
        .to.emit(registry, "RegulatorRegistered")
        .withArgs(fresh.address, "12D3KooWReg2", "Regulator 2")
        .and.to.emit(registry, "RoleGranted");
      expect(await registry.hasRole(REGULATOR_ROLE, fresh.address)).to.equal(true);
      expect(await nodeOf(registry, fresh.address)).to.deep.equal({
        account: fresh.address,
        signer: fresh.address,
        peerId: "12D3KooWReg2",
        name: "Regulator 2",
        regulator: true,
        active: true,
      });
      expect(await registry.operatorOfPeer("12D3KooWReg2")).to.equal(fresh.address);
      expect(await registry.signerOf(fresh.address)).to.equal(fresh.address);
      // A regulator is an observer: neither an institution nor a participant, and no quorum member.
      expect(await registry.isActiveInstitution(fresh.address)).to.equal(false);
      expect(await registry.isActiveParticipant(fresh.address)).to.equal(false);
      expect((await accountOf(registry, fresh.address)).kind).to.equal(Kind.None);
      expect(await registry.activeInstitutionCount()).to.equal(3n);
    });

    it("refuses to register a regulator or institution twice as a regulator", async function () {
      const { registry, regulator, inst1 } = await load();
      for (const account of [regulator.address, inst1.address]) {
        await expect(registry.registerRegulator(account, "12D3KooWReg2", "Regulator 2"))
          .to.be.revertedWithCustomError(registry, "AccountAlreadyRegistered")
          .withArgs(account);
      }
    });

    it("suspends and reactivates a regulator's node without touching its role", async function () {
      const { registry, regulator } = await load();
      await expect(registry.setRegulatorNodeActive(regulator.address, false))
        .to.emit(registry, "AccountStatusChanged")
        .withArgs(regulator.address, Kind.None, Status.Suspended);
      expect((await nodeOf(registry, regulator.address)).active).to.equal(false);
      expect(await registry.hasRole(REGULATOR_ROLE, regulator.address)).to.equal(true);
      await expect(registry.setRegulatorNodeActive(regulator.address, true))
        .to.emit(registry, "AccountStatusChanged")
        .withArgs(regulator.address, Kind.None, Status.Active);
      expect((await nodeOf(registry, regulator.address)).active).to.equal(true);
    });

    it("refuses an unchanged regulator node state", async function () {
      const { registry, regulator } = await load();
      await expect(registry.setRegulatorNodeActive(regulator.address, true))
        .to.be.revertedWithCustomError(registry, "InvalidStatus")
        .withArgs(regulator.address, Status.Active);
      await (await registry.setRegulatorNodeActive(regulator.address, false)).wait();
      await expect(registry.setRegulatorNodeActive(regulator.address, false))
        .to.be.revertedWithCustomError(registry, "InvalidStatus")
        .withArgs(regulator.address, Status.Suspended);
    });

    it("refuses to toggle the node of an institution or unknown account as a regulator's", async function () {
      const { registry, inst1, outsider } = await load();
      for (const account of [inst1.address, outsider.address]) {
        await expect(registry.setRegulatorNodeActive(account, false))
          .to.be.revertedWithCustomError(registry, "NotRegulator")
          .withArgs(account);
      }
    });
  });
});
