// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title Payment escrow interface
/// @notice Types, custom errors and events of {PaymentEscrow}; the errors it shares with other contracts
/// (`Unauthorized`, `InvalidSigner`, `SignatureExpired`, `NonceAlreadyUsed`, `ZeroAmount`, `ZeroAddress`) are in {Errors}.
interface IPaymentEscrow {
    /// @notice Where a payment stands. Values only ever increase over a payment's life.
    enum PaymentStatus {
        None,
        Held,
        Fulfilled,
        Disputed,
        Released,
        Refunded,
        Resolved,
        Reclaimed
    }

    /// @notice The escrow operations (the public surface shared with nodes, API and docs).
    enum OperationKind {
        Pay,
        MarkFulfilled,
        Confirm,
        Release,
        Refund,
        Dispute,
        Resolve,
        Reclaim
    }

    /// @notice The terms a payer signs; their EIP-712 digest is the payment id.
    struct PaymentTerms {
        /// @notice Who pays (a registered, active customer or merchant).
        address payer;
        /// @notice Who is paid (a registered, active merchant).
        address merchant;
        /// @notice The settlement token (currency).
        address token;
        /// @notice Amount in the token's minor units.
        uint256 amount;
        /// @notice The merchant's order id (hash or left-aligned bytes of it).
        bytes32 orderId;
        /// @notice Platform fee in basis points; must equal the merchant's registered fee at payment time.
        uint16 feeBps;
        /// @notice True for a direct payment: released to the merchant at once, no hold.
        bool direct;
        /// @notice The payment must be made by this time (order expiry).
        uint64 payDeadline;
        /// @notice Seconds after payment within which the merchant must mark the order fulfilled;
        /// afterwards an unfulfilled payment may be reclaimed by the payer.
        uint32 fulfilmentPeriod;
        /// @notice Seconds after fulfilment after which anyone may release the payment to the merchant.
        uint32 autoReleasePeriod;
        /// @notice Seconds after release during which the merchant may still refund.
        uint32 refundPeriod;
        /// @notice Makes otherwise identical terms a distinct payment.
        uint256 nonce;
    }

    /// @notice What the escrow stores per payment (one storage slot).
    struct PaymentState {
        /// @notice Current status.
        PaymentStatus status;
        /// @notice The amount paid.
        uint96 amount;
        /// @notice Total refunded (and, after a resolution, awarded back) to the payer so far.
        uint96 refunded;
        /// @notice Held: fulfilment deadline; Fulfilled: auto-release time; Released: end of the refund window.
        uint40 deadline;
    }

    /// @notice One relayed operation: the actor's EIP-712 signature lets any relayer submit it.
    struct Operation {
        /// @notice Which operation.
        OperationKind kind;
        /// @notice The payment's terms (identify the payment and its parties).
        PaymentTerms terms;
        /// @notice Refund: amount refunded. Resolve: amount awarded to the payer. Otherwise zero.
        uint256 amount;
        /// @notice Refund, dispute and resolve: reason reference. Otherwise zero.
        bytes32 reason;
        /// @notice Signer's unordered nonce (ignored for Pay, whose nonce is in the terms, and Release).
        uint256 nonce;
        /// @notice Signature deadline (ignored for Pay, which uses `payDeadline`, and Release).
        uint256 deadline;
        /// @notice The actor's EIP-712 signature (empty for Release).
        bytes signature;
    }

