import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { expect } from "chai";
import { TypedDataEncoder, Wallet, id, verifyTypedData } from "ethers";

import { CYCLE_TYPES, DOMAIN_VERSION, LEDGER_DOMAIN_NAME, ledgerDomain } from "../../core/protocol/eip712.js";
import { deployWorld, ethers, networkHelpers, type World } from "./helpers/fixture.js";
import {
  LEAF_ENCODING,
  asInstitutions,
  attest,
  buildCycle,
  byInstitutionId,
  cycleOf,
  deployWorldWithFourInstitutions,
  malleate,
  recordValues,
  signCycle,
  type CycleSummary,
  type RecordValues,
  type SettlementRecord,
} from "./helpers/ledger.js";

const CYCLE_A = 20_300n; // days since epoch
const CYCLE_B = 20_301n;
const AccountStatus = { Active: 1, Suspended: 2 } as const;

/** Finalizes `summary` with attestations of every fixture institution. */
async function finalizeWithAll(world: World, summary: CycleSummary) {
  const { signatures } = await attest(world, summary, await asInstitutions(world.institutions));
  await (await world.ledger.finalize(summary, signatures)).wait();
}

/** Two cycles built and finalized, for the proof tests. */
async function twoFinalizedCycles() {
  const world = await deployWorld();
  const a = await buildCycle(world, CYCLE_A);
  const b = await buildCycle(world, CYCLE_B);
  await finalizeWithAll(world, a.summary);
  await finalizeWithAll(world, b.summary);
  return { world, a, b };
}

