// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title Errors
/// @notice Custom errors raised by more than one Settlenet contract, declared once so that every contract
/// reverts with the same selector and arguments and off-chain decoders need one definition per name.
/// Errors raised by a single contract stay in that contract's interface.
library Errors {
    /// @notice The caller (or the signer of a relayed operation) lacks the registry role this action needs.
    /// @param caller The account that tried to act.
    /// @param role The registry role it would need (for "admin or regulator" actions, the regulator role).
    error Unauthorized(address caller, bytes32 role);

    /// @notice The signer recovered from a signature (or the caller) is not the party the operation needs.
    /// @param signer The recovered signer, the caller, or zero when the signature does not recover to any address.
    /// @param expected The party that must sign; zero where any signer will do and its role is checked next.
    error InvalidSigner(address signer, address expected);

    /// @notice A signed operation executed after its deadline.
    /// @param deadline The last second (block timestamp) at which the signature was valid.
    error SignatureExpired(uint256 deadline);

    /// @notice The signer already used or cancelled this nonce, so the operation it signed cannot execute.
    /// @param signer The signer whose nonce it is.
    /// @param nonce The nonce.
    error NonceAlreadyUsed(address signer, uint256 nonce);

    /// @notice A zero amount where a positive one is required.
    error ZeroAmount();

    /// @notice The zero address where an account or contract is required.
    error ZeroAddress();
}