    /// @notice The payment was already paid (a payment id is paid at most once, ever).
    error PaymentAlreadyExists(bytes32 paymentId);
    /// @notice No payment with this id.
    error PaymentNotFound(bytes32 paymentId);
    /// @notice The operation is not allowed in the payment's current status.
    error InvalidPaymentStatus(bytes32 paymentId, PaymentStatus status);
    /// @notice The order expired before payment.
    error PaymentExpired(bytes32 paymentId, uint64 payDeadline);
    /// @notice `signer` lacks the arbiter role.
    error NotArbiter(address signer);
    /// @notice The amount does not fit the escrow's 96-bit accounting.
    error AmountTooLarge(uint256 amount);
    /// @notice The token is not admitted by the registry (as a settlement or a foreign token).
    error UnsupportedToken(address token);
    /// @notice The merchant is not a registered, active merchant.
    error MerchantNotActive(address merchant);
    /// @notice The payer is not a registered, active customer or merchant.
    error PayerNotActive(address payer);
    /// @notice The terms' fee differs from the merchant's registered fee.
    error FeeMismatch(uint16 termsFeeBps, uint16 merchantFeeBps);
    /// @notice A foreign token delivered a different amount than requested (e.g. a fee-on-transfer token).
    error TransferAmountMismatch(uint256 expected, uint256 received);
    /// @notice The fulfilment deadline passed (the payer may now reclaim).
    error FulfilmentDeadlinePassed(bytes32 paymentId, uint40 deadline);
    /// @notice Auto-release is not due until `releaseAt`.
    error ReleaseNotDue(bytes32 paymentId, uint40 releaseAt);
    /// @notice Reclaim is possible only after the fulfilment deadline.
    error ReclaimNotDue(bytes32 paymentId, uint40 fulfilmentDeadline);
    /// @notice The refund window closed.
    error RefundWindowClosed(bytes32 paymentId, uint40 refundDeadline);
    /// @notice A refund larger than what can still be refunded.
    error RefundExceedsAvailable(bytes32 paymentId, uint256 amount, uint256 available);
    /// @notice A resolution awarding the payer more than is held.
    error ResolutionExceedsHeld(bytes32 paymentId, uint256 payerAmount, uint256 held);
    /// @notice The auto-release time has come: the payment can no longer be disputed.
    error DisputeWindowClosed(bytes32 paymentId, uint40 releaseAt);
    /// @notice The fee receiver given at deployment is not a registered, active account (settlement tokens
    /// could never pay it).
    error FeeReceiverNotRegistered(address feeReceiver);
    /// @notice An internal entry point called from outside.
    error OnlySelf();

    /// @notice A payment was made: held in escrow, or (direct) released at once.
    /// @param deadline Held: fulfilment deadline. Direct: end of the refund window.
    event PaymentPaid(
        bytes32 indexed paymentId,
        address indexed payer,
        address indexed merchant,
        address token,
        uint256 amount,
        bytes32 orderId,
        uint16 feeBps,
        bool direct,
        uint40 deadline
    );
    /// @notice The merchant marked the order fulfilled; auto-release is due at `releaseAt`.
    event PaymentFulfilled(bytes32 indexed paymentId, uint40 releaseAt);
    /// @notice Funds went to the merchant (confirm, auto-release or direct payment), less `fee`.
    event PaymentReleased(
        bytes32 indexed paymentId,
        address indexed merchant,
        uint256 merchantAmount,
        uint256 fee,
        uint40 refundDeadline
    );
    /// @notice The merchant refunded `amount`; `remaining` is what can still be refunded.
    event PaymentRefunded(bytes32 indexed paymentId, address indexed payer, uint256 amount, uint256 remaining, bytes32 reason);
    /// @notice The payer opened a dispute; auto-release is suspended.
    event PaymentDisputed(bytes32 indexed paymentId, address indexed payer, bytes32 reason);
    /// @notice An arbiter split the held amount.
    event PaymentResolved(
        bytes32 indexed paymentId,
        address indexed arbiter,
        uint256 payerAmount,
        uint256 merchantAmount,
        uint256 fee,
        bytes32 reason
    );
    /// @notice The payer took back a payment the merchant never fulfilled.
    event PaymentReclaimed(bytes32 indexed paymentId, address indexed payer, uint256 amount);
    /// @notice Item `index` of a relayed batch failed with `reason` (the revert data); the others ran.
    /// @param index The item's position in the batch.
    /// @param kind The item's operation kind.
    /// @param paymentId The payment the item acts on.
    /// @param operationId The item's operation id, as nodes identify it without the calldata: the EIP-712
    /// digest its actor signed (for Pay the payment id; for Release keccak256("settlenet.release:" ‖ paymentId)).
    /// @param reason The revert data.
    event OperationFailed(
        uint256 indexed index,
        OperationKind kind,
        bytes32 indexed paymentId,
        bytes32 operationId,
        bytes reason
    );
}