describe("SettlementLedger", function () {
  describe("EIP-712 and leaf encoding agree with node/protocol", function () {
    it("has a CYCLE_TYPEHASH equal to the hash of the TypeScript Cycle type", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const encoded = TypedDataEncoder.from(CYCLE_TYPES).encodeType("Cycle");
      expect(encoded).to.equal(
        "Cycle(uint64 cycleId,bytes32 merkleRoot,uint64 recordCount,uint256 grossAmount,uint256 feeAmount,bytes32 totalsHash)",
      );
      expect(await world.ledger.CYCLE_TYPEHASH()).to.equal(id(encoded));
    });

    it("reports the ledger domain the TypeScript ledgerDomain builds", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const domain = await world.ledger.eip712Domain();
      expect(domain.name).to.equal(LEDGER_DOMAIN_NAME);
      expect(domain.version).to.equal(DOMAIN_VERSION);
      expect(domain.chainId).to.equal(world.chainId);
      expect(domain.verifyingContract).to.equal(await world.ledger.getAddress());
    });

    it("computes the cycle digest ethers computes for the summary under ledgerDomain", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { summary } = await buildCycle(world, CYCLE_A);
      const expected = TypedDataEncoder.hash(ledgerDomain(world.chainId, await world.ledger.getAddress()), CYCLE_TYPES, summary);
      expect(await world.ledger.cycleDigest(summary)).to.equal(expected);
      // and every field is bound: changing one changes the digest
      expect(await world.ledger.cycleDigest({ ...summary, feeAmount: summary.feeAmount + 1n })).to.not.equal(expected);
    });

    it("hashes a record to the StandardMerkleTree leaf hash", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { records, tree } = await buildCycle(world, CYCLE_A);
      for (const record of records) {
        expect(await world.ledger.leafOf(record)).to.equal(tree.leafHash(recordValues(record)));
      }
    });
  });

  describe("finalize", function () {
    it("finalizes a cycle attested by all three institutions, submitted by anyone", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { summary } = await buildCycle(world, CYCLE_A);
      const { signatures, institutions } = await attest(world, summary, await asInstitutions(world.institutions));
      await expect(world.as(world.ledger, world.outsider).finalize(summary, signatures))
        .to.emit(world.ledger, "CycleFinalized")
        .withArgs(
          CYCLE_A,
          summary.merkleRoot,
          11n,
          summary.grossAmount,
          summary.feeAmount,
          summary.totalsHash,
          institutions,
        );
      expect(summary.grossAmount).to.equal(1_187_90n);
      expect(summary.feeAmount).to.equal(11_29n);
      expect(institutions).to.have.members(await Promise.all(world.institutions.map((s) => s.getAddress())));
    });

    it("stores the finalized cycle with its root, record count, attestation count and time", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { summary } = await buildCycle(world, CYCLE_A);
      expect(await world.ledger.isFinalized(CYCLE_A)).to.equal(false);
      await finalizeWithAll(world, summary);
      const finalizedAt = await networkHelpers.time.latest();
      const stored = await world.ledger.cycleOf(CYCLE_A);
      expect(stored.merkleRoot).to.equal(summary.merkleRoot);
      expect(stored.recordCount).to.equal(11n);
      expect(stored.attestationCount).to.equal(3n);
      expect(stored.finalizedAt).to.equal(BigInt(finalizedAt));
      expect(await world.ledger.isFinalized(CYCLE_A)).to.equal(true);
      expect(await world.ledger.isFinalized(CYCLE_B)).to.equal(false);
      const untouched = await world.ledger.cycleOf(CYCLE_B);
      expect([untouched.merkleRoot, untouched.recordCount, untouched.attestationCount, untouched.finalizedAt]).to.deep.equal([
        ethers.ZeroHash, 0n, 0n, 0n,
      ]);
    });

    it("refuses to finalize a cycle twice, even with a fresh quorum for another root", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { summary } = await buildCycle(world, CYCLE_A);
      const { signatures } = await attest(world, summary, await asInstitutions(world.institutions));
      await (await world.ledger.finalize(summary, signatures)).wait();
      await expect(world.ledger.finalize(summary, signatures))
        .to.be.revertedWithCustomError(world.ledger, "CycleAlreadyFinalized")
        .withArgs(CYCLE_A);
      const rewritten = { ...summary, merkleRoot: id("another root"), grossAmount: summary.grossAmount * 2n };
      const second = await attest(world, rewritten, await asInstitutions(world.institutions));
      await expect(world.ledger.finalize(rewritten, second.signatures))
        .to.be.revertedWithCustomError(world.ledger, "CycleAlreadyFinalized")
        .withArgs(CYCLE_A);
      expect((await world.ledger.cycleOf(CYCLE_A)).merkleRoot).to.equal(summary.merkleRoot);
    });

    it("refuses a cycle with a zero Merkle root", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const summary = { ...(await buildCycle(world, CYCLE_A)).summary, merkleRoot: ethers.ZeroHash };
      const { signatures } = await attest(world, summary, await asInstitutions(world.institutions));
      await expect(world.ledger.finalize(summary, signatures))
        .to.be.revertedWithCustomError(world.ledger, "EmptyCycle")
        .withArgs(CYCLE_A);
      expect(await world.ledger.isFinalized(CYCLE_A)).to.equal(false);
    });

    it("refuses a cycle without records", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const summary = { ...(await buildCycle(world, CYCLE_A)).summary, recordCount: 0n };
      const { signatures } = await attest(world, summary, await asInstitutions(world.institutions));
      await expect(world.ledger.finalize(summary, signatures))
        .to.be.revertedWithCustomError(world.ledger, "EmptyCycle")
        .withArgs(CYCLE_A);
    });

    it("refuses two attestations of three active institutions", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { summary } = await buildCycle(world, CYCLE_A);
      const { signatures } = await attest(world, summary, await asInstitutions([world.inst1, world.inst2]));
      await expect(world.ledger.finalize(summary, signatures))
        .to.be.revertedWithCustomError(world.ledger, "QuorumNotReached")
        .withArgs(CYCLE_A, 2n, 3n);
    });

    it("refuses a cycle without attestations", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { summary } = await buildCycle(world, CYCLE_A);
      await expect(world.ledger.finalize(summary, []))
        .to.be.revertedWithCustomError(world.ledger, "QuorumNotReached")
        .withArgs(CYCLE_A, 0n, 3n);
    });

    it("counts the quorum against active institutions: two suffice once the third is suspended", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      await (await world.registry.setInstitutionStatus(await world.inst3.getAddress(), AccountStatus.Suspended)).wait();
      const { summary } = await buildCycle(world, CYCLE_A);
      const { signatures, institutions } = await attest(world, summary, await asInstitutions([world.inst1, world.inst2]));
      await expect(world.ledger.finalize(summary, signatures))
        .to.emit(world.ledger, "CycleFinalized")
        .withArgs(CYCLE_A, summary.merkleRoot, 11n, summary.grossAmount, summary.feeAmount, summary.totalsHash, institutions);
      expect((await world.ledger.cycleOf(CYCLE_A)).attestationCount).to.equal(2n);
    });
  });

  describe("attestation checks", function () {
    it("refuses an attestation forged by an outsider in an institution's place", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { summary } = await buildCycle(world, CYCLE_A);
      const [first, second] = await asInstitutions([world.inst1, world.inst2]);
      const forged = { institution: await world.inst3.getAddress(), signer: world.outsider };
      const attesters = byInstitutionId([first!, second!, forged]);
      const { signatures } = await attest(world, summary, attesters);
      await expect(world.ledger.finalize(summary, signatures))
        .to.be.revertedWithCustomError(world.ledger, "InvalidAttestation")
        .withArgs(CYCLE_A, attesters.indexOf(forged), await world.outsider.getAddress());
    });

    it("refuses attestations by registered participants that are not institutions", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { summary } = await buildCycle(world, CYCLE_A);
      const institutions = await asInstitutions([world.inst1, world.inst2]);
      // a regulator is a registered node operator with a signing key, a merchant a registered participant
      for (const intruder of [world.regulator, world.merchant]) {
        const signatures = [...(await attest(world, summary, institutions)).signatures, await signCycle(world, intruder, summary)];
        await expect(world.ledger.finalize(summary, signatures))
          .to.be.revertedWithCustomError(world.ledger, "InvalidAttestation")
          .withArgs(CYCLE_A, 2n, await intruder.getAddress());
      }
    });

    it("refuses the attestation of a suspended institution", async function () {
      const world = await networkHelpers.loadFixture(deployWorldWithFourInstitutions);
      const suspended = await world.inst4.getAddress();
      await (await world.registry.setInstitutionStatus(suspended, AccountStatus.Suspended)).wait();
      const { summary } = await buildCycle(world, CYCLE_A);
      const { signatures, institutions } = await attest(world, summary, await asInstitutions(world.institutions));
      await expect(world.ledger.finalize(summary, signatures))
        .to.be.revertedWithCustomError(world.ledger, "InvalidAttestation")
        .withArgs(CYCLE_A, institutions.indexOf(suspended), suspended);
    });

    it("refuses an attestation of a different root than the submitted one", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { summary } = await buildCycle(world, CYCLE_A);
      const attesters = byInstitutionId(await asInstitutions(world.institutions));
      const dissenter = attesters[1]!;
      const otherRoot = { ...summary, merkleRoot: id("a different record set") };
      const signatures = await Promise.all(
        attesters.map((a) => signCycle(world, a.signer, a === dissenter ? otherRoot : summary)),
      );
      const domain = ledgerDomain(world.chainId, await world.ledger.getAddress());
      const recovered = verifyTypedData(domain, CYCLE_TYPES, summary, signatures[1]!);
      expect(recovered).to.not.equal(dissenter.institution);
      await expect(world.ledger.finalize(summary, signatures))
        .to.be.revertedWithCustomError(world.ledger, "InvalidAttestation")
        .withArgs(CYCLE_A, 1n, recovered);
    });

    it("refuses an attestation signed for another chain", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { summary } = await buildCycle(world, CYCLE_A);
      const attesters = byInstitutionId(await asInstitutions(world.institutions));
      const signatures = await Promise.all(
        attesters.map((a, i) => signCycle(world, a.signer, summary, i === 0 ? { chainId: world.chainId + 1n } : {})),
      );
      const domain = ledgerDomain(world.chainId, await world.ledger.getAddress());
      await expect(world.ledger.finalize(summary, signatures))
        .to.be.revertedWithCustomError(world.ledger, "InvalidAttestation")
        .withArgs(CYCLE_A, 0n, verifyTypedData(domain, CYCLE_TYPES, summary, signatures[0]!));
    });

    it("refuses a malformed signature and the malleable twin of a valid one as signed by nobody", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { summary } = await buildCycle(world, CYCLE_A);
      const { signatures } = await attest(world, summary, await asInstitutions(world.institutions));
      for (const bad of ["0x1234", malleate(signatures[2]!)]) {
        await expect(world.ledger.finalize(summary, [signatures[0]!, signatures[1]!, bad]))
          .to.be.revertedWithCustomError(world.ledger, "InvalidAttestation")
          .withArgs(CYCLE_A, 2n, ethers.ZeroAddress);
      }
    });

    it("refuses the same institution attesting twice", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { summary } = await buildCycle(world, CYCLE_A);
      const { signatures, institutions } = await attest(world, summary, await asInstitutions(world.institutions));
      await expect(world.ledger.finalize(summary, [signatures[0]!, signatures[0]!, signatures[1]!]))
        .to.be.revertedWithCustomError(world.ledger, "DuplicateOrUnsortedAttestation")
        .withArgs(CYCLE_A, 1n, institutions[0]);
    });

    it("refuses attestations not sorted by ascending institution id", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { summary } = await buildCycle(world, CYCLE_A);
      const { signatures, institutions } = await attest(world, summary, await asInstitutions(world.institutions));
      await expect(world.ledger.finalize(summary, [...signatures].reverse()))
        .to.be.revertedWithCustomError(world.ledger, "DuplicateOrUnsortedAttestation")
        .withArgs(CYCLE_A, 1n, institutions[1]);
      await expect(world.ledger.finalize(summary, [signatures[0]!, signatures[2]!, signatures[1]!]))
        .to.be.revertedWithCustomError(world.ledger, "DuplicateOrUnsortedAttestation")
        .withArgs(CYCLE_A, 2n, institutions[1]);
    });
  });

  describe("with four active institutions", function () {
    it("finalizes with three of four attestations", async function () {
      const world = await networkHelpers.loadFixture(deployWorldWithFourInstitutions);
      expect(await world.registry.activeInstitutionCount()).to.equal(4n);
      const { summary } = await buildCycle(world, CYCLE_A);
      const { signatures, institutions } = await attest(
        world,
        summary,
        await asInstitutions([world.inst2, world.inst3, world.inst4]),
      );
      await expect(world.ledger.finalize(summary, signatures))
        .to.emit(world.ledger, "CycleFinalized")
        .withArgs(CYCLE_A, summary.merkleRoot, 11n, summary.grossAmount, summary.feeAmount, summary.totalsHash, institutions);
      expect(institutions).to.not.include(await world.inst1.getAddress());
      expect((await world.ledger.cycleOf(CYCLE_A)).attestationCount).to.equal(3n);
    });

    it("refuses two of four attestations", async function () {
      const world = await networkHelpers.loadFixture(deployWorldWithFourInstitutions);
      const { summary } = await buildCycle(world, CYCLE_A);
      const { signatures } = await attest(world, summary, await asInstitutions([world.inst1, world.inst4]));
      await expect(world.ledger.finalize(summary, signatures))
        .to.be.revertedWithCustomError(world.ledger, "QuorumNotReached")
        .withArgs(CYCLE_A, 2n, 4n);
    });
  });

  describe("key rotation", function () {
    it("counts a rotated key's attestation for its institution id", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const institution = await world.inst1.getAddress();
      const newKey = Wallet.createRandom();
      await (await world.as(world.registry, world.inst1).rotateKey(newKey.address)).wait();
      const { summary } = await buildCycle(world, CYCLE_A);
      const attesters = await asInstitutions([world.inst2, world.inst3]);
      const { signatures, institutions } = await attest(world, summary, [...attesters, { institution, signer: newKey }]);
      expect(institutions).to.include(institution).and.not.include(newKey.address);
      await expect(world.ledger.finalize(summary, signatures))
        .to.emit(world.ledger, "CycleFinalized")
        .withArgs(CYCLE_A, summary.merkleRoot, 11n, summary.grossAmount, summary.feeAmount, summary.totalsHash, institutions);
    });

    it("no longer counts the institution's previous key", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const institution = await world.inst1.getAddress();
      await (await world.as(world.registry, world.inst1).rotateKey(Wallet.createRandom().address)).wait();
      const { summary } = await buildCycle(world, CYCLE_A);
      const { signatures, institutions } = await attest(world, summary, await asInstitutions(world.institutions));
      await expect(world.ledger.finalize(summary, signatures))
        .to.be.revertedWithCustomError(world.ledger, "InvalidAttestation")
        .withArgs(CYCLE_A, institutions.indexOf(institution), institution);
    });
  });

  describe("record proofs", function () {
    it("verifies every record of a finalized cycle with its standard proof", async function () {
      const { world, a } = await networkHelpers.loadFixture(twoFinalizedCycles);
      for (const [i, record] of a.records.entries()) {
        const proof = a.tree.getProof(i);
        expect(StandardMerkleTree.verify(a.summary.merkleRoot, LEAF_ENCODING, recordValues(record), proof)).to.equal(true);
        expect(await world.ledger.verifyRecord(record, proof)).to.equal(true);
        expect(await world.ledger.verifyLeaf(CYCLE_A, a.tree.leafHash(recordValues(record)), proof)).to.equal(true);
      }
    });

    it("rejects a record whose amount was raised by one", async function () {
      const { world, a } = await networkHelpers.loadFixture(twoFinalizedCycles);
      const record = a.records[0]!;
      const proof = a.tree.getProof(0);
      const tampered = { ...record, amount: record.amount + 1n };
      expect(StandardMerkleTree.verify(a.summary.merkleRoot, LEAF_ENCODING, recordValues(tampered), proof)).to.equal(false);
      expect(await world.ledger.verifyRecord(tampered, proof)).to.equal(false);
      expect(await world.ledger.verifyLeaf(CYCLE_A, await world.ledger.leafOf(tampered), proof)).to.equal(false);
    });

    it("rejects a record with any other field altered", async function () {
      const { world, a } = await networkHelpers.loadFixture(twoFinalizedCycles);
      const record = a.records[2]!;
      const proof = a.tree.getProof(2);
      const alterations: Partial<SettlementRecord>[] = [
        { recordId: id("another payment") },
        { kind: record.kind + 1 },
        { account: await world.payer2.getAddress() },
        { counterparty: await world.merchant2.getAddress() },
        { token: await world.escrow.getAddress() },
        { fee: record.fee - 1n },
      ];
      for (const alteration of alterations) {
        const altered = { ...record, ...alteration };
        expect(StandardMerkleTree.verify(a.summary.merkleRoot, LEAF_ENCODING, recordValues(altered), proof)).to.equal(false);
        expect(await world.ledger.verifyRecord(altered, proof)).to.equal(false);
      }
    });

    it("rejects a proof of one cycle against another finalized cycle", async function () {
      const { world, a, b } = await networkHelpers.loadFixture(twoFinalizedCycles);
      const record = a.records[1]!;
      const proof = a.tree.getProof(1);
      const leaf = a.tree.leafHash(recordValues(record));
      expect(await world.ledger.verifyLeaf(CYCLE_A, leaf, proof)).to.equal(true);
      expect(await world.ledger.verifyLeaf(CYCLE_B, leaf, proof)).to.equal(false);
      expect(StandardMerkleTree.verify(b.summary.merkleRoot, LEAF_ENCODING, recordValues(record), proof)).to.equal(false);
      // relabelling the record as cycle B changes its leaf: neither B's root nor A's proof accepts it
      expect(await world.ledger.verifyRecord({ ...record, cycleId: CYCLE_B }, proof)).to.equal(false);
      expect(await world.ledger.verifyRecord({ ...record, cycleId: CYCLE_B }, b.tree.getProof(1))).to.equal(false);
    });

    it("rejects a record with another record's proof", async function () {
      const { world, a } = await networkHelpers.loadFixture(twoFinalizedCycles);
      expect(await world.ledger.verifyRecord(a.records[0]!, a.tree.getProof(1))).to.equal(false);
      expect(await world.ledger.verifyRecord(a.records[0]!, [])).to.equal(false);
    });

    it("verifies nothing before the cycle is finalized", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { records, tree, summary } = await buildCycle(world, CYCLE_A);
      const proof = tree.getProof(3);
      const record = records[3]!;
      expect(StandardMerkleTree.verify(summary.merkleRoot, LEAF_ENCODING, recordValues(record), proof)).to.equal(true);
      expect(await world.ledger.verifyRecord(record, proof)).to.equal(false);
      expect(await world.ledger.verifyLeaf(CYCLE_A, tree.leafHash(recordValues(record)), proof)).to.equal(false);
      await finalizeWithAll(world, summary);
      expect(await world.ledger.verifyRecord(record, proof)).to.equal(true);
    });

    it("verifies the only record of a single-record cycle with an empty proof", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { records } = await buildCycle(world, CYCLE_A);
      const single = cycleOf(CYCLE_A, [records[5]!]);
      expect(single.summary.merkleRoot).to.equal(single.tree.leafHash(single.values[0] as RecordValues));
      await finalizeWithAll(world, single.summary);
      expect(single.tree.getProof(0)).to.deep.equal([]);
      expect(await world.ledger.verifyRecord(records[5]!, [])).to.equal(true);
    });
  });
});
