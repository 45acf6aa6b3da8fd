/** ParticipantRegistry institutions: admission, suspension and their nodes' peer ids. */
import { expect } from "chai";
import { ZeroAddress } from "ethers";

import { accountOf, Kind, load, nodeOf, nodesOf, Status } from "../helpers/registry.js";

describe("ParticipantRegistry", function () {
  describe("institutions", function () {
    it("lists the fixture's node operators in registration order", async function () {
      const { registry, inst1, inst2, inst3, regulator } = await load();
      expect(await nodesOf(registry)).to.deep.equal([
        { account: inst1.address, signer: inst1.address, peerId: "12D3KooWInstitution0", name: "Bank 1", regulator: false, active: true },
        { account: inst2.address, signer: inst2.address, peerId: "12D3KooWInstitution1", name: "Bank 2", regulator: false, active: true },
        { account: inst3.address, signer: inst3.address, peerId: "12D3KooWInstitution2", name: "Bank 3", regulator: false, active: true },
        { account: regulator.address, signer: regulator.address, peerId: "12D3KooWRegulator", name: "Regulator", regulator: true, active: true },
      ]);
    });

    it("registers an institution with its node, key and account record", async function () {
      const { registry, fresh } = await load();
      await expect(registry.registerInstitution(fresh.address, "12D3KooWNew", "New Bank"))
        .to.emit(registry, "InstitutionRegistered")
        .withArgs(fresh.address, "12D3KooWNew", "New Bank");
      expect(await registry.activeInstitutionCount()).to.equal(4n);
      expect(await accountOf(registry, fresh.address)).to.deep.equal({
        kind: Kind.Institution,
        status: Status.Active,
        kycLevel: 0,
        feeBps: 0,
        institution: fresh.address,
      });
      const nodes = await nodesOf(registry);
      expect(nodes).to.have.length(5);
      expect(nodes[4]).to.deep.equal({
        account: fresh.address,
        signer: fresh.address,
        peerId: "12D3KooWNew",
        name: "New Bank",
        regulator: false,
        active: true,
      });
      expect(await registry.signerOf(fresh.address)).to.equal(fresh.address);
      expect(await registry.institutionOfSigner(fresh.address)).to.equal(fresh.address);
      expect(await registry.isActiveInstitution(fresh.address)).to.equal(true);
      expect(await registry.isActiveParticipant(fresh.address)).to.equal(true);
      expect(await registry.operatorOfPeer("12D3KooWNew")).to.equal(fresh.address);
    });

    it("refuses the zero address, an empty peer id and an empty name", async function () {
      const { registry, fresh } = await load();
      await expect(registry.registerInstitution(ZeroAddress, "12D3KooWNew", "New Bank")).to.be.revertedWithCustomError(
        registry,
        "ZeroAddress",
      );
      await expect(registry.registerInstitution(fresh.address, "", "New Bank"))
        .to.be.revertedWithCustomError(registry, "EmptyField")
        .withArgs("peerId");
      await expect(registry.registerInstitution(fresh.address, "12D3KooWNew", ""))
        .to.be.revertedWithCustomError(registry, "EmptyField")
        .withArgs("name");
    });

    it("refuses an account that is already an institution, regulator, merchant, customer or protocol account", async function () {
      const { registry, inst1, regulator, merchant, payer, escrow } = await load();
      const escrowAddress = await escrow.getAddress();
      for (const [i, account] of [inst1.address, regulator.address, merchant.address, payer.address, escrowAddress].entries()) {
        await expect(registry.registerInstitution(account, `12D3KooWDup${i}`, "Dup"))
          .to.be.revertedWithCustomError(registry, "AccountAlreadyRegistered")
          .withArgs(account);
      }
      expect(await registry.activeInstitutionCount()).to.equal(3n);
    });

    it("refuses an account that is another operator's current signing key", async function () {
      const { registry, inst1, newKey } = await load();
      await (await registry.connect(inst1).rotateKey(newKey.address)).wait();
      await expect(registry.registerInstitution(newKey.address, "12D3KooWNew", "New Bank"))
        .to.be.revertedWithCustomError(registry, "SignerAlreadyInUse")
        .withArgs(newKey.address);
      await expect(registry.registerRegulator(newKey.address, "12D3KooWNew", "Regulator 2"))
        .to.be.revertedWithCustomError(registry, "SignerAlreadyInUse")
        .withArgs(newKey.address);
    });

    it("refuses a peer id bound to another node", async function () {
      const { registry, fresh } = await load();
      await expect(registry.registerInstitution(fresh.address, "12D3KooWRegulator", "New Bank"))
        .to.be.revertedWithCustomError(registry, "PeerIdTaken")
        .withArgs("12D3KooWRegulator");
    });
  });

  describe("institution status", function () {
    it("suspends an institution: out of the quorum, node disconnected, no longer active", async function () {
      const { registry, inst1 } = await load();
      await expect(registry.setInstitutionStatus(inst1.address, Status.Suspended))
        .to.emit(registry, "AccountStatusChanged")
        .withArgs(inst1.address, Kind.Institution, Status.Suspended);
      expect(await registry.activeInstitutionCount()).to.equal(2n);
      expect((await nodeOf(registry, inst1.address)).active).to.equal(false);
      expect((await accountOf(registry, inst1.address)).status).to.equal(Status.Suspended);
      expect(await registry.isActiveInstitution(inst1.address)).to.equal(false);
      expect(await registry.isActiveParticipant(inst1.address)).to.equal(false);
      // Its key still identifies it.
      expect(await registry.institutionOfSigner(inst1.address)).to.equal(inst1.address);
    });

    it("reactivates a suspended institution", async function () {
      const { registry, inst1 } = await load();
      await (await registry.setInstitutionStatus(inst1.address, Status.Suspended)).wait();
      await expect(registry.setInstitutionStatus(inst1.address, Status.Active))
        .to.emit(registry, "AccountStatusChanged")
        .withArgs(inst1.address, Kind.Institution, Status.Active);
      expect(await registry.activeInstitutionCount()).to.equal(3n);
      expect((await nodeOf(registry, inst1.address)).active).to.equal(true);
      expect(await registry.isActiveInstitution(inst1.address)).to.equal(true);
    });

    it("refuses the current status and the None status", async function () {
      const { registry, inst1 } = await load();
      await expect(registry.setInstitutionStatus(inst1.address, Status.Active))
        .to.be.revertedWithCustomError(registry, "InvalidStatus")
        .withArgs(inst1.address, Status.Active);
      await expect(registry.setInstitutionStatus(inst1.address, Status.None))
        .to.be.revertedWithCustomError(registry, "InvalidStatus")
        .withArgs(inst1.address, Status.None);
      await (await registry.setInstitutionStatus(inst1.address, Status.Suspended)).wait();
      await expect(registry.setInstitutionStatus(inst1.address, Status.Suspended))
        .to.be.revertedWithCustomError(registry, "InvalidStatus")
        .withArgs(inst1.address, Status.Suspended);
      expect(await registry.activeInstitutionCount()).to.equal(2n);
    });

    it("refuses accounts that are not institutions", async function () {
      const { registry, merchant, payer, regulator, outsider } = await load();
      const cases: [string, number][] = [
        [merchant.address, Kind.Merchant],
        [payer.address, Kind.Customer],
        [regulator.address, Kind.None],
        [outsider.address, Kind.None],
      ];
      for (const [account, kind] of cases) {
        await expect(registry.setInstitutionStatus(account, Status.Suspended))
          .to.be.revertedWithCustomError(registry, "AccountKindMismatch")
          .withArgs(account, Kind.Institution, kind);
      }
    });
  });

  describe("peer ids", function () {
    it("changes an institution's peer id and frees the old one", async function () {
      const { registry, inst1, inst2 } = await load();
      await expect(registry.connect(inst1).updatePeerId("12D3KooWMoved"))
        .to.emit(registry, "PeerIdUpdated")
        .withArgs(inst1.address, "12D3KooWInstitution0", "12D3KooWMoved");
      expect((await nodeOf(registry, inst1.address)).peerId).to.equal("12D3KooWMoved");
      expect(await registry.operatorOfPeer("12D3KooWMoved")).to.equal(inst1.address);
      expect(await registry.operatorOfPeer("12D3KooWInstitution0")).to.equal(ZeroAddress);
      await expect(registry.connect(inst2).updatePeerId("12D3KooWInstitution0"))
        .to.emit(registry, "PeerIdUpdated")
        .withArgs(inst2.address, "12D3KooWInstitution1", "12D3KooWInstitution0");
      expect(await registry.operatorOfPeer("12D3KooWInstitution0")).to.equal(inst2.address);
    });

    it("attributes a peer id change by a rotated key to the institution id", async function () {
      const { registry, inst1, newKey } = await load();
      await (await registry.connect(inst1).rotateKey(newKey.address)).wait();
      await expect(registry.connect(newKey).updatePeerId("12D3KooWMoved"))
        .to.emit(registry, "PeerIdUpdated")
        .withArgs(inst1.address, "12D3KooWInstitution0", "12D3KooWMoved");
      expect(await registry.operatorOfPeer("12D3KooWMoved")).to.equal(inst1.address);
      await expect(registry.connect(inst1).updatePeerId("12D3KooWOther"))
        .to.be.revertedWithCustomError(registry, "NotActiveInstitution")
        .withArgs(inst1.address);
    });

    it("lets a regulator change its node's peer id", async function () {
      const { registry, regulator } = await load();
      await expect(registry.connect(regulator).updatePeerId("12D3KooWRegMoved"))
        .to.emit(registry, "PeerIdUpdated")
        .withArgs(regulator.address, "12D3KooWRegulator", "12D3KooWRegMoved");
      expect(await registry.operatorOfPeer("12D3KooWRegMoved")).to.equal(regulator.address);
    });

    it("refuses a peer id bound to any node, including the caller's own", async function () {
      const { registry, inst1 } = await load();
      for (const peerId of ["12D3KooWInstitution1", "12D3KooWRegulator", "12D3KooWInstitution0"]) {
        await expect(registry.connect(inst1).updatePeerId(peerId))
          .to.be.revertedWithCustomError(registry, "PeerIdTaken")
          .withArgs(peerId);
      }
    });

    it("refuses an empty peer id", async function () {
      const { registry, inst1 } = await load();
      await expect(registry.connect(inst1).updatePeerId(""))
        .to.be.revertedWithCustomError(registry, "EmptyField")
        .withArgs("peerId");
    });

    it("refuses a peer id change from an account that is not a node operator", async function () {
      const { registry, outsider } = await load();
      await expect(registry.connect(outsider).updatePeerId("12D3KooWMoved"))
        .to.be.revertedWithCustomError(registry, "NotActiveInstitution")
        .withArgs(outsider.address);
    });
  });
});
