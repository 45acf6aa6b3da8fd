// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title Settlement ledger interface
/// @notice Types, custom errors and events of {SettlementLedger}.
interface ISettlementLedger {
    /// @notice What institutions attest for a settlement cycle (the EIP-712 `Cycle` message).
    struct CycleSummary {
        /// @notice Cycle id (e.g. days since epoch, or a sequence number).
        uint64 cycleId;
        /// @notice Root of the cycle's StandardMerkleTree of {SettlementRecord} leaves.
        bytes32 merkleRoot;
        /// @notice Number of leaves.
        uint64 recordCount;
        /// @notice Sum of gross payment amounts settled in the cycle.
        uint256 grossAmount;
        /// @notice Sum of fees.
        uint256 feeAmount;
        /// @notice Hash of the per-merchant and per-institution totals (also leaves of the tree).
        bytes32 totalsHash;
    }

    /// @notice A finalized cycle as stored.
    struct FinalizedCycle {
        /// @notice The Merkle root.
        bytes32 merkleRoot;
        /// @notice Number of leaves.
        uint64 recordCount;
        /// @notice Number of distinct institutions that attested.
        uint32 attestationCount;
        /// @notice Block timestamp of finalisation.
        uint40 finalizedAt;
    }

    /// @notice One leaf of a cycle's tree, in StandardMerkleTree encoding
    /// `["uint64","bytes32","uint8","address","address","address","uint256","uint256"]`.
    struct SettlementRecord {
        /// @notice The cycle the record belongs to (binds a proof to one cycle).
        uint64 cycleId;
        /// @notice Record id: payment id, bank reference, or a totals key.
        bytes32 recordId;
        /// @notice Record kind (released, refunded, resolved, reclaimed, payout, deposit, totals...).
        uint8 kind;
        /// @notice Primary account (payer, depositor, merchant or institution).
        address account;
        /// @notice Counterparty (merchant, custodian...), or zero.
        address counterparty;
        /// @notice The settlement token.
        address token;
        /// @notice Amount in minor units.
        uint256 amount;
        /// @notice Fee in minor units.
        uint256 fee;
    }

    /// @notice The cycle was already finalized.
    error CycleAlreadyFinalized(uint64 cycleId);
    /// @notice Fewer than more-than-two-thirds of active institutions attested.
    error QuorumNotReached(uint64 cycleId, uint256 attestations, uint256 activeInstitutions);
    /// @notice An attestation does not recover to the current key of an active institution.
    error InvalidAttestation(uint64 cycleId, uint256 index, address signer);
    /// @notice Two attestations come from the same institution (or are not sorted by institution id).
    error DuplicateOrUnsortedAttestation(uint64 cycleId, uint256 index, address institution);
    /// @notice A cycle without records or with a zero root.
    error EmptyCycle(uint64 cycleId);

    /// @notice Cycle `cycleId` was finalized with `merkleRoot`, attested by `attesters` (institution ids).
    event CycleFinalized(
        uint64 indexed cycleId,
        bytes32 merkleRoot,
        uint64 recordCount,
        uint256 grossAmount,
        uint256 feeAmount,
        bytes32 totalsHash,
        address[] attesters
    );
}
