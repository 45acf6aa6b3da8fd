// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

import {IParticipantRegistry} from "./interfaces/IParticipantRegistry.sol";
import {IPaymentEscrow} from "./interfaces/IPaymentEscrow.sol";
import {ISettlementToken} from "./interfaces/ISettlementToken.sol";
import {Errors} from "./utils/Errors.sol";
import {Roles} from "./utils/Roles.sol";
import {SignedOperations} from "./utils/SignedOperations.sol";

/// @title PaymentEscrow
/// @notice The escrow (担保交易) state machine: the payer pays into escrow, the merchant fulfils, the payer
/// confirms or the hold auto-releases; refunds, disputes resolved by an arbiter, and reclaim of orders
/// never fulfilled. Each operation can be called by its actor directly or relayed by anyone with the
/// actor's EIP-712 signature, singly ({execute}) or in batches whose items fail independently
/// ({executeBatch}).
/// @dev Only a one-slot {PaymentState} is stored per payment; callers pass the {PaymentTerms}, whose
/// EIP-712 digest is the payment id, so the terms are verified by recomputing the id.
/// Check → effect → emit → transfer, under a transient reentrancy guard.
contract PaymentEscrow is IPaymentEscrow, Pausable, ReentrancyGuardTransient, SignedOperations {
    using SafeERC20 for IERC20;

    /// @notice EIP-712 type of the payment terms (signed by the payer to pay).
    bytes32 public constant PAYMENT_TYPEHASH =
        keccak256(
            "Payment(address payer,address merchant,address token,uint256 amount,bytes32 orderId,uint16 feeBps,"
            "bool direct,uint64 payDeadline,uint32 fulfilmentPeriod,uint32 autoReleasePeriod,uint32 refundPeriod,"
            "uint256 nonce)"
        );
    /// @notice EIP-712 type of a merchant's fulfilment notice.
    bytes32 public constant MARK_FULFILLED_TYPEHASH =
        keccak256("MarkFulfilled(bytes32 paymentId,uint256 nonce,uint256 deadline)");
    /// @notice EIP-712 type of a payer's confirmation of receipt.
    bytes32 public constant CONFIRM_TYPEHASH = keccak256("Confirm(bytes32 paymentId,uint256 nonce,uint256 deadline)");
    /// @notice EIP-712 type of a merchant's refund.
    bytes32 public constant REFUND_TYPEHASH =
        keccak256("Refund(bytes32 paymentId,uint256 amount,bytes32 reason,uint256 nonce,uint256 deadline)");
    /// @notice EIP-712 type of a payer's dispute.
    bytes32 public constant DISPUTE_TYPEHASH =
        keccak256("Dispute(bytes32 paymentId,bytes32 reason,uint256 nonce,uint256 deadline)");
    /// @notice EIP-712 type of an arbiter's resolution.
    bytes32 public constant RESOLVE_TYPEHASH =
        keccak256("Resolve(bytes32 paymentId,uint256 payerAmount,bytes32 reason,uint256 nonce,uint256 deadline)");
    /// @notice EIP-712 type of a payer's reclaim.
    bytes32 public constant RECLAIM_TYPEHASH = keccak256("Reclaim(bytes32 paymentId,uint256 nonce,uint256 deadline)");

    uint256 private constant _BPS = 10_000;

    /// @dev Transient: how many batches this transaction has run, and the one running now (zero outside a batch).
    /// A registry answer cached for a batch is keyed by its number, so it serves that batch's items only.
    bytes32 private constant _BATCH_COUNT_SLOT = keccak256("settlenet.PaymentEscrow.batchCount");
    bytes32 private constant _BATCH_SLOT = keccak256("settlenet.PaymentEscrow.batch");

    /// @notice The participant registry.
    IParticipantRegistry public immutable registry;
    /// @notice Where fees go on release (fixed for the escrow's life: one read less per release).
    address public immutable feeReceiver;

    mapping(bytes32 paymentId => PaymentState) private _payments;

    /// @param registry_ The participant registry.
    /// @param feeReceiver_ Where fees go: a registered, active account (settlement tokens pay no other).
    constructor(IParticipantRegistry registry_, address feeReceiver_) EIP712("Settlenet PaymentEscrow", "1") {
        if (address(registry_) == address(0) || feeReceiver_ == address(0)) revert Errors.ZeroAddress();
        if (registry_.accountOf(feeReceiver_).status != IParticipantRegistry.AccountStatus.Active) {
            revert FeeReceiverNotRegistered(feeReceiver_);
        }
        registry = registry_;
        feeReceiver = feeReceiver_;
    }

    // ---------------------------------------------------------------- direct calls (actor = msg.sender)

    /// @notice Pays under `terms`. The payer calls it directly, or anyone relays it with the payer's
    /// signature over the terms. Needs the payer's token allowance to this contract.
    /// @param terms The signed payment terms.
    /// @param signature The payer's EIP-712 signature of `terms` (may be empty when the payer calls).
    /// @return paymentId The payment id.
    function pay(PaymentTerms calldata terms, bytes calldata signature) external nonReentrant returns (bytes32 paymentId) {
        paymentId = paymentIdOf(terms);
        if (msg.sender != terms.payer) _requireSigner(paymentId, signature, terms.payer);
        _pay(paymentId, terms);
    }

    /// @notice The merchant records fulfilment (shipment); starts the auto-release clock.
    /// @param terms The payment's terms.
    function markFulfilled(PaymentTerms calldata terms) external nonReentrant {
        _requireCaller(terms.merchant);
        _markFulfilled(paymentIdOf(terms), terms);
    }

    /// @notice The payer confirms receipt: releases to the merchant, less the fee.
    /// @param terms The payment's terms.
    function confirm(PaymentTerms calldata terms) external nonReentrant {
        _requireCaller(terms.payer);
        _confirm(paymentIdOf(terms), terms);
    }

    /// @notice Anyone releases a fulfilled payment once its auto-release time has come.
    /// @param terms The payment's terms.
    function release(PaymentTerms calldata terms) external nonReentrant {
        _release(paymentIdOf(terms), terms);
    }

    /// @notice The merchant refunds `amount`: while held, or after release within the refund window
    /// (then from the merchant's own balance, which needs its allowance to this contract).
    /// @param terms The payment's terms.
    /// @param amount Amount to refund.
    /// @param reason Reason reference.
    function refund(PaymentTerms calldata terms, uint256 amount, bytes32 reason) external nonReentrant {
        _requireCaller(terms.merchant);
        _refund(paymentIdOf(terms), terms, amount, reason);
    }

    /// @notice The payer disputes a held payment (once fulfilled, only before its auto-release time);
    /// auto-release stops until an arbiter resolves it.
    /// @param terms The payment's terms.
    /// @param reason Reason reference.
    function dispute(PaymentTerms calldata terms, bytes32 reason) external nonReentrant {
        _requireCaller(terms.payer);
        _dispute(paymentIdOf(terms), terms, reason);
    }

    /// @notice An arbiter resolves a dispute: `payerAmount` back to the payer, the rest to the merchant less the fee.
    /// @param terms The payment's terms.
    /// @param payerAmount Amount awarded to the payer.
    /// @param reason Reason reference.
    function resolve(PaymentTerms calldata terms, uint256 payerAmount, bytes32 reason) external nonReentrant {
        _resolve(paymentIdOf(terms), terms, msg.sender, payerAmount, reason);
    }

    /// @notice The payer takes back a payment the merchant did not fulfil by the fulfilment deadline.
    /// @param terms The payment's terms.
    function reclaim(PaymentTerms calldata terms) external nonReentrant {
        _requireCaller(terms.payer);
        _reclaim(paymentIdOf(terms), terms);
    }

    // ---------------------------------------------------------------- relayed operations

    /// @notice Executes one operation signed by its actor; reverts if it fails.
    /// @param op The operation.
    function execute(Operation calldata op) external nonReentrant {
        _execute(op);
    }

    /// @notice Executes many signed operations; a failing item emits {OperationFailed} and does not
    /// stop or revert the others.
    /// @param ops The operations.
    /// @return succeeded Per item, whether it executed.
    function executeBatch(Operation[] calldata ops) external nonReentrant returns (bool[] memory succeeded) {
        uint256 count = ops.length;
        succeeded = new bool[](count);
        bytes32 countSlot = _BATCH_COUNT_SLOT;
        bytes32 batchSlot = _BATCH_SLOT;
        assembly ("memory-safe") {
            let batch := add(tload(countSlot), 1)
            tstore(countSlot, batch)
            tstore(batchSlot, batch)
        }
        for (uint256 i = 0; i < count; ++i) {
            Operation calldata op = ops[i];
            if (_forwardToSelf(op)) {
                succeeded[i] = true;
            } else {
                bytes memory reason = _returnData();
                bytes32 paymentId = paymentIdOf(op.terms);
                emit OperationFailed(i, op.kind, paymentId, _operationIdOf(op, paymentId), reason);
            }
        }
        assembly ("memory-safe") {
            tstore(batchSlot, 0)
        }
    }

    /// @notice Runs one batch item in its own call frame so that its revert is isolated.
    /// @dev Only callable by this contract, from {executeBatch}, which holds the reentrancy lock.
    /// @param op The operation.
    function executeFromBatch(Operation calldata op) external {
        if (msg.sender != address(this)) revert OnlySelf();
        _execute(op);
    }

    // ---------------------------------------------------------------- administration

    /// @notice Stops new payments (registry admin or regulator). Fulfilment, confirmation, release,
    /// refunds, disputes, resolutions and reclaims continue.
    function pause() external {
        _requireAdminOrRegulator();
        _pause();
    }

    /// @notice Accepts new payments again (registry admin or regulator).
    function unpause() external {
        _requireAdminOrRegulator();
        _unpause();
    }

    // ---------------------------------------------------------------- views

    /// @notice The payment id of `terms`: their EIP-712 digest under this contract's domain.
    function paymentIdOf(PaymentTerms calldata terms) public view returns (bytes32) {
        return _hashTypedDataV4(_hashTerms(terms));
    }

    /// @notice The stored state of payment `paymentId` (status `None` if unknown).
    function paymentOf(bytes32 paymentId) external view returns (PaymentState memory) {
        return _payments[paymentId];
    }

    /// @notice Amount still held in escrow for `paymentId`.
    function heldAmountOf(bytes32 paymentId) external view returns (uint256) {
        PaymentState storage state = _payments[paymentId];
        return _isHeld(state.status) ? state.amount - state.refunded : 0;
    }

    // ---------------------------------------------------------------- operations

    function _execute(Operation calldata op) private {
        PaymentTerms calldata terms = op.terms;
        bytes32 paymentId = paymentIdOf(terms);
        OperationKind kind = op.kind;
        if (kind == OperationKind.Pay) {
            _requireSigner(paymentId, op.signature, terms.payer);
            _pay(paymentId, terms);
        } else if (kind == OperationKind.Release) {
            _release(paymentId, terms);
        } else if (kind == OperationKind.MarkFulfilled) {
            bytes32 structHash = keccak256(abi.encode(MARK_FULFILLED_TYPEHASH, paymentId, op.nonce, op.deadline));
            _consumeSignature(structHash, op.nonce, op.deadline, op.signature, terms.merchant);
            _markFulfilled(paymentId, terms);
        } else if (kind == OperationKind.Confirm) {
            bytes32 structHash = keccak256(abi.encode(CONFIRM_TYPEHASH, paymentId, op.nonce, op.deadline));
            _consumeSignature(structHash, op.nonce, op.deadline, op.signature, terms.payer);
            _confirm(paymentId, terms);
        } else if (kind == OperationKind.Refund) {
            bytes32 structHash = keccak256(
                abi.encode(REFUND_TYPEHASH, paymentId, op.amount, op.reason, op.nonce, op.deadline)
            );
            _consumeSignature(structHash, op.nonce, op.deadline, op.signature, terms.merchant);
            _refund(paymentId, terms, op.amount, op.reason);
        } else if (kind == OperationKind.Dispute) {
            bytes32 structHash = keccak256(abi.encode(DISPUTE_TYPEHASH, paymentId, op.reason, op.nonce, op.deadline));
            _consumeSignature(structHash, op.nonce, op.deadline, op.signature, terms.payer);
            _dispute(paymentId, terms, op.reason);
        } else if (kind == OperationKind.Resolve) {
            bytes32 structHash = keccak256(
                abi.encode(RESOLVE_TYPEHASH, paymentId, op.amount, op.reason, op.nonce, op.deadline)
            );
            address arbiter = _consumeSignature(structHash, op.nonce, op.deadline, op.signature, _ANY_SIGNER);
            _resolve(paymentId, terms, arbiter, op.amount, op.reason);
        } else {
            bytes32 structHash = keccak256(abi.encode(RECLAIM_TYPEHASH, paymentId, op.nonce, op.deadline));
            _consumeSignature(structHash, op.nonce, op.deadline, op.signature, terms.payer);
            _reclaim(paymentId, terms);
        }
    }

    function _pay(bytes32 paymentId, PaymentTerms calldata terms) private whenNotPaused {
        PaymentState storage state = _payments[paymentId];
        if (state.status != PaymentStatus.None) revert PaymentAlreadyExists(paymentId);
        uint64 payDeadline = terms.payDeadline;
        if (block.timestamp > payDeadline) revert PaymentExpired(paymentId, payDeadline);
        uint256 amount = terms.amount;
        if (amount == 0) revert Errors.ZeroAmount();
        if (amount > type(uint96).max) revert AmountTooLarge(amount);
        address token = terms.token;
        bool settlement = _checkMerchantAndToken(terms.merchant, token, terms.feeBps);
        address payer = terms.payer;
        // A settlement token checks the payer itself, from the payer's slot its pull reads anyway.
        if (!settlement && !registry.mayPay(payer)) revert PayerNotActive(payer);

        bool direct = terms.direct;
        uint40 deadline = uint40(block.timestamp + (direct ? terms.refundPeriod : terms.fulfilmentPeriod));
        {
            // The whole slot in one write, laid out as {PaymentState}: status, amount, refunded (zero), deadline.
            uint256 status = uint256(direct ? PaymentStatus.Released : PaymentStatus.Held);
            assembly ("memory-safe") {
                sstore(state.slot, or(or(status, shl(8, amount)), shl(200, deadline)))
            }
        }
        _emitPaid(paymentId, terms, amount, direct, deadline);

        if (settlement) {
            // A settlement token moves exactly the amount asked, and refuses a payer that may not pay with the
            // same PayerNotActive error.
            _pullPayment(token, payer, amount);
        } else {
            uint256 balanceBefore = IERC20(token).balanceOf(address(this));
            IERC20(token).safeTransferFrom(payer, address(this), amount);
            uint256 received = IERC20(token).balanceOf(address(this)) - balanceBefore;
            if (received != amount) revert TransferAmountMismatch(amount, received);
        }
        if (direct) _payOut(paymentId, terms, amount, deadline);
    }

    /// @dev The registry's check of the merchant, its fee and the token ({IParticipantRegistry-paymentCheck});
    /// returns whether the token is a settlement token. Inside a batch, an active merchant's fee for a settlement
    /// token is kept in transient storage for the batch's later items: nothing a batch runs can change the
    /// registry: items call only its views (as settlement tokens do), and changing it takes an admin's, an
    /// institution's or a role holder's own call.
    function _checkMerchantAndToken(address merchant, address token, uint16 feeBps) private returns (bool settlement) {
        bytes32 batchSlot = _BATCH_SLOT;
        bytes32 key;
        uint256 cached;
        assembly ("memory-safe") {
            let batch := tload(batchSlot)
            if batch {
                let ptr := mload(0x40)
                mstore(ptr, batch)
                mstore(add(ptr, 0x20), merchant)
                mstore(add(ptr, 0x40), token)
                key := keccak256(ptr, 0x60)
                // The fee plus one: zero is "not cached".
                cached := tload(key)
            }
        }
        if (cached != 0) {
            uint16 merchantFee = uint16(cached - 1);
            if (merchantFee != feeBps) revert FeeMismatch(feeBps, merchantFee);
            return true;
        }
        (IParticipantRegistry.TokenKind tokenKind, bool merchantActive, uint16 merchantFeeBps) = registry.paymentCheck(
            merchant,
            token
        );
        if (tokenKind == IParticipantRegistry.TokenKind.None) revert UnsupportedToken(token);
        if (!merchantActive) revert MerchantNotActive(merchant);
        if (merchantFeeBps != feeBps) revert FeeMismatch(feeBps, merchantFeeBps);
        settlement = tokenKind == IParticipantRegistry.TokenKind.Settlement;
        if (settlement && key != bytes32(0)) {
            assembly ("memory-safe") {
                tstore(key, add(merchantFeeBps, 1))
            }
        }
    }

    /// @dev {ISettlementToken-pullPayment}, bubbling its revert. No code-size check: the registry admits a
    /// settlement token only once it has answered a call.
    function _pullPayment(address token, address payer, uint256 amount) private {
        bytes4 selector = ISettlementToken.pullPayment.selector;
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, selector)
            mstore(add(ptr, 0x04), payer)
            mstore(add(ptr, 0x24), amount)
            if iszero(call(gas(), token, 0, ptr, 0x44, 0, 0)) {
                returndatacopy(ptr, 0, returndatasize())
                revert(ptr, returndatasize())
            }
        }
    }

    /// @dev Emits {PaymentPaid} with the parties, token, order id and fee copied from the terms' calldata words,
    /// which {_hashTerms} checked when the payment id was computed.
    function _emitPaid(bytes32 paymentId, PaymentTerms calldata terms, uint256 amount, bool direct, uint40 deadline) private {
        bytes32 topic = PaymentPaid.selector;
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, calldataload(add(terms, 0x40)))
            mstore(add(ptr, 0x20), amount)
            mstore(add(ptr, 0x40), calldataload(add(terms, 0x80)))
            mstore(add(ptr, 0x60), calldataload(add(terms, 0xa0)))
            mstore(add(ptr, 0x80), direct)
            mstore(add(ptr, 0xa0), deadline)
            log4(ptr, 0xc0, topic, paymentId, calldataload(terms), calldataload(add(terms, 0x20)))
        }
    }

    function _markFulfilled(bytes32 paymentId, PaymentTerms calldata terms) private {
        PaymentState storage state = _payments[paymentId];
        _requireStatus(paymentId, state.status, PaymentStatus.Held);
        if (block.timestamp > state.deadline) revert FulfilmentDeadlinePassed(paymentId, state.deadline);
        uint40 releaseAt = uint40(block.timestamp + terms.autoReleasePeriod);
        state.status = PaymentStatus.Fulfilled;
        state.deadline = releaseAt;
        emit PaymentFulfilled(paymentId, releaseAt);
    }

    function _confirm(bytes32 paymentId, PaymentTerms calldata terms) private {
        PaymentState storage state = _payments[paymentId];
        PaymentStatus status = state.status;
        if (status != PaymentStatus.Held && status != PaymentStatus.Fulfilled) {
            revert InvalidPaymentStatus(paymentId, _existing(paymentId, status));
        }
        _releaseHeld(paymentId, terms, state);
    }

    function _release(bytes32 paymentId, PaymentTerms calldata terms) private {
        PaymentState storage state = _payments[paymentId];
        _requireStatus(paymentId, state.status, PaymentStatus.Fulfilled);
        if (block.timestamp < state.deadline) revert ReleaseNotDue(paymentId, state.deadline);
        _releaseHeld(paymentId, terms, state);
    }

    function _releaseHeld(bytes32 paymentId, PaymentTerms calldata terms, PaymentState storage state) private {
        uint256 held = state.amount - state.refunded;
        uint40 refundDeadline = uint40(block.timestamp + terms.refundPeriod);
        state.status = PaymentStatus.Released;
        state.deadline = refundDeadline;
        _payOut(paymentId, terms, held, refundDeadline);
    }

    /// @dev Emits {PaymentReleased} and pays `gross` out to the merchant, less the fee.
    function _payOut(bytes32 paymentId, PaymentTerms calldata terms, uint256 gross, uint40 refundDeadline) private {
        uint256 fee = (gross * terms.feeBps) / _BPS;
        uint256 merchantAmount = gross - fee;
        emit PaymentReleased(paymentId, terms.merchant, merchantAmount, fee, refundDeadline);
        IERC20 token = IERC20(terms.token);
        if (merchantAmount != 0) token.safeTransfer(terms.merchant, merchantAmount);
        if (fee != 0) token.safeTransfer(feeReceiver, fee);
    }

    function _refund(bytes32 paymentId, PaymentTerms calldata terms, uint256 amount, bytes32 reason) private {
        if (amount == 0) revert Errors.ZeroAmount();
        PaymentState storage state = _payments[paymentId];
        PaymentStatus status = state.status;
        bool held = _isHeld(status);
        if (!held) {
            if (status != PaymentStatus.Released) revert InvalidPaymentStatus(paymentId, _existing(paymentId, status));
            if (block.timestamp > state.deadline) revert RefundWindowClosed(paymentId, state.deadline);
        }
        uint256 available = state.amount - state.refunded;
        if (amount > available) revert RefundExceedsAvailable(paymentId, amount, available);
        uint256 remaining = available - amount;
        state.refunded += uint96(amount);
        if (remaining == 0) state.status = PaymentStatus.Refunded;
        emit PaymentRefunded(paymentId, terms.payer, amount, remaining, reason);
        IERC20 token = IERC20(terms.token);
        if (held) token.safeTransfer(terms.payer, amount);
        else token.safeTransferFrom(terms.merchant, terms.payer, amount);
    }

    function _dispute(bytes32 paymentId, PaymentTerms calldata terms, bytes32 reason) private {
        PaymentState storage state = _payments[paymentId];
        PaymentStatus status = state.status;
        if (status != PaymentStatus.Held && status != PaymentStatus.Fulfilled) {
            revert InvalidPaymentStatus(paymentId, _existing(paymentId, status));
        }
        if (status == PaymentStatus.Fulfilled && block.timestamp >= state.deadline) {
            revert DisputeWindowClosed(paymentId, state.deadline);
        }
        state.status = PaymentStatus.Disputed;
        emit PaymentDisputed(paymentId, terms.payer, reason);
    }

    function _resolve(
        bytes32 paymentId,
        PaymentTerms calldata terms,
        address arbiter,
        uint256 payerAmount,
        bytes32 reason
    ) private {
        if (!registry.hasRole(Roles.ARBITER, arbiter)) revert NotArbiter(arbiter);
        PaymentState storage state = _payments[paymentId];
        _requireStatus(paymentId, state.status, PaymentStatus.Disputed);
        uint256 held = state.amount - state.refunded;
        if (payerAmount > held) revert ResolutionExceedsHeld(paymentId, payerAmount, held);
        uint256 merchantGross = held - payerAmount;
        uint256 fee = (merchantGross * terms.feeBps) / _BPS;
        state.status = PaymentStatus.Resolved;
        state.refunded += uint96(payerAmount);
        emit PaymentResolved(paymentId, arbiter, payerAmount, merchantGross - fee, fee, reason);
        IERC20 token = IERC20(terms.token);
        if (payerAmount != 0) token.safeTransfer(terms.payer, payerAmount);
        if (merchantGross - fee != 0) token.safeTransfer(terms.merchant, merchantGross - fee);
        if (fee != 0) token.safeTransfer(feeReceiver, fee);
    }

    function _reclaim(bytes32 paymentId, PaymentTerms calldata terms) private {
        PaymentState storage state = _payments[paymentId];
        _requireStatus(paymentId, state.status, PaymentStatus.Held);
        if (block.timestamp <= state.deadline) revert ReclaimNotDue(paymentId, state.deadline);
        uint256 held = state.amount - state.refunded;
        state.status = PaymentStatus.Reclaimed;
        emit PaymentReclaimed(paymentId, terms.payer, held);
        IERC20(terms.token).safeTransfer(terms.payer, held);
    }

    /// @dev The id nodes give `op` (see {OperationFailed}); computed only when a batch item fails.
    function _operationIdOf(Operation calldata op, bytes32 paymentId) private view returns (bytes32) {
        OperationKind kind = op.kind;
        if (kind == OperationKind.Pay) return paymentId;
        if (kind == OperationKind.Release) return keccak256(abi.encodePacked("settlenet.release:", paymentId));
        bytes32 structHash;
        if (kind == OperationKind.MarkFulfilled) {
            structHash = keccak256(abi.encode(MARK_FULFILLED_TYPEHASH, paymentId, op.nonce, op.deadline));
        } else if (kind == OperationKind.Confirm) {
            structHash = keccak256(abi.encode(CONFIRM_TYPEHASH, paymentId, op.nonce, op.deadline));
        } else if (kind == OperationKind.Refund) {
            structHash = keccak256(abi.encode(REFUND_TYPEHASH, paymentId, op.amount, op.reason, op.nonce, op.deadline));
        } else if (kind == OperationKind.Dispute) {
            structHash = keccak256(abi.encode(DISPUTE_TYPEHASH, paymentId, op.reason, op.nonce, op.deadline));
        } else if (kind == OperationKind.Resolve) {
            structHash = keccak256(abi.encode(RESOLVE_TYPEHASH, paymentId, op.amount, op.reason, op.nonce, op.deadline));
        } else {
            structHash = keccak256(abi.encode(RECLAIM_TYPEHASH, paymentId, op.nonce, op.deadline));
        }
        return _hashTypedDataV4(structHash);
    }

    /// @dev Calls {executeFromBatch} with `op`'s own calldata bytes instead of re-encoding the struct: its
    /// offsets are relative to its start, so the bytes from there to the end of its signature are its
    /// encoding. The call data is written past the free memory pointer and not kept, so memory does not
    /// grow with the batch. Reading the signature's length first makes Solidity check that the item,
    /// signature included, lies inside the calldata.
    function _forwardToSelf(Operation calldata op) private returns (bool ok) {
        uint256 signatureLength = op.signature.length;
        bytes4 selector = this.executeFromBatch.selector;
        assembly ("memory-safe") {
            // Head: kind, the 12 words of the terms, amount, reason, nonce, deadline, the signature's offset.
            let size := add(add(calldataload(add(op, 544)), 32), and(add(signatureLength, 31), not(31)))
            if lt(size, 576) {
                size := 576
            }
            let ptr := mload(0x40)
            mstore(ptr, selector)
            mstore(add(ptr, 4), 0x20)
            calldatacopy(add(ptr, 36), op, size)
            ok := call(gas(), address(), 0, ptr, add(size, 36), 0, 0)
        }
    }

    /// @dev The last call's return data (a failed item's revert data).
    function _returnData() private pure returns (bytes memory data) {
        assembly ("memory-safe") {
            data := mload(0x40)
            mstore(data, returndatasize())
            returndatacopy(add(data, 32), 0, returndatasize())
            mstore(0x40, add(add(data, 32), and(add(returndatasize(), 31), not(31))))
        }
    }

    // ---------------------------------------------------------------- checks

    /// @dev keccak256(abi.encode(PAYMENT_TYPEHASH, terms)) from the terms' calldata words as they are: the terms
    /// have only static fields, so their 12 words are their encoding. Each word is checked as the ABI decoder
    /// would, so a word with dirty high bits is refused instead of giving the same terms a second id.
    function _hashTerms(PaymentTerms calldata terms) private pure returns (bytes32 structHash) {
        bytes32 typehash = PAYMENT_TYPEHASH;
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, typehash)
            calldatacopy(add(ptr, 0x20), terms, 384)
            // payer, merchant, token: 160 bits; feeBps 16; direct 1; payDeadline 64; the three periods 32.
            let dirty := or(or(shr(160, mload(add(ptr, 0x20))), shr(160, mload(add(ptr, 0x40)))), shr(160, mload(add(ptr, 0x60))))
            dirty := or(dirty, or(shr(16, mload(add(ptr, 0xc0))), shr(1, mload(add(ptr, 0xe0)))))
            dirty := or(dirty, or(shr(64, mload(add(ptr, 0x100))), shr(32, mload(add(ptr, 0x120)))))
            dirty := or(dirty, or(shr(32, mload(add(ptr, 0x140))), shr(32, mload(add(ptr, 0x160)))))
            if dirty {
                revert(0, 0)
            }
            structHash := keccak256(ptr, 416)
        }
    }


    function _requireCaller(address expected) private view {
        if (msg.sender != expected) revert Errors.InvalidSigner(msg.sender, expected);
    }

    function _requireStatus(bytes32 paymentId, PaymentStatus status, PaymentStatus expected) private pure {
        if (status != expected) revert InvalidPaymentStatus(paymentId, _existing(paymentId, status));
    }

    /// @dev Distinguishes "unknown payment" from "wrong status" in errors.
    function _existing(bytes32 paymentId, PaymentStatus status) private pure returns (PaymentStatus) {
        if (status == PaymentStatus.None) revert PaymentNotFound(paymentId);
        return status;
    }

    function _isHeld(PaymentStatus status) private pure returns (bool) {
        return status == PaymentStatus.Held || status == PaymentStatus.Fulfilled || status == PaymentStatus.Disputed;
    }

    function _requireAdminOrRegulator() private view {
        if (!registry.hasRole(Roles.ADMIN, msg.sender) && !registry.hasRole(Roles.REGULATOR, msg.sender)) {
            revert Errors.Unauthorized(msg.sender, Roles.REGULATOR);
        }
    }
}
