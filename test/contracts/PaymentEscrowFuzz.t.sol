// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IPaymentEscrow} from "../../contracts/interfaces/IPaymentEscrow.sol";

import {EscrowWorld} from "./utils/EscrowWorld.sol";

/// @title PaymentEscrowFuzzTest
/// @notice Fuzzed properties of single payments: how a release, a resolution and a direct payment
/// split the money between merchant and fee receiver; that no sequence of refunds returns more than
/// was paid; and that the same terms can never be paid twice.
contract PaymentEscrowFuzzTest is EscrowWorld {
    uint256 internal constant BPS = 10_000;
    bytes32 internal constant REASON = keccak256("reason");

    address internal payer;
    address internal merchant;

    function setUp() public {
        uint16[] memory fees = new uint16[](1);
        fees[0] = 100;
        // Fees up to 100% are allowed here so that the split is fuzzed over its whole range.
        _deployWorld(uint16(BPS), fees, 1, 0);
        payer = payers[0];
        merchant = merchants[0];
    }

    // ------------------------------------------------------------------ fee split

    /// @notice Confirming releases what is still held (after an optional partial refund): the merchant
    /// gets it less the fee, the fee is held * feeBps / 10,000, and nothing stays in escrow.
    function testFuzz_confirmSplitsTheHeldAmountIntoMerchantShareAndFee(
        uint256 amount,
        uint256 feeBps,
        uint256 refunded
    ) public {
        amount = bound(amount, 1, type(uint96).max);
        refunded = bound(refunded, 0, amount - 1);
        IPaymentEscrow.PaymentTerms memory terms = _terms(amount, _setFee(feeBps), false, 1);
        bytes32 id = _pay(terms);
        if (refunded != 0) {
            vm.prank(merchant);
            escrow.refund(terms, refunded, REASON);
        }
        uint256 held = amount - refunded;
        assertEq(escrow.heldAmountOf(id), held, "held before release");

        vm.prank(payer);
        escrow.confirm(terms);

        uint256 merchantAmount = token.balanceOf(merchant);
        uint256 fee = token.balanceOf(feeReceiver);
        assertEq(merchantAmount + fee, held, "merchant share + fee != held");
        assertEq(fee, (held * terms.feeBps) / BPS, "fee != held * bps / 10000");
        assertEq(token.balanceOf(payer), refunded, "payer keeps only the refund");
        assertEq(token.balanceOf(address(escrow)), 0, "escrow keeps nothing");
        assertEq(escrow.heldAmountOf(id), 0, "still held after release");
        assertEq(uint256(escrow.paymentOf(id).status), uint256(IPaymentEscrow.PaymentStatus.Released), "status");
    }

    /// @notice A resolution pays the award to the payer and the rest to the merchant less the fee, the
    /// fee being (held - award) * feeBps / 10,000.
    function testFuzz_resolutionSplitsTheRestIntoMerchantShareAndFee(
        uint256 amount,
        uint256 feeBps,
        uint256 award
    ) public {
        amount = bound(amount, 1, type(uint96).max);
        award = bound(award, 0, amount);
        IPaymentEscrow.PaymentTerms memory terms = _terms(amount, _setFee(feeBps), false, 1);
        bytes32 id = _pay(terms);
        vm.prank(payer);
        escrow.dispute(terms, REASON);

        vm.prank(arbiter);
        escrow.resolve(terms, award, REASON);

        uint256 merchantGross = amount - award;
        uint256 fee = token.balanceOf(feeReceiver);
        assertEq(token.balanceOf(payer), award, "payer gets the award");
        assertEq(token.balanceOf(merchant) + fee, merchantGross, "merchant share + fee != held - award");
        assertEq(fee, (merchantGross * terms.feeBps) / BPS, "fee != (held - award) * bps / 10000");
        assertEq(token.balanceOf(address(escrow)), 0, "escrow keeps nothing");
        assertEq(escrow.paymentOf(id).refunded, award, "award recorded as refunded");
        assertEq(uint256(escrow.paymentOf(id).status), uint256(IPaymentEscrow.PaymentStatus.Resolved), "status");
    }

    /// @notice A direct payment is split at once, with the same formula.
    function testFuzz_directPaymentSplitsTheAmountAtOnce(uint256 amount, uint256 feeBps) public {
        amount = bound(amount, 1, type(uint96).max);
        IPaymentEscrow.PaymentTerms memory terms = _terms(amount, _setFee(feeBps), true, 1);
        bytes32 id = _pay(terms);

        uint256 fee = token.balanceOf(feeReceiver);
        assertEq(token.balanceOf(merchant) + fee, amount, "merchant share + fee != amount");
        assertEq(fee, (amount * terms.feeBps) / BPS, "fee != amount * bps / 10000");
        assertEq(token.balanceOf(address(escrow)), 0, "escrow keeps nothing");
        assertEq(uint256(escrow.paymentOf(id).status), uint256(IPaymentEscrow.PaymentStatus.Released), "status");
    }

    // ------------------------------------------------------------------ refunds

    /// @notice Up to six refunds of random sizes, with the payment released at a random point in
    /// between: each succeeds exactly when it fits in what is still refundable, the refunded total
    /// never exceeds the amount, and the payer gets back exactly that total.
    function testFuzz_refundSequenceNeverExceedsTheAmount(
        uint256 amount,
        uint256[6] memory refunds,
        uint256 releaseBefore
    ) public {
        amount = bound(amount, 1, type(uint96).max);
        releaseBefore = bound(releaseBefore, 0, refunds.length);
        IPaymentEscrow.PaymentTerms memory terms = _terms(amount, _feeOf(merchant), false, 1);
        bytes32 id = _pay(terms);
        // After release, refunds come from the merchant's own balance: let it cover a full refund.
        _mint(merchant, amount);
        uint256 total = 0;
        bool released = false;
        for (uint256 i = 0; i < refunds.length; ++i) {
            if (i == releaseBefore && total < amount) {
                vm.prank(payer);
                escrow.confirm(terms);
                released = true;
            }
            uint256 available = amount - total;
            // One refund in four takes exactly what is left; the others any size up to the amount.
            uint256 refund = refunds[i] % 4 == 0 && available != 0 ? available : bound(refunds[i], 1, amount);
            if (available == 0) {
                vm.expectRevert(
                    abi.encodeWithSelector(
                        IPaymentEscrow.InvalidPaymentStatus.selector,
                        id,
                        IPaymentEscrow.PaymentStatus.Refunded
                    )
                );
            } else if (refund > available) {
                vm.expectRevert(
                    abi.encodeWithSelector(IPaymentEscrow.RefundExceedsAvailable.selector, id, refund, available)
                );
            } else {
                total += refund;
            }
            vm.prank(merchant);
            escrow.refund(terms, refund, REASON);

            IPaymentEscrow.PaymentState memory state = escrow.paymentOf(id);
            assertEq(state.refunded, total, "recorded refunded total");
            assertLe(state.refunded, amount, "refunded more than the amount");
            assertEq(token.balanceOf(payer), total, "payer got back exactly the refunded total");
        }
        IPaymentEscrow.PaymentStatus expected = total == amount
            ? IPaymentEscrow.PaymentStatus.Refunded
            : (released ? IPaymentEscrow.PaymentStatus.Released : IPaymentEscrow.PaymentStatus.Held);
        assertEq(uint256(escrow.paymentOf(id).status), uint256(expected), "final status");
        assertEq(token.balanceOf(address(escrow)), released ? 0 : amount - total, "escrow holds the rest");
    }

    // ------------------------------------------------------------------ payment ids

    /// @notice Terms, once paid, can never be paid again, by the payer or through a relayer with the
    /// payer's signature, whether the payment is still held or already settled; terms differing only in
    /// their nonce are a different payment.
    function testFuzz_sameTermsCannotBePaidTwice(
        uint256 amount,
        bytes32 orderId,
        uint256 nonce,
        bool direct,
        bool settleFirst,
        bool secondBySignature
    ) public {
        amount = bound(amount, 1, type(uint96).max / 2);
        IPaymentEscrow.PaymentTerms memory terms = _terms(amount, _feeOf(merchant), direct, nonce);
        terms.orderId = orderId;
        bytes32 id = _pay(terms);
        _mint(payer, amount);
        if (settleFirst) {
            // A full refund: the payment ends (Refunded), from escrow or from the merchant's balance.
            _mint(merchant, amount);
            vm.prank(merchant);
            escrow.refund(terms, amount, REASON);
        }
        uint256 payerBefore = token.balanceOf(payer);
        uint256 escrowBefore = token.balanceOf(address(escrow));
        IPaymentEscrow.PaymentState memory stateBefore = escrow.paymentOf(id);

        bytes memory signature = _signature(payer, id);
        vm.expectRevert(abi.encodeWithSelector(IPaymentEscrow.PaymentAlreadyExists.selector, id));
        if (secondBySignature) {
            escrow.pay(terms, signature);
        } else {
            vm.prank(payer);
            escrow.pay(terms, "");
        }

        assertEq(token.balanceOf(payer), payerBefore, "payer charged twice");
        assertEq(token.balanceOf(address(escrow)), escrowBefore, "escrow balance changed");
        assertEq(keccak256(abi.encode(escrow.paymentOf(id))), keccak256(abi.encode(stateBefore)), "state changed");

        IPaymentEscrow.PaymentTerms memory other = _terms(amount, terms.feeBps, direct, nonce ^ 1);
        other.orderId = orderId;
        bytes32 otherId = _pay(other);
        assertNotEq(otherId, id, "another nonce, same payment id");
        assertEq(escrow.paymentOf(otherId).amount, amount, "the other terms are paid");
    }

    // ------------------------------------------------------------------ helpers

    function _setFee(uint256 feeBps) private returns (uint16 fee) {
        fee = uint16(bound(feeBps, 0, BPS));
        vm.prank(institution);
        registry.setMerchantFee(merchant, fee);
    }

    function _terms(
        uint256 amount,
        uint16 feeBps,
        bool direct,
        uint256 nonce
    ) private view returns (IPaymentEscrow.PaymentTerms memory terms) {
        terms = IPaymentEscrow.PaymentTerms({
            payer: payer,
            merchant: merchant,
            token: address(token),
            amount: amount,
            orderId: keccak256(abi.encode("order", nonce)),
            feeBps: feeBps,
            direct: direct,
            payDeadline: uint64(block.timestamp + 1 hours),
            fulfilmentPeriod: 7 days,
            autoReleasePeriod: 10 days,
            refundPeriod: 30 days,
            nonce: nonce
        });
    }

    /// @dev Mints the amount to the payer and pays `terms` as the payer.
    function _pay(IPaymentEscrow.PaymentTerms memory terms) private returns (bytes32 id) {
        _mint(terms.payer, terms.amount);
        id = escrow.paymentIdOf(terms);
        vm.prank(terms.payer);
        assertEq(escrow.pay(terms, ""), id, "pay returns the payment id");
    }

    function _mint(address to, uint256 amount) private {
        vm.prank(institution);
        token.mint(to, amount, keccak256("deposit"));
    }

    function _signature(address signer, bytes32 digest) private view returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(keyOf[signer], digest);
        return abi.encodePacked(r, s, v);
    }
}
