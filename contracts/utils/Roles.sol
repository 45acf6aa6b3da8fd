// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title Roles
/// @notice Registry roles, shared by every contract that checks them against {ParticipantRegistry}.
library Roles {
    /// @notice Consortium governance (AccessControl's default admin role).
    bytes32 internal constant ADMIN = 0x00;
    /// @notice Regulators: freeze accounts, pause, read-only nodes.
    bytes32 internal constant REGULATOR = keccak256("REGULATOR_ROLE");
    /// @notice Arbiters: resolve disputes.
    bytes32 internal constant ARBITER = keccak256("ARBITER_ROLE");
}
