// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IParticipantRegistry} from "./IParticipantRegistry.sol";

/// @title Settlement token interface
/// @notice Custom errors and events of {SettlementToken}, and what the registry calls on it; the errors it shares with other contracts
/// (`Unauthorized`, `InvalidSigner`, `SignatureExpired`, `NonceAlreadyUsed`, `ZeroAmount`) are in {Errors}.
interface ISettlementToken {
    /// @notice A custodian's latest reserve attestation, signed by its reserve attestor.
    struct ReserveAttestation {
        /// @notice Reserves held at the custodian bank, in token minor units.
        uint256 amount;
        /// @notice Hash of the bank statement backing the figure.
        bytes32 statementHash;
        /// @notice When the attestation was recorded on-chain.
        uint64 attestedAt;
        /// @notice The time (unix seconds) at which the reserve account held `amount`, as the attestor states it.
        uint64 asOf;
        /// @notice The attestor's statement number: each accepted one is higher than the last.
        uint64 sequence;
    }

    /// @notice `caller` is not the registry this token is bound to.
    error NotRegistry(address caller);
    /// @notice {pullPayment} called by an account that is not the escrow.
    error NotEscrow(address caller);
    /// @notice `payer` is not a registered, active customer or merchant (the escrow's error of the same name).
    error PayerNotActive(address payer);
    /// @notice `caller` is not an active custodian institution of this token.
    error NotCustodian(address caller);
    /// @notice `account` is not a registered, active participant or protocol contract.
    error AccountNotPermitted(address account);
    /// @notice `account` is frozen by a regulator.
    error AccountIsFrozen(address account);
    /// @notice The escrow was already named (see {SettlementToken-setEscrow}).
    error EscrowAlreadySet(address escrow);
    /// @notice `account` is already in the requested freeze state.
    error FreezeStateUnchanged(address account, bool frozen);
    /// @notice Minting would take `custodian`'s outstanding supply above its attested reserves.
    error ReservesExceeded(address custodian, uint256 outstandingAfter, uint256 attestedReserves);
    /// @notice `caller` is not the reserve attestor the registry names for `custodian`.
    error NotReserveAttestor(address caller, address custodian);
    /// @notice A reserve statement numbered `sequence` arrived after statement `latestSequence` of `custodian`.
    error AttestationOutOfOrder(address custodian, uint64 sequence, uint64 latestSequence);
    /// @notice A reserve statement as of `asOf` is later than the block, or earlier than the latest one (`latestAsOf`).
    error AttestationTimeInvalid(address custodian, uint64 asOf, uint64 latestAsOf);
    /// @notice Burning more than `custodian` has outstanding.
    error BurnExceedsOutstanding(address custodian, uint256 amount, uint256 outstanding);
    /// @notice A redemption with bank reference `bankRef` already executed.
    error RedemptionReferenceUsed(bytes32 bankRef);

    /// @notice `custodian` minted `amount` to `to` against bank deposit `bankRef`.
    event Minted(address indexed custodian, address indexed to, uint256 amount, bytes32 indexed bankRef);
    /// @notice `custodian` burned `amount` from `from` for bank payout `bankRef`.
    event Burned(address indexed custodian, address indexed from, uint256 amount, bytes32 indexed bankRef);
    /// @notice `holder` redeemed `amount` of its own balance, signed by itself, for bank payout `bankRef` drawn on
    /// `custodian`'s reserves (emitted after the matching {Burned}).
    event Redeemed(address indexed holder, address indexed custodian, uint256 amount, bytes32 indexed bankRef);
    /// @notice `attestor` stated that `custodian`'s reserves were `amount` at `asOf` (statement `sequence`, hash
    /// `statementHash`), when `custodian` had `outstanding` minted and not burned.
    event ReservesAttested(
        address indexed custodian,
        address indexed attestor,
        uint256 amount,
        uint64 asOf,
        uint64 sequence,
        bytes32 statementHash,
        uint256 outstanding
    );
    /// @notice A regulator froze or unfroze `account`.
    event FreezeChanged(address indexed account, bool frozen, address indexed regulator, bytes32 reason);
    /// @notice The admin named the escrow whose unlimited allowances are kept in the owners' balance slots.
    event EscrowSet(address indexed escrow);
    /// @notice The admin made `institution` a custodian of this token, or removed it.
    event CustodianChanged(address indexed institution, bool custodian);

    /// @notice The registry this token is bound to: the only source of its accounts' permissions.
    function registry() external view returns (IParticipantRegistry);

    /// @notice Records whether `account` may hold and move this token, and pay into escrow with it (registry
    /// only). The registry calls it whenever an account is registered, suspended or reactivated, or an
    /// institution key changes.
    /// @param account The account.
    /// @param permitted The registry's {IParticipantRegistry-isPermitted} for it.
    /// @param payer The registry's {IParticipantRegistry-mayPay} for it.
    function setPermitted(address account, bool permitted, bool payer) external;

    /// @notice This token's copy of the registry's permissions for `account`. `recorded` is false for an account
    /// admitted before the token was registered and not moved since: its first transfer asks the registry.
    /// @return recorded Whether the token holds the registry's answers.
    /// @return permitted Whether it may hold and move the token (false when not recorded).
    /// @return payer Whether it may pay into escrow (false when not recorded).
    function permissionOf(address account) external view returns (bool recorded, bool permitted, bool payer);

    /// @notice The escrow takes `amount` from `payer` for a payment: {transferFrom} by the escrow to itself, and
    /// `payer` must be allowed to pay ({IParticipantRegistry-mayPay}), so the escrow needs no registry read of
    /// the payer.
    /// @param payer The paying account.
    /// @param amount Minor units.
    function pullPayment(address payer, uint256 amount) external;
}
