// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";

import {ParticipantRegistry} from "../../../contracts/ParticipantRegistry.sol";
import {PaymentEscrow} from "../../../contracts/PaymentEscrow.sol";
import {SettlementToken} from "../../../contracts/SettlementToken.sol";
import {IPaymentEscrow} from "../../../contracts/interfaces/IPaymentEscrow.sol";
import {Errors} from "../../../contracts/utils/Errors.sol";

import {TestBase} from "./TestBase.sol";

/// @title EscrowHandler
/// @notice The invariant campaign's only target. Each entry point performs one escrow (or token)
/// operation with bounded inputs, as its real actor (pranked) or relayed with the actor's EIP-712
/// signature. Before each call it predicts the outcome from its own model of every payment: success
/// with exact balance changes, or the exact custom error. Any disagreement sets {modelBroken}; every
/// successful call's measured token movements are booked per payment (ghost accounting), and every
/// payment's on-chain status is compared with the last one seen after every call.
contract EscrowHandler is TestBase {
    /// @notice What the handler knows about one payment it created.
    struct Payment {
        /// @notice The terms paid under.
        IPaymentEscrow.PaymentTerms terms;
        /// @notice The model's status.
        IPaymentEscrow.PaymentStatus status;
        /// @notice The model's refunded total (including a resolution's award to the payer).
        uint256 refunded;
        /// @notice The model's deadline (fulfilment, auto-release or end of the refund window).
        uint256 deadline;
        /// @notice Measured: tokens the escrow paid the merchant for this payment.
        uint256 paidToMerchant;
        /// @notice Measured: fees the escrow paid the fee receiver for this payment.
        uint256 paidToFeeReceiver;
        /// @notice Measured: tokens the escrow paid back to the payer (held refunds, award, reclaim).
        uint256 returnedByEscrow;
        /// @notice Measured: refunds the merchant paid the payer from its own balance after release.
        uint256 returnedByMerchant;
        /// @notice The on-chain status seen after the previous handler call.
        IPaymentEscrow.PaymentStatus lastSeenStatus;
    }

    /// @notice One attempted operation and its predicted outcome.
    struct Action {
        IPaymentEscrow.OperationKind kind;
        /// @notice Caller (direct) or signer (relayed); zero: anyone (release).
        address actor;
        /// @notice 0: the actor calls; 1: relayed through `execute`; 2 (pay only): relayed through `pay`.
        uint8 route;
        /// @notice Refund amount or resolution award to the payer.
        uint256 amount;
        /// @notice The exact revert data expected; empty: the call must succeed.
        bytes expectedError;
    }

    /// @notice Signed token movements of one call, per party.
    struct Deltas {
        int256 escrow;
        int256 payer;
        int256 merchant;
        int256 feeReceiver;
    }

    uint256 private constant ANY_STATUS = type(uint256).max;
    uint256 private constant HELD_OR_FULFILLED =
        (1 << uint256(IPaymentEscrow.PaymentStatus.Held)) | (1 << uint256(IPaymentEscrow.PaymentStatus.Fulfilled));
    uint256 private constant REFUNDABLE =
        HELD_OR_FULFILLED |
            (1 << uint256(IPaymentEscrow.PaymentStatus.Disputed)) |
            (1 << uint256(IPaymentEscrow.PaymentStatus.Released));
    uint256 private constant MAX_AMOUNT = 1e12;
    uint256 private constant MAX_TOKEN_MOVE = 1e12;
    uint256 private constant BPS = 10_000;
    bytes32 private constant REASON = keccak256("fuzzed reason");
    bytes32 private constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");

    PaymentEscrow internal immutable escrow;
    SettlementToken internal immutable token;
    ParticipantRegistry internal immutable registry;
    address internal immutable feeReceiver;
    address internal immutable institution;
    address internal immutable regulator;
    address internal immutable arbiter;
    bytes32 internal immutable domainSeparator;

    address[] internal payers;
    address[] internal merchants;
    mapping(address account => uint256 privateKey) internal keyOf;

    bytes32[] internal ids;
    mapping(bytes32 paymentId => Payment) internal payments;

    /// @notice Sum over payments of what the model says is still held.
    uint256 public ghostHeld;
    /// @notice Set when some payment's on-chain status went down between two handler calls.
    bool public statusWentBackwards;
    /// @notice Set when the escrow's behaviour differed from the model's prediction.
    bool public modelBroken;
    /// @notice The first disagreement, for the failure message.
    string public modelBrokenBecause;

    uint256 public currentTime;
    uint256 private _termsNonce;
    uint256 private _actionNonce;
    bytes32 private _currentId;
    uint256[4] private _balancesBefore;

    // Successful calls per operation, and calls that reverted exactly as predicted.
    uint256 public pays;
    uint256 public directPays;
    uint256 public signedPays;
    uint256 public fulfilments;
    uint256 public confirmations;
    uint256 public releases;
    uint256 public heldRefunds;
    uint256 public releasedRefunds;
    uint256 public disputes;
    uint256 public resolutions;
    uint256 public reclaims;
    uint256 public relayedOperations;
    uint256 public expectedReverts;
    uint256 public tokenMoves;

    constructor(
        PaymentEscrow escrow_,
        SettlementToken token_,
        address feeReceiver_,
        uint256 institutionKey,
        uint256 regulatorKey,
        uint256 arbiterKey,
        uint256[] memory payerKeys,
        uint256[] memory merchantKeys
    ) {
        escrow = escrow_;
        token = token_;
        registry = ParticipantRegistry(address(escrow_.registry()));
        feeReceiver = feeReceiver_;
        institution = _remember(institutionKey);
        regulator = _remember(regulatorKey);
        arbiter = _remember(arbiterKey);
        for (uint256 i = 0; i < payerKeys.length; ++i) payers.push(_remember(payerKeys[i]));
        for (uint256 i = 0; i < merchantKeys.length; ++i) merchants.push(_remember(merchantKeys[i]));
        (, string memory name, string memory version, uint256 chainId, address verifyingContract, , ) = escrow_
            .eip712Domain();
        domainSeparator = keccak256(
            abi.encode(DOMAIN_TYPEHASH, keccak256(bytes(name)), keccak256(bytes(version)), chainId, verifyingContract)
        );
        currentTime = block.timestamp;
    }

    /// @dev Every entry point runs at the handler's clock and ends by checking every payment's status.
    modifier step() {
        vm.warp(currentTime);
        _;
        _observeStatuses();
    }

    // ------------------------------------------------------------------ fuzzed entry points

    /// @notice The payer pays new terms itself (held, or direct one time in four).
    function pay(uint256 payerSeed, uint256 merchantSeed, uint256 amount, uint256 shape) external step {
        _payNew(payerSeed, merchantSeed, amount, shape, 0);
    }

    /// @notice A relayer pays new terms with the payer's signature.
    function payWithSignature(uint256 payerSeed, uint256 merchantSeed, uint256 amount, uint256 shape) external step {
        _payNew(payerSeed, merchantSeed, amount, shape, 2);
    }

    /// @notice Pays terms already paid: always refused (a payment id is paid at most once).
    function payAgain(uint256 paymentSeed, bool relayed) external step {
        if (!_pick(paymentSeed, ANY_STATUS)) return;
        Payment storage p = payments[_currentId];
        bytes memory expected = escrow.paused()
            ? abi.encodeWithSelector(Pausable.EnforcedPause.selector)
            : abi.encodeWithSelector(IPaymentEscrow.PaymentAlreadyExists.selector, _currentId);
        _attempt(p.terms, Action(IPaymentEscrow.OperationKind.Pay, p.terms.payer, relayed ? 1 : 0, 0, expected));
    }

    /// @notice The merchant marks a payment fulfilled.
    function markFulfilled(uint256 paymentSeed, uint256 how) external step {
        if (!_pick(paymentSeed, _mask(IPaymentEscrow.PaymentStatus.Held))) return;
        Payment storage p = payments[_currentId];
        bytes memory expected;
        if (p.status != IPaymentEscrow.PaymentStatus.Held) {
            expected = _statusError(p.status);
        } else if (block.timestamp > p.deadline) {
            expected = abi.encodeWithSelector(IPaymentEscrow.FulfilmentDeadlinePassed.selector, _currentId, p.deadline);
        }
        Action memory a = Action(IPaymentEscrow.OperationKind.MarkFulfilled, p.terms.merchant, _route(how), 0, expected);
        if (!_attempt(p.terms, a)) return;
        p.status = IPaymentEscrow.PaymentStatus.Fulfilled;
        p.deadline = block.timestamp + p.terms.autoReleasePeriod;
        _book(p, a, Deltas(0, 0, 0, 0));
        ++fulfilments;
    }

    /// @notice The payer confirms receipt: the held amount goes to the merchant, less the fee.
    function confirm(uint256 paymentSeed, uint256 how) external step {
        if (!_pick(paymentSeed, HELD_OR_FULFILLED)) return;
        Payment storage p = payments[_currentId];
        bytes memory expected;
        if (p.status != IPaymentEscrow.PaymentStatus.Held && p.status != IPaymentEscrow.PaymentStatus.Fulfilled) {
            expected = _statusError(p.status);
        }
        Action memory a = Action(IPaymentEscrow.OperationKind.Confirm, p.terms.payer, _route(how), 0, expected);
        if (!_attempt(p.terms, a)) return;
        _releaseHeldInModel(p, a);
        ++confirmations;
    }

    /// @notice Anyone releases a fulfilled payment; unless bits 1-2 of `how` are clear, waits until it is due.
    function release(uint256 paymentSeed, uint256 how) external step {
        if (!_pick(paymentSeed, _mask(IPaymentEscrow.PaymentStatus.Fulfilled))) return;
        Payment storage p = payments[_currentId];
        if (_waits(how) && p.status == IPaymentEscrow.PaymentStatus.Fulfilled && block.timestamp < p.deadline) {
            _setTime(p.deadline);
        }
        bytes memory expected;
        if (p.status != IPaymentEscrow.PaymentStatus.Fulfilled) {
            expected = _statusError(p.status);
        } else if (block.timestamp < p.deadline) {
            expected = abi.encodeWithSelector(IPaymentEscrow.ReleaseNotDue.selector, _currentId, p.deadline);
        }
        Action memory a = Action(IPaymentEscrow.OperationKind.Release, address(0), _route(how), 0, expected);
        if (!_attempt(p.terms, a)) return;
        _releaseHeldInModel(p, a);
        ++releases;
    }

    /// @notice The merchant refunds part or all of a payment, held (from escrow) or released (from
    /// its own balance, within the refund window). Some amounts are deliberately zero or too large.
    function refund(uint256 paymentSeed, uint256 amountSeed, uint256 how) external step {
        if (!_pick(paymentSeed, REFUNDABLE)) return;
        Payment storage p = payments[_currentId];
        uint256 available = p.terms.amount - p.refunded;
        uint256 amount = _refundAmount(amountSeed, available, p.terms.amount);
        bool held = _isHeld(p.status);
        Action memory a = Action(IPaymentEscrow.OperationKind.Refund, p.terms.merchant, _route(how), amount, "");
        a.expectedError = _refundError(p, amount, available, held);
        if (!_attempt(p.terms, a)) return;
        p.refunded += amount;
        if (amount == available) p.status = IPaymentEscrow.PaymentStatus.Refunded;
        int256 moved = int256(amount);
        if (held) {
            ghostHeld -= amount;
            _book(p, a, Deltas(-moved, moved, 0, 0));
            ++heldRefunds;
        } else {
            _book(p, a, Deltas(0, moved, -moved, 0));
            ++releasedRefunds;
        }
    }

    /// @notice The payer disputes a held or fulfilled payment.
    function dispute(uint256 paymentSeed, uint256 how) external step {
        if (!_pick(paymentSeed, HELD_OR_FULFILLED)) return;
        Payment storage p = payments[_currentId];
        bytes memory expected;
        if (p.status != IPaymentEscrow.PaymentStatus.Held && p.status != IPaymentEscrow.PaymentStatus.Fulfilled) {
            expected = _statusError(p.status);
        } else if (p.status == IPaymentEscrow.PaymentStatus.Fulfilled && block.timestamp >= p.deadline) {
            // Once the auto-release time has come the payment belongs to the merchant.
            expected = abi.encodeWithSelector(IPaymentEscrow.DisputeWindowClosed.selector, _currentId, uint40(p.deadline));
        }
        Action memory a = Action(IPaymentEscrow.OperationKind.Dispute, p.terms.payer, _route(how), 0, expected);
        if (!_attempt(p.terms, a)) return;
        p.status = IPaymentEscrow.PaymentStatus.Disputed;
        _book(p, a, Deltas(0, 0, 0, 0));
        ++disputes;
    }

    /// @notice The arbiter (or, when bits 1-3 of `how` are all set, the payer posing as one) resolves a dispute.
    function resolve(uint256 paymentSeed, uint256 payerAmountSeed, uint256 how) external step {
        if (!_pick(paymentSeed, _mask(IPaymentEscrow.PaymentStatus.Disputed))) return;
        Payment storage p = payments[_currentId];
        uint256 held = p.terms.amount - p.refunded;
        uint256 award = _awardAmount(payerAmountSeed, held);
        address actor = (how >> 1) & 7 == 7 ? p.terms.payer : arbiter;
        bytes memory expected;
        if (actor != arbiter) {
            expected = abi.encodeWithSelector(IPaymentEscrow.NotArbiter.selector, actor);
        } else if (p.status != IPaymentEscrow.PaymentStatus.Disputed) {
            expected = _statusError(p.status);
        } else if (award > held) {
            expected = abi.encodeWithSelector(IPaymentEscrow.ResolutionExceedsHeld.selector, _currentId, award, held);
        }
        Action memory a = Action(IPaymentEscrow.OperationKind.Resolve, actor, _route(how), award, expected);
        if (!_attempt(p.terms, a)) return;
        uint256 merchantGross = held - award;
        uint256 fee = (merchantGross * p.terms.feeBps) / BPS;
        p.status = IPaymentEscrow.PaymentStatus.Resolved;
        p.refunded += award;
        ghostHeld -= held;
        _book(p, a, Deltas(-int256(held), int256(award), int256(merchantGross - fee), int256(fee)));
        ++resolutions;
    }

    /// @notice The payer reclaims a payment never fulfilled; unless bits 1-2 of `how` are clear, waits for the
    /// fulfilment deadline to pass first.
    function reclaim(uint256 paymentSeed, uint256 how) external step {
        if (!_pick(paymentSeed, _mask(IPaymentEscrow.PaymentStatus.Held))) return;
        Payment storage p = payments[_currentId];
        if (_waits(how) && p.status == IPaymentEscrow.PaymentStatus.Held && block.timestamp <= p.deadline) {
            _setTime(p.deadline + 1);
        }
        bytes memory expected;
        if (p.status != IPaymentEscrow.PaymentStatus.Held) {
            expected = _statusError(p.status);
        } else if (block.timestamp <= p.deadline) {
            expected = abi.encodeWithSelector(IPaymentEscrow.ReclaimNotDue.selector, _currentId, p.deadline);
        }
        Action memory a = Action(IPaymentEscrow.OperationKind.Reclaim, p.terms.payer, _route(how), 0, expected);
        if (!_attempt(p.terms, a)) return;
        uint256 held = p.terms.amount - p.refunded;
        p.status = IPaymentEscrow.PaymentStatus.Reclaimed;
        ghostHeld -= held;
        _book(p, a, Deltas(-int256(held), int256(held), 0, 0));
        ++reclaims;
    }

    /// @notice Time passes.
    function advanceTime(uint256 secondsSeed) external step {
        _setTime(currentTime + bound(secondsSeed, 1, 5 days));
    }

    /// @notice The regulator pauses or unpauses the escrow (only new payments stop).
    function togglePause() external step {
        bool paused = escrow.paused();
        vm.prank(regulator);
        if (paused) escrow.unpause();
        else escrow.pause();
    }

    /// @notice The acquiring institution changes a merchant's fee (payments already made keep theirs).
    function setMerchantFee(uint256 merchantSeed, uint256 feeSeed) external step {
        address merchant = merchants[merchantSeed % merchants.length];
        uint16 fee = uint16(bound(feeSeed, 0, registry.maxFeeBps()));
        vm.prank(institution);
        registry.setMerchantFee(merchant, fee);
    }

    /// @notice The custodian mints a bank deposit to a payer or merchant, or burns a bank payout from one.
    function moveTokens(uint256 holderSeed, uint256 amount, bool mint) external step {
        address holder = _holder(holderSeed);
        uint256 limit = mint ? MAX_TOKEN_MOVE : token.balanceOf(holder);
        if (limit == 0) return;
        _moveTokens(holder, bound(amount, 1, limit < MAX_TOKEN_MOVE ? limit : MAX_TOKEN_MOVE), mint);
    }

    // ------------------------------------------------------------------ views for the invariants

    /// @notice Number of payments made through the handler.
    function paymentCount() external view returns (uint256) {
        return ids.length;
    }

    /// @notice The id of the `index`-th payment made.
    function paymentIdAt(uint256 index) external view returns (bytes32) {
        return ids[index];
    }

    /// @notice The handler's record of payment `paymentId`.
    function paymentRecord(bytes32 paymentId) external view returns (Payment memory) {
        return payments[paymentId];
    }

    /// @notice Every account that can hold tokens in this world.
    function holders() external view returns (address[] memory list) {
        list = new address[](payers.length + merchants.length + 2);
        for (uint256 i = 0; i < payers.length; ++i) list[i] = payers[i];
        for (uint256 i = 0; i < merchants.length; ++i) list[payers.length + i] = merchants[i];
        list[list.length - 2] = address(escrow);
        list[list.length - 1] = feeReceiver;
    }

    // ------------------------------------------------------------------ pay

    function _payNew(uint256 payerSeed, uint256 merchantSeed, uint256 amount, uint256 shape, uint8 route) private {
        IPaymentEscrow.PaymentTerms memory terms = _newTerms(payerSeed, merchantSeed, amount, shape);
        bytes32 id = escrow.paymentIdOf(terms);
        uint16 registeredFee = _registeredFee(terms.merchant);
        _currentId = id;
        if (escrow.paused()) {
            // Paused: the payment is refused; then the regulator lifts the pause and it goes ahead.
            bytes memory refused = abi.encodeWithSelector(Pausable.EnforcedPause.selector);
            _attempt(terms, Action(IPaymentEscrow.OperationKind.Pay, terms.payer, route, 0, refused));
            vm.prank(regulator);
            escrow.unpause();
        }
        bytes memory expected;
        if (terms.payDeadline < block.timestamp) {
            expected = abi.encodeWithSelector(IPaymentEscrow.PaymentExpired.selector, id, terms.payDeadline);
        } else if (terms.feeBps != registeredFee) {
            expected = abi.encodeWithSelector(IPaymentEscrow.FeeMismatch.selector, terms.feeBps, registeredFee);
        }
        Action memory a = Action(IPaymentEscrow.OperationKind.Pay, terms.payer, route, 0, expected);
        if (!_attempt(terms, a)) return;

        ids.push(id);
        Payment storage p = payments[id];
        p.terms = terms;
        int256 amount_ = int256(terms.amount);
        if (terms.direct) {
            uint256 fee = (terms.amount * terms.feeBps) / BPS;
            p.status = IPaymentEscrow.PaymentStatus.Released;
            p.deadline = block.timestamp + terms.refundPeriod;
            _book(p, a, Deltas(0, -amount_, int256(terms.amount - fee), int256(fee)));
            ++directPays;
        } else {
            p.status = IPaymentEscrow.PaymentStatus.Held;
            p.deadline = block.timestamp + terms.fulfilmentPeriod;
            ghostHeld += terms.amount;
            _book(p, a, Deltas(amount_, -amount_, 0, 0));
        }
        p.lastSeenStatus = p.status;
        ++pays;
        if (route != 0) ++signedPays;
    }

    /// @dev Terms with bounded fields: one in four direct, one in sixteen already expired, one in
    /// sixteen carrying a fee other than the merchant's.
    function _newTerms(
        uint256 payerSeed,
        uint256 merchantSeed,
        uint256 amount,
        uint256 shape
    ) private returns (IPaymentEscrow.PaymentTerms memory terms) {
        terms.payer = payers[payerSeed % payers.length];
        terms.merchant = merchants[merchantSeed % merchants.length];
        terms.token = address(token);
        terms.amount = bound(amount, 1, MAX_AMOUNT);
        terms.orderId = keccak256(abi.encode("order", _termsNonce));
        terms.feeBps = _registeredFee(terms.merchant);
        if (shape % 16 == 2) terms.feeBps = terms.feeBps == 0 ? 1 : terms.feeBps - 1;
        terms.direct = shape % 4 == 0;
        terms.payDeadline = uint64(shape % 16 == 1 ? block.timestamp - 1 : block.timestamp + 1 hours);
        terms.fulfilmentPeriod = uint32(bound((shape >> 8) & 0xffffffff, 1 hours, 10 days));
        terms.autoReleasePeriod = uint32(bound((shape >> 40) & 0xffffffff, 0, 10 days));
        terms.refundPeriod = uint32(bound((shape >> 72) & 0xffffffff, 0, 30 days));
        terms.nonce = ++_termsNonce;
    }

    // ------------------------------------------------------------------ call, compare, book

    /// @dev Sends `a` for payment `_currentId` and compares the outcome with the prediction.
    /// Returns true when it succeeded as predicted (the caller then updates the model and books it).
    function _attempt(IPaymentEscrow.PaymentTerms memory terms, Action memory a) private returns (bool) {
        bytes memory callData = _callData(terms, a);
        _snapshotBalances(terms);
        if (a.route == 0 && a.actor != address(0)) vm.prank(a.actor);
        // A raw call: the exact revert data is compared with the prediction instead of bubbling up.
        // solhint-disable-next-line avoid-low-level-calls
        (bool success, bytes memory returned) = address(escrow).call(callData);
        if (a.route != 0 && success) ++relayedOperations;
        if (a.expectedError.length == 0) {
            if (!success) _broken(a.kind, "reverted though the model expected success", returned);
            return success;
        }
        if (success) {
            _broken(a.kind, "succeeded though the model expected a revert", a.expectedError);
        } else if (keccak256(returned) != keccak256(a.expectedError)) {
            _broken(a.kind, string.concat("reverted with ", vm.toString(returned), " instead of"), a.expectedError);
        } else {
            ++expectedReverts;
        }
        return false;
    }

    function _callData(IPaymentEscrow.PaymentTerms memory terms, Action memory a) private returns (bytes memory) {
        IPaymentEscrow.OperationKind kind = a.kind;
        if (a.route == 2) return abi.encodeCall(PaymentEscrow.pay, (terms, _sign(a.actor, _currentId)));
        if (a.route == 1) return abi.encodeCall(PaymentEscrow.execute, (_operation(terms, a)));
        if (kind == IPaymentEscrow.OperationKind.Pay) return abi.encodeCall(PaymentEscrow.pay, (terms, ""));
        if (kind == IPaymentEscrow.OperationKind.MarkFulfilled) return abi.encodeCall(PaymentEscrow.markFulfilled, (terms));
        if (kind == IPaymentEscrow.OperationKind.Confirm) return abi.encodeCall(PaymentEscrow.confirm, (terms));
        if (kind == IPaymentEscrow.OperationKind.Release) return abi.encodeCall(PaymentEscrow.release, (terms));
        if (kind == IPaymentEscrow.OperationKind.Refund) {
            return abi.encodeCall(PaymentEscrow.refund, (terms, a.amount, REASON));
        }
        if (kind == IPaymentEscrow.OperationKind.Dispute) return abi.encodeCall(PaymentEscrow.dispute, (terms, REASON));
        if (kind == IPaymentEscrow.OperationKind.Resolve) {
            return abi.encodeCall(PaymentEscrow.resolve, (terms, a.amount, REASON));
        }
        return abi.encodeCall(PaymentEscrow.reclaim, (terms));
    }

    /// @dev The relayed form of `a`, signed by its actor (release needs no signature).
    function _operation(
        IPaymentEscrow.PaymentTerms memory terms,
        Action memory a
    ) private returns (IPaymentEscrow.Operation memory op) {
        op.kind = a.kind;
        op.terms = terms;
        op.amount = a.amount;
        op.nonce = ++_actionNonce;
        op.deadline = block.timestamp + 1 hours;
        IPaymentEscrow.OperationKind kind = a.kind;
        bytes32 structHash;
        if (kind == IPaymentEscrow.OperationKind.Pay) {
            op.signature = _sign(a.actor, _currentId);
            return op;
        } else if (kind == IPaymentEscrow.OperationKind.Release) {
            return op;
        } else if (kind == IPaymentEscrow.OperationKind.MarkFulfilled) {
            structHash = keccak256(abi.encode(escrow.MARK_FULFILLED_TYPEHASH(), _currentId, op.nonce, op.deadline));
        } else if (kind == IPaymentEscrow.OperationKind.Confirm) {
            structHash = keccak256(abi.encode(escrow.CONFIRM_TYPEHASH(), _currentId, op.nonce, op.deadline));
        } else if (kind == IPaymentEscrow.OperationKind.Refund) {
            op.reason = REASON;
            structHash = keccak256(
                abi.encode(escrow.REFUND_TYPEHASH(), _currentId, op.amount, REASON, op.nonce, op.deadline)
            );
        } else if (kind == IPaymentEscrow.OperationKind.Dispute) {
            op.reason = REASON;
            structHash = keccak256(abi.encode(escrow.DISPUTE_TYPEHASH(), _currentId, REASON, op.nonce, op.deadline));
        } else if (kind == IPaymentEscrow.OperationKind.Resolve) {
            op.reason = REASON;
            structHash = keccak256(
                abi.encode(escrow.RESOLVE_TYPEHASH(), _currentId, op.amount, REASON, op.nonce, op.deadline)
            );
        } else {
            structHash = keccak256(abi.encode(escrow.RECLAIM_TYPEHASH(), _currentId, op.nonce, op.deadline));
        }
        op.signature = _sign(a.actor, keccak256(abi.encodePacked("\x19\x01", domainSeparator, structHash)));
    }

    function _sign(address signer, bytes32 digest) private view returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(keyOf[signer], digest);
        return abi.encodePacked(r, s, v);
    }

    function _snapshotBalances(IPaymentEscrow.PaymentTerms memory terms) private {
        _balancesBefore = [
            token.balanceOf(address(escrow)),
            token.balanceOf(terms.payer),
            token.balanceOf(terms.merchant),
            token.balanceOf(feeReceiver)
        ];
    }

    /// @dev Compares the measured token movements of the successful call with `expected` and books
    /// the measured ones on the payment.
    function _book(Payment storage p, Action memory a, Deltas memory expected) private {
        Deltas memory actual = Deltas(
            int256(token.balanceOf(address(escrow))) - int256(_balancesBefore[0]),
            int256(token.balanceOf(p.terms.payer)) - int256(_balancesBefore[1]),
            int256(token.balanceOf(p.terms.merchant)) - int256(_balancesBefore[2]),
            int256(token.balanceOf(feeReceiver)) - int256(_balancesBefore[3])
        );
        if (keccak256(abi.encode(actual)) != keccak256(abi.encode(expected))) {
            _broken(
                a.kind,
                string.concat(
                    "token movements (escrow, payer, merchant, fee receiver) ",
                    _format(actual),
                    " differ from the model's ",
                    _format(expected)
                ),
                ""
            );
        }
        if (a.kind == IPaymentEscrow.OperationKind.Refund && actual.merchant < 0) {
            p.returnedByMerchant += _positive(actual.payer);
        } else {
            p.paidToMerchant += _positive(actual.merchant);
            p.paidToFeeReceiver += _positive(actual.feeReceiver);
            if (a.kind != IPaymentEscrow.OperationKind.Pay) p.returnedByEscrow += _positive(actual.payer);
        }
    }

    function _releaseHeldInModel(Payment storage p, Action memory a) private {
        uint256 held = p.terms.amount - p.refunded;
        uint256 fee = (held * p.terms.feeBps) / BPS;
        p.status = IPaymentEscrow.PaymentStatus.Released;
        p.deadline = block.timestamp + p.terms.refundPeriod;
        ghostHeld -= held;
        _book(p, a, Deltas(-int256(held), 0, int256(held - fee), int256(fee)));
    }

    /// @dev After every call: no payment's on-chain status may be lower than the one seen before, and
    /// each must equal the model's.
    function _observeStatuses() private {
        uint256 count = ids.length;
        for (uint256 i = 0; i < count; ++i) {
            Payment storage p = payments[ids[i]];
            IPaymentEscrow.PaymentStatus status = escrow.paymentOf(ids[i]).status;
            if (status < p.lastSeenStatus) statusWentBackwards = true;
            if (status != p.status) _fail("an on-chain status differs from the model's");
            p.lastSeenStatus = status;
        }
    }

    function _moveTokens(address holder, uint256 amount, bool mint) private {
        uint256 supplyBefore = token.totalSupply();
        uint256 balanceBefore = token.balanceOf(holder);
        vm.prank(institution);
        if (mint) token.mint(holder, amount, keccak256("deposit"));
        else token.burn(holder, amount, keccak256("payout"));
        uint256 supplyAfter = mint ? supplyBefore + amount : supplyBefore - amount;
        uint256 balanceAfter = mint ? balanceBefore + amount : balanceBefore - amount;
        if (token.totalSupply() != supplyAfter || token.balanceOf(holder) != balanceAfter) {
            _fail("a mint or burn moved other amounts than requested");
        }
        ++tokenMoves;
    }

    // ------------------------------------------------------------------ helpers

    /// @dev Selects the payment `_currentId`. With the low two bits of `seed` clear, payment
    /// `(seed >> 2) % count` whatever its status (mostly a predicted revert); otherwise the first payment
    /// from there on whose model status is in `statuses` (a bit mask), so that three calls in four act
    /// on a payment they can act on.
    function _pick(uint256 seed, uint256 statuses) private returns (bool) {
        uint256 count = ids.length;
        if (count == 0) return false;
        uint256 start = (seed >> 2) % count;
        uint256 index = start;
        if (seed & 3 != 0) {
            for (uint256 i = 0; i < count; ++i) {
                uint256 candidate = (start + i) % count;
                if (_mask(payments[ids[candidate]].status) & statuses != 0) {
                    index = candidate;
                    break;
                }
            }
        }
        _currentId = ids[index];
        return true;
    }

    function _mask(IPaymentEscrow.PaymentStatus status) private pure returns (uint256) {
        return uint256(1) << uint256(status);
    }

    /// @dev Bit 0 of `how`: relayed through `execute` with the actor's signature instead of a direct call.
    function _route(uint256 how) private pure returns (uint8) {
        return uint8(how & 1);
    }

    /// @dev Whether a release or reclaim first lets time run to when it is due (three times in four).
    function _waits(uint256 how) private pure returns (bool) {
        return (how >> 1) & 3 != 0;
    }

    /// @dev The low byte of `seed` picks the kind of amount, the rest is the value.
    function _refundAmount(uint256 seed, uint256 available, uint256 amount) private pure returns (uint256) {
        uint256 pick = (seed & 0xff) % 10;
        if (pick == 0) return 0;
        if (pick == 1 || available == 0) return available + bound(seed >> 8, 1, amount);
        if (pick == 2) return available;
        return bound(seed >> 8, 1, available);
    }

    function _awardAmount(uint256 seed, uint256 held) private pure returns (uint256) {
        uint256 pick = (seed & 0xff) % 10;
        if (pick == 0) return held + 1;
        if (pick == 1) return 0;
        if (pick == 2) return held;
        return bound(seed >> 8, 0, held);
    }

    function _refundError(
        Payment storage p,
        uint256 amount,
        uint256 available,
        bool held
    ) private view returns (bytes memory) {
        if (amount == 0) return abi.encodeWithSelector(Errors.ZeroAmount.selector);
        if (!held) {
            if (p.status != IPaymentEscrow.PaymentStatus.Released) return _statusError(p.status);
            if (block.timestamp > p.deadline) {
                return abi.encodeWithSelector(IPaymentEscrow.RefundWindowClosed.selector, _currentId, p.deadline);
            }
        }
        if (amount > available) {
            return abi.encodeWithSelector(IPaymentEscrow.RefundExceedsAvailable.selector, _currentId, amount, available);
        }
        uint256 merchantBalance = token.balanceOf(p.terms.merchant);
        if (!held && merchantBalance < amount) {
            return
                abi.encodeWithSelector(
                    IERC20Errors.ERC20InsufficientBalance.selector,
                    p.terms.merchant,
                    merchantBalance,
                    amount
                );
        }
        return "";
    }

    function _statusError(IPaymentEscrow.PaymentStatus status) private view returns (bytes memory) {
        return abi.encodeWithSelector(IPaymentEscrow.InvalidPaymentStatus.selector, _currentId, status);
    }

    function _isHeld(IPaymentEscrow.PaymentStatus status) private pure returns (bool) {
        return
            status == IPaymentEscrow.PaymentStatus.Held ||
            status == IPaymentEscrow.PaymentStatus.Fulfilled ||
            status == IPaymentEscrow.PaymentStatus.Disputed;
    }

    function _holder(uint256 seed) private view returns (address) {
        uint256 index = seed % (payers.length + merchants.length);
        return index < payers.length ? payers[index] : merchants[index - payers.length];
    }

    function _registeredFee(address merchant) private view returns (uint16) {
        return registry.accountOf(merchant).feeBps;
    }

    function _setTime(uint256 time) private {
        currentTime = time;
        vm.warp(time);
    }

    function _broken(IPaymentEscrow.OperationKind kind, string memory what, bytes memory data) private {
        _fail(
            string.concat(
                _operationName(kind),
                " on payment ",
                vm.toString(_currentId),
                ": ",
                what,
                data.length == 0 ? "" : string.concat(" ", vm.toString(data))
            )
        );
    }

    /// @dev Records the first disagreement between the escrow and the model.
    function _fail(string memory because) private {
        if (modelBroken) return;
        modelBroken = true;
        modelBrokenBecause = because;
    }

    function _operationName(IPaymentEscrow.OperationKind kind) private pure returns (string memory) {
        string[8] memory names = ["pay", "markFulfilled", "confirm", "release", "refund", "dispute", "resolve", "reclaim"];
        return names[uint256(kind)];
    }

    function _format(Deltas memory d) private pure returns (string memory) {
        return
            string.concat(
                "[",
                vm.toString(d.escrow),
                ", ",
                vm.toString(d.payer),
                ", ",
                vm.toString(d.merchant),
                ", ",
                vm.toString(d.feeReceiver),
                "]"
            );
    }

    function _positive(int256 value) private pure returns (uint256) {
        return value > 0 ? uint256(value) : 0;
    }

    function _remember(uint256 privateKey) private returns (address account) {
        account = vm.addr(privateKey);
        keyOf[account] = privateKey;
    }
}
