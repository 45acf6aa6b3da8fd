// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title CallSequence
/// @notice Test-only: makes several calls in order within one transaction and records whether each succeeded,
/// e.g. two escrow batches with a registry change between them (it is given whatever role the calls need).
contract CallSequence {
    /// @notice Call `index` of a sequence ended with `success`.
    event Called(uint256 indexed index, bool success);

    /// @notice Calls `targets[i]` with `data[i]` in order; a failed call does not stop the others.
    /// @param targets The contracts called.
    /// @param data The calldata of each call.
    function run(address[] calldata targets, bytes[] calldata data) external {
        for (uint256 i = 0; i < targets.length; ++i) {
            // solhint-disable-next-line avoid-low-level-calls
            (bool success, ) = targets[i].call(data[i]);
            emit Called(i, success);
        }
    }
}
