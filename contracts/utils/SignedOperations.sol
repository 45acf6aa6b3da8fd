// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";

import {Errors} from "./Errors.sol";
import {UnorderedNonces} from "./UnorderedNonces.sol";

/// @title SignedOperations
/// @notice Checks for operations that anyone may relay with their actor's EIP-712 signature: the deadline,
/// the signer recovered in the inheriting contract's domain, and single use through the signer's unordered
/// nonce. The escrow and the settlement token both verify their relayed operations here, so a signature is
/// accepted or refused by the same rules, with the same errors, on both.
abstract contract SignedOperations is EIP712, UnorderedNonces {
    /// @dev `expected` signer meaning any signer: the caller checks the signer's role itself.
    address internal constant _ANY_SIGNER = address(0);

    /// @dev Verifies a relayed operation whose EIP-712 struct hash is `structHash` and uses its nonce.
    /// `expected` {_ANY_SIGNER} accepts whoever the signature recovers to, as long as it recovers.
    /// @return signer The signer.
    function _consumeSignature(
        bytes32 structHash,
        uint256 nonce,
        uint256 deadline,
        bytes calldata signature,
        address expected
    ) internal returns (address signer) {
        if (block.timestamp > deadline) revert Errors.SignatureExpired(deadline);
        (signer, , ) = ECDSA.tryRecoverCalldata(_hashTypedDataV4(structHash), signature);
        if (expected == _ANY_SIGNER ? signer == address(0) : signer != expected) {
            revert Errors.InvalidSigner(signer, expected);
        }
        _useNonce(signer, nonce);
    }

    /// @dev Requires `signature` over the EIP-712 `digest` to come from `expected`; for messages that are
    /// single-use by themselves (a payment id is paid once) and so carry no nonce or separate deadline.
    function _requireSigner(bytes32 digest, bytes calldata signature, address expected) internal pure {
        (address signer, , ) = ECDSA.tryRecoverCalldata(digest, signature);
        if (signer != expected) revert Errors.InvalidSigner(signer, expected);
    }
}
