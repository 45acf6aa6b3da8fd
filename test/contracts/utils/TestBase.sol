// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Vm, VM_ADDRESS} from "./Vm.sol";

/// @title TestBase
/// @notice The cheatcode handle plus the small helpers every Solidity test here needs: input bounding
/// for fuzzing and assertions that report both sides on failure.
abstract contract TestBase {
    // `vm.` is how Solidity tests spell cheatcodes.
    // solhint-disable-next-line const-name-snakecase
    Vm internal constant vm = Vm(VM_ADDRESS);

    /// @dev Maps any fuzzer input `x` into [min, max]; a value already in range is kept as it is.
    function bound(uint256 x, uint256 min, uint256 max) internal pure returns (uint256) {
        if (min > max) revert BoundInvalid(min, max);
        if (x >= min && x <= max) return x;
        // Here max - min < type(uint256).max (otherwise every x is in range), so the modulus cannot overflow.
        return min + (x % (max - min + 1));
    }

    /// @dev `bound` called with an empty range.
    error BoundInvalid(uint256 min, uint256 max);

    function assertEq(uint256 left, uint256 right, string memory what) internal pure {
        vm.assertEq(left, right, what);
    }

    function assertEq(bytes32 left, bytes32 right, string memory what) internal pure {
        vm.assertEq(left, right, what);
    }

    function assertNotEq(bytes32 left, bytes32 right, string memory what) internal pure {
        vm.assertNotEq(left, right, what);
    }

    function assertLe(uint256 left, uint256 right, string memory what) internal pure {
        vm.assertLe(left, right, what);
    }

    function assertTrue(bool condition, string memory what) internal pure {
        vm.assertTrue(condition, what);
    }

    function assertFalse(bool condition, string memory what) internal pure {
        vm.assertFalse(condition, what);
    }
}
