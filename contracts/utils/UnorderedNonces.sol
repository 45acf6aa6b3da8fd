// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Errors} from "./Errors.sol";

/// @title UnorderedNonces
/// @notice Replay protection for signed operations that may be executed in any order: each signer has
/// a bitmap of used nonces (256 per storage word), so operations gossiped and relayed concurrently do
/// not have to arrive in sequence, and each can be executed at most once.
abstract contract UnorderedNonces {
    mapping(address signer => mapping(uint256 word => uint256 bitmap)) private _nonceBitmaps;

    /// @notice `signer` cancelled `nonce`, so no operation signed with it can execute.
    event NonceCancelled(address indexed signer, uint256 nonce);

    /// @notice True if `nonce` of `signer` was used or cancelled.
    function isNonceUsed(address signer, uint256 nonce) public view returns (bool) {
        return _nonceBitmaps[signer][nonce >> 8] & (uint256(1) << (nonce & 0xff)) != 0;
    }

    /// @notice Cancels one of the caller's nonces (e.g. to withdraw a signed but unexecuted operation).
    /// @param nonce The nonce to burn.
    function cancelNonce(uint256 nonce) external {
        _useNonce(msg.sender, nonce);
        emit NonceCancelled(msg.sender, nonce);
    }

    function _useNonce(address signer, uint256 nonce) internal {
        uint256 bit = uint256(1) << (nonce & 0xff);
        mapping(uint256 => uint256) storage bitmaps = _nonceBitmaps[signer];
        uint256 word = bitmaps[nonce >> 8];
        if (word & bit != 0) revert Errors.NonceAlreadyUsed(signer, nonce);
        bitmaps[nonce >> 8] = word | bit;
    }
}
