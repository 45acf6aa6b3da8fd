// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title BlocklistPausableToken
/// @notice Test-only ERC-20 with what issuers of regulated tokens keep for themselves: an issuer may block
/// any account (it can then neither send nor receive) and pause every transfer.
/// @dev Shows that a transfer the token refuses leaves the escrow's records and funds as they were.
contract BlocklistPausableToken is ERC20 {
    /// @notice The token refused a transfer from or to a blocked account.
    error AccountBlocked(address account);
    /// @notice The token refused a transfer while paused.
    error TokenPaused();

    /// @notice Accounts that can neither send nor receive.
    mapping(address account => bool) public blocked;
    /// @notice Whether every transfer is refused.
    bool public paused;

    constructor() ERC20("Blocklist Pausable", "BPT") {}

    /// @notice Mints `amount` to `to`; unrestricted, as this is a test token.
    /// @param to Receiver.
    /// @param amount Amount minted.
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    /// @notice Blocks or unblocks `account`.
    /// @param account The account.
    /// @param isBlocked Whether it is blocked.
    function setBlocked(address account, bool isBlocked) external {
        blocked[account] = isBlocked;
    }

    /// @notice Pauses or resumes every transfer.
    /// @param isPaused Whether transfers are refused.
    function setPaused(bool isPaused) external {
        paused = isPaused;
    }

    function _update(address from, address to, uint256 value) internal override {
        if (paused) revert TokenPaused();
        if (blocked[from]) revert AccountBlocked(from);
        if (blocked[to]) revert AccountBlocked(to);
        super._update(from, to, value);
    }
}
