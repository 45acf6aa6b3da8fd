import { expect } from "chai";
import { encodeBytes32String, id, ZeroAddress, ZeroHash } from "ethers";

import type { ParticipantRegistry } from "../../../types/ethers-contracts/index.js";
import { deployWorld, ethers, MAX_FEE_BPS, MERCHANT_FEE_BPS, networkHelpers, type World } from "../helpers/fixture.js";

/** IParticipantRegistry.AccountKind */
const Kind = { None: 0, Institution: 1, Merchant: 2, Customer: 3, Protocol: 4 } as const;
/** IParticipantRegistry.AccountStatus */
const Status = { None: 0, Active: 1, Suspended: 2 } as const;

const ADMIN_ROLE = ZeroHash;
const REGULATOR_ROLE = id("REGULATOR_ROLE");
const ARBITER_ROLE = id("ARBITER_ROLE");
const PAYOUT = encodeBytes32String("acct-new");

type Signer = World["outsider"];

/** The world plus funded accounts the fixture leaves unregistered (new institutions, keys, merchants). */
async function deployRegistryWorld() {
  const world = await deployWorld();
  const spare = (await ethers.getSigners()).slice(13);
  const at = (i: number): Signer => {
    const signer = spare[i];
    if (!signer) throw new Error(`test network has no spare account #${i}`);
    return signer;
  };
  return { ...world, fresh: at(0), fresh2: at(1), newKey: at(2), newKey2: at(3) };
}

async function load() {
  return networkHelpers.loadFixture(deployRegistryWorld);
}

/** `accountOf` as plain numbers, for deep comparison. */
async function accountOf(registry: ParticipantRegistry, account: string) {
  const r = await registry.accountOf(account);
  return {
    kind: Number(r.kind),
    status: Number(r.status),
    kycLevel: Number(r.kycLevel),
    feeBps: Number(r.feeBps),
    institution: r.institution,
  };
}

/** `nodes()` as plain objects, for deep comparison. */
async function nodesOf(registry: ParticipantRegistry) {
  return (await registry.nodes()).map((n) => ({
    account: n.account,
    signer: n.signer,
    peerId: n.peerId,
    name: n.name,
    regulator: n.regulator,
    active: n.active,
  }));
}

async function nodeOf(registry: ParticipantRegistry, operator: string) {
  const node = (await nodesOf(registry)).find((n) => n.account === operator);
  if (!node) throw new Error(`no node record for ${operator}`);
  return node;
}

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
    type World2 = Awaited<ReturnType<typeof deployRegistryWorld>>;
    const adminOnly: [string, (r: ParticipantRegistry, w: World2) => Promise<unknown>][] = [
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
    type World2 = Awaited<ReturnType<typeof deployRegistryWorld>>;
    const institutionOnly: [string, (r: ParticipantRegistry, w: World2) => Promise<unknown>][] = [
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
