// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IPaymentEscrow} from "../../contracts/interfaces/IPaymentEscrow.sol";

import {EscrowHandler} from "./utils/EscrowHandler.sol";
import {EscrowWorld} from "./utils/EscrowWorld.sol";

/// @title PaymentEscrowInvariantTest
/// @notice Random sequences of escrow operations (pay, markFulfilled, confirm, release, refund held and
/// after release, dispute, resolve, reclaim, pausing, fee changes, deposits and payouts), driven by
/// {EscrowHandler}, must keep the escrow solvent payment by payment, never pay out more than was paid,
/// never move a status backwards, keep the token fully backed, and behave exactly as the handler's model
/// predicts.
/// @dev EDR (like Foundry) reads the campaign's targets from `targetContracts()` and
/// `targetSelectors()`; only the handler's state-changing entry points are fuzzed. Each invariant gets
/// its own campaign (64 runs from the config); the depth is raised to 128 calls so that payments live
/// long enough to be fulfilled, auto-released and refunded after release (about 2.5 s per campaign).
contract PaymentEscrowInvariantTest is EscrowWorld {
    /// @dev The shape EDR decodes `targetSelectors()` into (forge-std's StdInvariant.FuzzSelector).
    struct FuzzSelector {
        address addr;
        bytes4[] selectors;
    }

    uint256 internal constant PAYER_COUNT = 3;
    uint256 internal constant FUNDS = 1e15;

    EscrowHandler internal handler;

    function setUp() public {
        uint16[] memory fees = new uint16[](3);
        fees[0] = 0;
        fees[1] = 250;
        fees[2] = 1_000;
        _deployWorld(1_000, fees, PAYER_COUNT, FUNDS);

        uint256[] memory payerKeys = new uint256[](PAYER_COUNT);
        for (uint256 i = 0; i < PAYER_COUNT; ++i) payerKeys[i] = FIRST_PAYER_KEY + i;
        uint256[] memory merchantKeys = new uint256[](fees.length);
        for (uint256 i = 0; i < fees.length; ++i) merchantKeys[i] = FIRST_MERCHANT_KEY + i;
        handler = new EscrowHandler(
            escrow,
            token,
            feeReceiver,
            INSTITUTION_KEY,
            REGULATOR_KEY,
            ARBITER_KEY,
            payerKeys,
            merchantKeys
        );
        vm.label(address(handler), "handler");
    }

    /// @notice The invariant campaign calls only the handler.
    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    /// @notice ...and only its entry points, not its views.
    function targetSelectors() public view returns (FuzzSelector[] memory targets) {
        bytes4[] memory selectors = new bytes4[](14);
        selectors[0] = EscrowHandler.pay.selector;
        selectors[1] = EscrowHandler.payWithSignature.selector;
        selectors[2] = EscrowHandler.payAgain.selector;
        selectors[3] = EscrowHandler.markFulfilled.selector;
        selectors[4] = EscrowHandler.confirm.selector;
        selectors[5] = EscrowHandler.release.selector;
        selectors[6] = EscrowHandler.refund.selector;
        selectors[7] = EscrowHandler.dispute.selector;
        selectors[8] = EscrowHandler.resolve.selector;
        selectors[9] = EscrowHandler.reclaim.selector;
        selectors[10] = EscrowHandler.advanceTime.selector;
        selectors[11] = EscrowHandler.togglePause.selector;
        selectors[12] = EscrowHandler.setMerchantFee.selector;
        selectors[13] = EscrowHandler.moveTokens.selector;
        targets = new FuzzSelector[](1);
        targets[0] = FuzzSelector(address(handler), selectors);
    }

    // ------------------------------------------------------------------ invariants

    /// @notice (1) The escrow's token balance is exactly what its payments still hold: the sum of
    /// `heldAmountOf` over every payment, and the handler's ghost sum.
    /// hardhat-config: invariant.depth = 128
    function invariant_escrowBalanceEqualsTheAmountsStillHeld() public view {
        uint256 count = handler.paymentCount();
        uint256 held = 0;
        for (uint256 i = 0; i < count; ++i) held += escrow.heldAmountOf(handler.paymentIdAt(i));
        assertEq(token.balanceOf(address(escrow)), held, "escrow balance != sum of heldAmountOf");
        assertEq(held, handler.ghostHeld(), "sum of heldAmountOf != ghost held sum");
    }

    /// @notice (2) No payment pays out more than was paid: what the escrow sent the merchant, the fee
    /// receiver and back to the payer, plus what it still holds, is exactly the amount; the payer never
    /// gets back more than it paid; the recorded refunded total never exceeds the amount.
    /// hardhat-config: invariant.depth = 128
    function invariant_noPaymentPaysOutMoreThanWasPaid() public view {
        uint256 count = handler.paymentCount();
        for (uint256 i = 0; i < count; ++i) {
            bytes32 id = handler.paymentIdAt(i);
            EscrowHandler.Payment memory p = handler.paymentRecord(id);
            uint256 amount = p.terms.amount;
            uint256 paidOut = p.paidToMerchant + p.paidToFeeReceiver + p.returnedByEscrow;
            assertLe(paidOut, amount, "escrow paid out more than the payment's amount");
            assertEq(paidOut + escrow.heldAmountOf(id), amount, "paid out + still held != amount");
            assertLe(p.returnedByEscrow + p.returnedByMerchant, amount, "payer got back more than it paid");
            IPaymentEscrow.PaymentState memory state = escrow.paymentOf(id);
            assertLe(state.refunded, amount, "refunded total exceeds the amount");
            assertEq(state.amount, amount, "stored amount differs from the terms");
        }
    }

    /// @notice (3) Statuses only ever move forwards (checked by the handler after every call).
    /// hardhat-config: invariant.depth = 128
    function invariant_statusesNeverMoveBackwards() public view {
        assertFalse(handler.statusWentBackwards(), "a payment status moved backwards");
        uint256 count = handler.paymentCount();
        for (uint256 i = 0; i < count; ++i) {
            bytes32 id = handler.paymentIdAt(i);
            uint256 status = uint256(escrow.paymentOf(id).status);
            assertLe(uint256(handler.paymentRecord(id).lastSeenStatus), status, "status below the last one seen");
            assertTrue(status != uint256(IPaymentEscrow.PaymentStatus.None), "a paid payment reads as unknown");
        }
    }

    /// @notice (4) The token's supply is exactly the custodian's outstanding issuance, and every token is
    /// held by a known account.
    /// hardhat-config: invariant.depth = 128
    function invariant_supplyEqualsCustodianOutstanding() public view {
        uint256 supply = token.totalSupply();
        assertEq(supply, token.outstandingOf(institution), "totalSupply != custodian outstanding");
        assertLe(supply, token.reservesOf(institution).amount, "supply above attested reserves");
        address[] memory holders = handler.holders();
        uint256 sum = 0;
        for (uint256 i = 0; i < holders.length; ++i) sum += token.balanceOf(holders[i]);
        assertEq(sum, supply, "balances do not add up to totalSupply");
    }

    /// @notice (5) Every call succeeded or reverted exactly as the handler's model predicted, with the
    /// predicted token movements, and every on-chain status equals the model's.
    /// hardhat-config: invariant.depth = 128
    function invariant_escrowBehavesAsModelled() public view {
        assertFalse(handler.modelBroken(), handler.modelBrokenBecause());
    }

    // ------------------------------------------------------------------ the handler itself

    uint256 private constant DIRECT_CALL = 0;
    uint256 private constant RELAYED = 1;
    uint256 private constant WAIT_UNTIL_DUE = 2;
    uint256 private constant POSING_AS_ARBITER = 14;
    uint256 private constant HELD = 3;
    uint256 private constant DIRECT_PAYMENT = 4;
    uint256 private constant EXPIRED = 1;
    uint256 private constant WRONG_FEE = 2;
    uint256 private constant SOME_AMOUNT = 5;
    uint256 private constant ALL_AVAILABLE = 2;

    /// @notice Guards the campaign against a handler whose operations silently never succeed: a fixed
    /// sequence drives every operation through its happy path and through predicted reverts, and the
    /// handler's model must agree with the escrow all along.
    function test_handlerDrivesEveryOperation() public {
        _driveEveryOperation();

        assertFalse(handler.modelBroken(), handler.modelBrokenBecause());
        assertEq(handler.pays(), 6, "pays");
        assertEq(handler.directPays(), 1, "direct pays");
        assertEq(handler.signedPays(), 1, "signed pays");
        assertEq(handler.fulfilments(), 1, "fulfilments");
        assertEq(handler.releases(), 1, "releases");
        assertEq(handler.confirmations(), 1, "confirmations");
        assertEq(handler.heldRefunds(), 1, "refunds while held");
        assertEq(handler.releasedRefunds(), 2, "refunds after release");
        assertEq(handler.disputes(), 1, "disputes");
        assertEq(handler.resolutions(), 1, "resolutions");
        assertEq(handler.reclaims(), 1, "reclaims");
        assertEq(handler.relayedOperations(), 5, "relayed operations, signed pay included");
        // expired pay, early release, refund of a refunded payment, two repeated pays, the payer's
        // resolution, early reclaim, paused pay, stale fee
        assertEq(handler.expectedReverts(), 9, "predicted reverts");
        assertEq(handler.tokenMoves(), 2, "deposits and payouts");
        _assertOutcomes();
    }

    function _driveEveryOperation() private {
        // Payment 0 (payer 0 → merchant 1, 2.5%): an expired order is refused first; then held, partly
        // refunded while held, fulfilled, released once due (not before), refunded after release in
        // part (relayed) and in full; further refunds are refused.
        handler.pay(0, 1, 10_000, _shape(EXPIRED));
        handler.pay(0, 1, 10_000, _shape(HELD));
        handler.refund(_payment(0), _amount(SOME_AMOUNT, 1_000), DIRECT_CALL);
        handler.markFulfilled(_payment(0), DIRECT_CALL);
        handler.release(_payment(0), DIRECT_CALL);
        handler.release(_payment(0), WAIT_UNTIL_DUE);
        handler.refund(_payment(0), _amount(SOME_AMOUNT, 4_000), RELAYED);
        handler.refund(_payment(0), _amount(ALL_AVAILABLE, 0), DIRECT_CALL);
        handler.refund(_payment(0), _amount(SOME_AMOUNT, 1), DIRECT_CALL);
        // Payment 1: direct, paid with the payer's signature; its terms can never be paid again.
        handler.payWithSignature(1, 2, 50_000, _shape(DIRECT_PAYMENT));
        handler.payAgain(_payment(1), true);
        handler.payAgain(_payment(1), false);
        // Payment 2: confirmed by the payer (relayed).
        handler.pay(2, 0, 777, _shape(HELD));
        handler.confirm(_payment(2), RELAYED);
        // Payment 3: disputed; the payer cannot resolve it, the arbiter does (relayed).
        handler.pay(0, 2, 123_456, _shape(HELD));
        handler.dispute(_payment(3), DIRECT_CALL);
        handler.resolve(_payment(3), _amount(SOME_AMOUNT, 23_456), POSING_AS_ARBITER);
        handler.resolve(_payment(3), _amount(SOME_AMOUNT, 23_456), RELAYED);
        // Payment 4: never fulfilled; reclaimed once the fulfilment deadline passed (not before), while
        // the escrow is paused. Pausing refuses only new payments: payment 5 is refused until the
        // regulator lifts the pause.
        handler.pay(1, 0, 999, _shape(HELD));
        handler.togglePause();
        handler.reclaim(_payment(4), DIRECT_CALL);
        handler.reclaim(_payment(4), WAIT_UNTIL_DUE | RELAYED);
        assertTrue(escrow.paused(), "the escrow is paused");
        handler.pay(2, 1, 5_000, _shape(HELD));
        assertFalse(escrow.paused(), "the pause is lifted");
        // Fees, deposits and payouts; a payment carrying the merchant's old fee is refused.
        handler.advanceTime(1 days);
        handler.setMerchantFee(1, 500);
        handler.pay(0, 1, 1_000, _shape(WRONG_FEE));
        handler.moveTokens(0, 1_000, true);
        handler.moveTokens(4, 1_000, false);
    }

    function _assertOutcomes() private view {
        _assertStatus(0, IPaymentEscrow.PaymentStatus.Refunded);
        _assertStatus(1, IPaymentEscrow.PaymentStatus.Released);
        _assertStatus(2, IPaymentEscrow.PaymentStatus.Released);
        _assertStatus(3, IPaymentEscrow.PaymentStatus.Resolved);
        _assertStatus(4, IPaymentEscrow.PaymentStatus.Reclaimed);
        _assertStatus(5, IPaymentEscrow.PaymentStatus.Held);
        // Payment 0 released 9,000 at 2.5%: 8,775 to the merchant and 225 in fees.
        EscrowHandler.Payment memory first = handler.paymentRecord(handler.paymentIdAt(0));
        assertEq(first.paidToMerchant, 8_775, "payment 0: merchant's share");
        assertEq(first.paidToFeeReceiver, 225, "payment 0: fee");
        assertEq(first.returnedByEscrow, 1_000, "payment 0: refunded while held");
        assertEq(first.returnedByMerchant, 9_000, "payment 0: refunded after release");

        invariant_escrowBalanceEqualsTheAmountsStillHeld();
        invariant_noPaymentPaysOutMoreThanWasPaid();
        invariant_statusesNeverMoveBackwards();
        invariant_supplyEqualsCustodianOutstanding();
    }

    /// @dev Terms shape for the handler: the kind in the low byte, then fulfilment 2 days,
    /// auto-release 3 days and a 7-day refund window.
    function _shape(uint256 kind) private pure returns (uint256) {
        return kind | (uint256(2 days) << 8) | (uint256(3 days) << 40) | (uint256(7 days) << 72);
    }

    /// @dev The handler's seed selecting payment `index`.
    function _payment(uint256 index) private pure returns (uint256) {
        return index << 2;
    }

    /// @dev The handler's amount seed: kind in the low byte, value above it.
    function _amount(uint256 kind, uint256 value) private pure returns (uint256) {
        return (value << 8) | kind;
    }

    function _assertStatus(uint256 index, IPaymentEscrow.PaymentStatus expected) private view {
        IPaymentEscrow.PaymentStatus status = escrow.paymentOf(handler.paymentIdAt(index)).status;
        assertEq(uint256(status), uint256(expected), "payment status");
    }
}
