// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title ReentrantToken
/// @notice Test-only malicious ERC-20: once armed, its next `transfer` or `transferFrom` first calls
/// `target` with stored calldata (e.g. back into the escrow that is moving it), records the outcome
/// in {ReentryAttempted}, and either bubbles a failure or carries on with the transfer.
contract ReentrantToken is ERC20 {
    address private _target;
    bytes private _callData;
    bool private _bubble;
    bool private _armed;

    /// @notice The token called `target` in the middle of a transfer.
    /// @param target The contract called.
    /// @param success Whether the call succeeded.
    /// @param returnData Its return or revert data.
    event ReentryAttempted(address indexed target, bool success, bytes returnData);

    constructor() ERC20("Reentrant", "REE") {}

    /// @notice Mints `amount` to `to`; unrestricted, as this is a test token.
    /// @param to Receiver.
    /// @param amount Amount minted.
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    /// @notice Arms a single reentrant call on the next transfer.
    /// @param target Contract to call back.
    /// @param callData The call's calldata.
    /// @param bubble True to revert the transfer with the call's revert data if it fails.
    function arm(address target, bytes calldata callData, bool bubble) external {
        _target = target;
        _callData = callData;
        _bubble = bubble;
        _armed = true;
    }

    /// @inheritdoc ERC20
    function transfer(address to, uint256 value) public override returns (bool) {
        _reenter();
        return super.transfer(to, value);
    }

    /// @inheritdoc ERC20
    function transferFrom(address from, address to, uint256 value) public override returns (bool) {
        _reenter();
        return super.transferFrom(from, to, value);
    }

    function _reenter() private {
        if (!_armed) return;
        _armed = false;
        // solhint-disable-next-line avoid-low-level-calls
        (bool success, bytes memory returnData) = _target.call(_callData);
        emit ReentryAttempted(_target, success, returnData);
        if (!success && _bubble) {
            assembly ("memory-safe") {
                revert(add(returnData, 0x20), mload(returnData))
            }
        }
    }
}
