// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title NoReturnToken
/// @notice Test-only ERC-20 whose transfer, transferFrom and approve return nothing (as some widely used
/// tokens do), so a caller that expects a `bool` return value fails to decode the answer.
/// @dev Shows that the escrow moves such a token through SafeERC20.
contract NoReturnToken {
    /// @notice A transfer beyond the allowance.
    error AllowanceExceeded();
    /// @notice A transfer beyond the balance.
    error BalanceExceeded();

    uint256 public totalSupply;
    mapping(address account => uint256) public balanceOf;
    mapping(address owner => mapping(address spender => uint256)) public allowance;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);

    /// @notice The token's name.
    /// @return The name.
    function name() external pure returns (string memory) {
        return "No Return";
    }

    /// @notice The token's symbol.
    /// @return The symbol.
    function symbol() external pure returns (string memory) {
        return "NRT";
    }

    /// @notice Decimals of an amount.
    /// @return The decimals.
    function decimals() external pure returns (uint8) {
        return 2;
    }

    /// @notice Mints `amount` to `to`; unrestricted, as this is a test token.
    /// @param to Receiver.
    /// @param amount Amount minted.
    function mint(address to, uint256 amount) external {
        totalSupply += amount;
        balanceOf[to] += amount;
        emit Transfer(address(0), to, amount);
    }

    /// @notice Moves `amount` to `to`; reverts on a short balance; returns nothing.
    /// @param to Receiver.
    /// @param amount Amount moved.
    function transfer(address to, uint256 amount) external {
        _move(msg.sender, to, amount);
    }

    /// @notice Moves `amount` from `from` to `to` against the caller's allowance; returns nothing.
    /// @param from Owner.
    /// @param to Receiver.
    /// @param amount Amount moved.
    function transferFrom(address from, address to, uint256 amount) external {
        uint256 allowed = allowance[from][msg.sender];
        if (allowed < amount) revert AllowanceExceeded();
        if (allowed != type(uint256).max) allowance[from][msg.sender] = allowed - amount;
        _move(from, to, amount);
    }

    /// @notice Sets the caller's allowance to `spender`; returns nothing.
    /// @param spender Spender.
    /// @param amount Allowance.
    function approve(address spender, uint256 amount) external {
        allowance[msg.sender][spender] = amount;
        emit Approval(msg.sender, spender, amount);
    }

    function _move(address from, address to, uint256 amount) private {
        if (balanceOf[from] < amount) revert BalanceExceeded();
        balanceOf[from] -= amount;
        balanceOf[to] += amount;
        emit Transfer(from, to, amount);
    }
}
