// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {SettlementToken} from "../../contracts/SettlementToken.sol";

import {PermissionHandler} from "./utils/PermissionHandler.sol";
import {TestBase} from "./utils/TestBase.sol";

/// @title TokenPermissionInvariantTest
/// @notice Settlement tokens keep their own copy of the registry's permissions, pushed by the registry. Over
/// random sequences of registrations, suspensions, reactivations, key rotations, freezes, a token admitted
/// late and transfers ({PermissionHandler}), no token's copy is ever stale, the token admitted first holds
/// every permission the registry grants, and every transfer succeeds exactly when the registry permits both
/// sides and neither is frozen.
contract TokenPermissionInvariantTest is TestBase {
    /// @dev The shape EDR decodes `targetSelectors()` into (forge-std's StdInvariant.FuzzSelector).
    struct FuzzSelector {
        address addr;
        bytes4[] selectors;
    }

    PermissionHandler internal handler;

    function setUp() public {
        handler = new PermissionHandler();
    }

    /// @notice The campaign calls only the handler.
    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    /// @notice ...and only its entry points.
    function targetSelectors() public view returns (FuzzSelector[] memory targets) {
        bytes4[] memory selectors = new bytes4[](6);
        selectors[0] = PermissionHandler.register.selector;
        selectors[1] = PermissionHandler.toggleStatus.selector;
        selectors[2] = PermissionHandler.rotate.selector;
        selectors[3] = PermissionHandler.toggleFreeze.selector;
        selectors[4] = PermissionHandler.addLateToken.selector;
        selectors[5] = PermissionHandler.move.selector;
        targets = new FuzzSelector[](1);
        targets[0] = FuzzSelector(address(handler), selectors);
    }

    // ------------------------------------------------------------------ invariants

    /// @notice (1) What a token has recorded for an account is what the registry says now.
    function invariant_noTokenHoldsAStalePermission() public view {
        SettlementToken[] memory tokens = handler.tokens();
        address[] memory accounts = handler.accounts();
        for (uint256 t = 0; t < tokens.length; ++t) {
            for (uint256 i = 0; i < accounts.length; ++i) {
                (bool recorded, bool permitted, bool payer) = tokens[t].permissionOf(accounts[i]);
                if (recorded) {
                    assertTrue(permitted == handler.registry().isPermitted(accounts[i]), "a token's recorded permission is stale");
                    assertTrue(payer == handler.registry().mayPay(accounts[i]), "a token's recorded payer flag is stale");
                }
            }
        }
    }

    /// @notice (2) The token admitted before any account holds every permission the registry grants: each
    /// was pushed, so its transfers never ask the registry.
    function invariant_pushesReachEveryToken() public view {
        SettlementToken first = handler.tokens()[0];
        address[] memory accounts = handler.accounts();
        for (uint256 i = 0; i < accounts.length; ++i) {
            if (!handler.registry().isPermitted(accounts[i])) continue;
            (bool recorded, bool permitted, bool payer) = first.permissionOf(accounts[i]);
            assertTrue(recorded && permitted, "a permitted account was not pushed to the token");
            assertTrue(payer == handler.registry().mayPay(accounts[i]), "an account's payer flag was not pushed to the token");
        }
    }

    /// @notice (3) Every mint and transfer succeeded exactly when both sides were permitted and unfrozen.
    function invariant_transfersFollowTheRegistry() public view {
        assertFalse(handler.modelBroken(), handler.modelBrokenBecause());
    }

    // ------------------------------------------------------------------ the handler itself

    /// @notice A fixed sequence reaches every path the campaign relies on, including a token admitted after
    /// the accounts it then moves between.
    function test_handlerReachesEveryPath() public {
        handler.register(0, 0); // merchant
        handler.register(1, 1); // customer
        handler.register(2, 2); // protocol account
        handler.move(4, 2, 1_000, 0); // mint to the merchant on the first token
        handler.move(2, 3, 500, 0); // merchant → customer
        handler.addLateToken();
        SettlementToken late = handler.tokens()[1];
        (bool recorded, , ) = late.permissionOf(handler.pool(0));
        assertFalse(recorded, "the late token was pushed accounts admitted before it");
        handler.move(4, 2, 1_000, 1); // mint on the late token: the merchant is looked up and recorded
        (bool recordedNow, bool permitted, bool payer) = late.permissionOf(handler.pool(0));
        assertTrue(recordedNow && permitted && payer, "the late token did not record the merchant");
        handler.toggleStatus(1); // suspend the merchant: pushed to both tokens
        handler.move(2, 3, 1, 1); // refused on the late token
        handler.move(2, 3, 1, 0); // and on the first
        handler.toggleStatus(1); // reactivate the merchant
        handler.move(2, 3, 1, 1);
        handler.rotate(0, 0); // institution 0 now signs with key 0
        handler.move(4, 10, 100, 0); // the custodian's new key mints to key 0 itself
        handler.toggleStatus(0); // suspend institution 0: its id and its key lose their permission
        handler.move(10, 3, 1, 0); // key 0 → customer refused
        handler.toggleFreeze(3, 0); // freeze the customer on the first token
        handler.toggleStatus(0); // reactivate institution 0
        handler.move(10, 3, 1, 0); // refused: the customer is frozen
        handler.rotate(0, 1); // key 0 is no institution's key any more
        handler.move(10, 2, 1, 0); // refused: key 0 is no longer permitted

        assertFalse(handler.modelBroken(), handler.modelBrokenBecause());
        assertEq(handler.registrations(), 3, "registrations");
        assertEq(handler.statusChanges(), 4, "status changes");
        assertEq(handler.rotations(), 2, "rotations");
        assertEq(handler.freezes(), 1, "freezes");
        assertEq(handler.movesMade(), 2, "transfers made");
        assertEq(handler.movesRefused(), 5, "transfers refused");
        invariant_noTokenHoldsAStalePermission();
        invariant_pushesReachEveryToken();
    }
}
