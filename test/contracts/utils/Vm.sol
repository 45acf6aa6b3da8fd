// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title Vm
/// @notice The subset of the Hardhat / Foundry cheatcodes these tests use (forge-std is not a
/// dependency). Signatures follow the standard cheatcode interface, so EDR dispatches them by selector.
// The standard cheatcode interface name.
// solhint-disable-next-line interface-starts-with-i
interface Vm {
    /// @notice Sets msg.sender for the next call.
    function prank(address msgSender) external;

    /// @notice Sets msg.sender for every call until {stopPrank}.
    function startPrank(address msgSender) external;

    /// @notice Ends a {startPrank}.
    function stopPrank() external;

    /// @notice Sets block.timestamp.
    function warp(uint256 newTimestamp) external;

    /// @notice The next call must revert with exactly `revertData`.
    function expectRevert(bytes calldata revertData) external;

    /// @notice The address of `privateKey`.
    function addr(uint256 privateKey) external pure returns (address keyAddr);

    /// @notice Signs `digest` with `privateKey` (secp256k1).
    function sign(uint256 privateKey, bytes32 digest) external pure returns (uint8 v, bytes32 r, bytes32 s);

    /// @notice Names `account` in traces.
    function label(address account, string calldata newLabel) external;

    /// @notice Fails unless `left == right`.
    function assertEq(uint256 left, uint256 right, string calldata error) external pure;

    /// @notice Fails unless `left == right`.
    function assertEq(bytes32 left, bytes32 right, string calldata error) external pure;

    /// @notice Fails unless `left <= right`.
    function assertLe(uint256 left, uint256 right, string calldata error) external pure;

    /// @notice Fails unless `left != right`.
    function assertNotEq(bytes32 left, bytes32 right, string calldata error) external pure;

    /// @notice Fails unless `condition`.
    function assertTrue(bool condition, string calldata error) external pure;

    /// @notice Fails if `condition`.
    function assertFalse(bool condition, string calldata error) external pure;

    /// @notice Renders `value` as a decimal string.
    function toString(uint256 value) external pure returns (string memory);

    /// @notice Renders `value` as a decimal string.
    function toString(int256 value) external pure returns (string memory);

    /// @notice Renders `value` as a hex string.
    function toString(bytes32 value) external pure returns (string memory);

    /// @notice Renders `value` as a hex string.
    function toString(bytes calldata value) external pure returns (string memory);
}

/// @dev The cheatcode contract's well-known address.
address constant VM_ADDRESS = address(uint160(uint256(keccak256("hevm cheat code"))));
