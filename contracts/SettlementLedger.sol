// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

import {IParticipantRegistry} from "./interfaces/IParticipantRegistry.sol";
import {ISettlementLedger} from "./interfaces/ISettlementLedger.sol";

/// @title SettlementLedger
/// @notice Settlement cycles (清结算): each cycle's payment records are committed as the root of an
/// OpenZeppelin merkle-tree StandardMerkleTree, with record count and totals, and finalized only with
/// EIP-712 attestations from more than two thirds of the active institutions. Anyone can then prove a
/// record's inclusion with a standard proof.
contract SettlementLedger is ISettlementLedger, EIP712 {
    /// @notice EIP-712 type institutions sign to attest a cycle.
    bytes32 public constant CYCLE_TYPEHASH =
        keccak256(
            "Cycle(uint64 cycleId,bytes32 merkleRoot,uint64 recordCount,uint256 grossAmount,uint256 feeAmount,"
            "bytes32 totalsHash)"
        );

    /// @notice The participant registry (source of active institutions).
    IParticipantRegistry public immutable registry;

    mapping(uint64 cycleId => FinalizedCycle) private _cycles;

    /// @param registry_ The participant registry.
    constructor(IParticipantRegistry registry_) EIP712("Settlenet SettlementLedger", "1") {
        registry = registry_;
    }

    /// @notice Finalizes a cycle. Anyone may submit; it takes attestations from more than two thirds of
    /// active institutions, ordered by ascending institution id (so duplicates are cheap to refuse).
    /// @param summary The attested cycle summary.
    /// @param attestations EIP-712 signatures of `summary` by institutions' current keys.
    function finalize(CycleSummary calldata summary, bytes[] calldata attestations) external {
        uint64 cycleId = summary.cycleId;
        if (_cycles[cycleId].merkleRoot != bytes32(0)) revert CycleAlreadyFinalized(cycleId);
        if (summary.merkleRoot == bytes32(0) || summary.recordCount == 0) revert EmptyCycle(cycleId);
        uint256 count = attestations.length;
        bytes32 digest = cycleDigest(summary);
        address[] memory signers = new address[](count);
        for (uint256 i = 0; i < count; ++i) {
            (signers[i], , ) = ECDSA.tryRecoverCalldata(digest, attestations[i]);
        }
        // One registry call for the quorum base and every signer's institution.
        (uint256 active, address[] memory attesters) = registry.attestersOf(signers);
        if (count * 3 <= active * 2) revert QuorumNotReached(cycleId, count, active);
        address previous = address(0);
        for (uint256 i = 0; i < count; ++i) {
            address institution = attesters[i];
            if (signers[i] == address(0) || institution == address(0)) revert InvalidAttestation(cycleId, i, signers[i]);
            if (institution <= previous) revert DuplicateOrUnsortedAttestation(cycleId, i, institution);
            previous = institution;
        }

        _cycles[cycleId] = FinalizedCycle({
            merkleRoot: summary.merkleRoot,
            recordCount: summary.recordCount,
            attestationCount: uint32(count),
            finalizedAt: uint40(block.timestamp)
        });
        emit CycleFinalized(
            cycleId,
            summary.merkleRoot,
            summary.recordCount,
            summary.grossAmount,
            summary.feeAmount,
            summary.totalsHash,
            attesters
        );
    }

    /// @notice The EIP-712 digest institutions sign for `summary`.
    function cycleDigest(CycleSummary calldata summary) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(CYCLE_TYPEHASH, summary)));
    }

    /// @notice The finalized cycle `cycleId` (zero root if not finalized).
    function cycleOf(uint64 cycleId) external view returns (FinalizedCycle memory) {
        return _cycles[cycleId];
    }

    /// @notice True if `cycleId` is finalized.
    function isFinalized(uint64 cycleId) external view returns (bool) {
        return _cycles[cycleId].merkleRoot != bytes32(0);
    }

    /// @notice The StandardMerkleTree leaf hash of `record`: keccak256(keccak256(abi.encode(fields))).
    function leafOf(SettlementRecord calldata record) public pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(record))));
    }

    /// @notice True if `leaf` is in finalized cycle `cycleId` according to `proof`.
    function verifyLeaf(uint64 cycleId, bytes32 leaf, bytes32[] calldata proof) public view returns (bool) {
        bytes32 root = _cycles[cycleId].merkleRoot;
        return root != bytes32(0) && MerkleProof.verifyCalldata(proof, root, leaf);
    }

    /// @notice True if `record` is in its finalized cycle according to `proof`.
    function verifyRecord(SettlementRecord calldata record, bytes32[] calldata proof) external view returns (bool) {
        return verifyLeaf(record.cycleId, leafOf(record), proof);
    }
}
