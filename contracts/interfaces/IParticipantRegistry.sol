// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";

/// @title Settlenet participant registry interface
/// @notice Who may take part in the network: institutions (run nodes), merchants and customers
/// (opened by their institution), regulators, arbiters, settlement tokens and protocol contracts.
/// The error it shares with other contracts (`ZeroAddress`) is in {Errors}.
interface IParticipantRegistry is IAccessControl {
    /// @notice What kind of account a registered address is.
    enum AccountKind {
        None,
        Institution,
        Merchant,
        Customer,
        Protocol
    }

    /// @notice Lifecycle of a registered account. `None` means never registered.
    enum AccountStatus {
        None,
        Active,
        Suspended
    }

    /// @notice How a token is admitted. `None`: not admitted. `Settlement`: a Settlenet {SettlementToken}
    /// bound to this registry, which keeps a copy of every account's permission (pushed by the registry)
    /// and moves exactly the amount asked. `Foreign`: any other ERC-20 governance admits; the escrow
    /// measures what each pull delivers.
    enum TokenKind {
        None,
        Settlement,
        Foreign
    }

    /// @notice The compact, single-slot record every account has; read on hot paths.
    struct AccountRecord {
        /// @notice What the account is.
        AccountKind kind;
        /// @notice Whether it may currently act.
        AccountStatus status;
        /// @notice Know-your-customer level assigned by the institution (0 for institutions).
        uint8 kycLevel;
        /// @notice Merchant fee in basis points (0 for other kinds).
        uint16 feeBps;
        /// @notice The institution that opened the account (the institution itself for institutions).
        address institution;
    }

    /// @notice A node operator (institution or regulator) as seen by the gossip network.
    struct NodeRecord {
        /// @notice The operator's id: the account it registered with (never changes).
        address account;
        /// @notice The operator's current signing key.
        address signer;
        /// @notice The libp2p peer id of the operator's node (string form, e.g. `12D3KooW...`).
        string peerId;
        /// @notice Human readable name.
        string name;
        /// @notice True for regulator nodes (read-only observers), false for institutions.
        bool regulator;
        /// @notice True while the node may connect to the network.
        bool active;
    }

    /// @notice `account` is already registered.
    error AccountAlreadyRegistered(address account);
    /// @notice `account` is not registered as `expected`.
    error AccountKindMismatch(address account, AccountKind expected, AccountKind actual);
    /// @notice `account` is not active.
    error AccountNotActive(address account);
    /// @notice A fee above the registry maximum.
    error FeeAboveMaximum(uint16 feeBps, uint16 maxFeeBps);
    /// @notice A maximum fee above 100%.
    error InvalidMaximumFee(uint16 maxFeeBps);
    /// @notice `account` is not a registered regulator node.
    error NotRegulator(address account);
    /// @notice `signer` is already in use as a key.
    error SignerAlreadyInUse(address signer);
    /// @notice `caller` is not the current key of an active institution.
    error NotActiveInstitution(address caller);
    /// @notice The caller is not the institution that opened `account`.
    error NotAccountInstitution(address caller, address account);
    /// @notice An empty peer id or name.
    error EmptyField(string field);
    /// @notice The status transition is not allowed (same status, or to `None`).
    error InvalidStatus(address account, AccountStatus status);
    /// @notice `peerId` is already bound to another node.
    error PeerIdTaken(string peerId);
    /// @notice `token` is already admitted (as a settlement or a foreign token).
    error TokenAlreadyRegistered(address token);
    /// @notice `token` does not take this registry's permission updates (not a settlement token bound to it).
    error TokenNotBound(address token);
    /// @notice `key` is already a participant account, an operator key, a custodian key or a reserve attestor,
    /// so it cannot take on a separate power.
    error KeyNotIndependent(address key);

    /// @notice An institution joined the network.
    event InstitutionRegistered(address indexed account, string peerId, string name);
    /// @notice A node operator's signing key was rotated; `institution` (its id) is unchanged.
    event InstitutionKeyRotated(address indexed institution, address indexed previousSigner, address indexed newSigner);
    /// @notice A node operator's libp2p peer id changed.
    event PeerIdUpdated(address indexed account, string previousPeerId, string peerId);
    /// @notice A regulator joined the network (granted the regulator role and a node).
    event RegulatorRegistered(address indexed account, string peerId, string name);
    /// @notice A merchant was onboarded by its acquiring institution.
    event MerchantRegistered(
        address indexed account,
        address indexed institution,
        uint8 kycLevel,
        uint16 feeBps,
        bytes32 payoutAccount
    );
    /// @notice A merchant's fee changed.
    event MerchantFeeUpdated(address indexed account, uint16 feeBps);
    /// @notice A merchant's payout (bank) account reference changed.
    event MerchantPayoutAccountUpdated(address indexed account, bytes32 payoutAccount);
    /// @notice A customer account (a payer) was opened by its institution.
    event CustomerRegistered(address indexed account, address indexed institution, uint8 kycLevel);
    /// @notice An account's KYC level changed.
    event KycLevelUpdated(address indexed account, uint8 kycLevel);
    /// @notice An account was activated or suspended.
    event AccountStatusChanged(address indexed account, AccountKind kind, AccountStatus status);
    /// @notice A protocol account (escrow, ledger, fee receiver) may hold settlement tokens.
    event ProtocolAccountRegistered(address indexed account);
    /// @notice A settlement token was admitted for payments; the registry now keeps its permissions current.
    event SettlementTokenRegistered(address indexed token);
    /// @notice A foreign ERC-20 was admitted for escrow payments (each pull's delivered amount is checked).
    event ForeignTokenRegistered(address indexed token);
    /// @notice The maximum merchant fee changed.
    event MaxFeeUpdated(uint16 maxFeeBps);
    /// @notice Governance named `attestor` as the independent party whose signed statements are the reserves of
    /// custodian `institution` (zero: none, so no attestation is accepted).
    event ReserveAttestorSet(address indexed institution, address indexed attestor);
    /// @notice Governance gave `institution` a custodian key of its own: it alone mints and burns for the
    /// institution, and the operator key no longer does (zero: the operator key again).
    event CustodianKeySet(address indexed institution, address indexed key);

    /// @notice The single-slot record of `account` (all zero if unknown).
    function accountOf(address account) external view returns (AccountRecord memory);
    /// @notice What the escrow checks of the merchant and the token before a payment, in one call. The payer is
    /// checked by a settlement token itself (the registry pushes {mayPay} to it), by {mayPay} for a foreign token.
    /// @param merchant The account paid.
    /// @param token The token paid in.
    /// @return tokenKind How `token` is admitted (`None`: refused).
    /// @return merchantActive Whether `merchant` is a registered, active merchant.
    /// @return merchantFeeBps The merchant's registered fee (the terms must carry it).
    function paymentCheck(
        address merchant,
        address token
    ) external view returns (TokenKind tokenKind, bool merchantActive, uint16 merchantFeeBps);
    /// @notice True if `account` may pay into escrow: a registered, active customer or merchant. Settlement
    /// tokens hold a copy the registry pushes.
    function mayPay(address account) external view returns (bool);
    /// @notice True if `account` may hold and move settlement tokens: a registered, active account (of any
    /// kind) or the current key of an active institution. Settlement tokens hold a copy the registry pushes.
    function isPermitted(address account) external view returns (bool);
    /// @notice True if `account` is registered, active, and not a protocol contract.
    function isActiveParticipant(address account) external view returns (bool);
    /// @notice True if `signer` is the current key of an active institution.
    function isActiveInstitution(address signer) external view returns (bool);
    /// @notice The institution id (its first account) whose current signing key is `signer`; zero if none.
    function institutionOfSigner(address signer) external view returns (address);
    /// @notice The current signing key of institution `institution`.
    function signerOf(address institution) external view returns (address);
    /// @notice Number of active institutions (the quorum base for settlement attestations).
    function activeInstitutionCount() external view returns (uint256);
    /// @notice What the settlement ledger checks of a cycle's attesters, in one call.
    /// @param signers The keys that signed the attestations.
    /// @return activeInstitutions {activeInstitutionCount}.
    /// @return institutions Per signer, its institution if it is the current key of an active institution, else zero.
    function attestersOf(
        address[] calldata signers
    ) external view returns (uint256 activeInstitutions, address[] memory institutions);
    /// @notice True if `token` is an admitted settlement token (not a foreign one).
    function isSettlementToken(address token) external view returns (bool);
    /// @notice How `token` was admitted (`None` if it was not).
    function tokenKindOf(address token) external view returns (TokenKind);
    /// @notice Highest merchant fee allowed, in basis points.
    function maxFeeBps() external view returns (uint16);
    /// @notice The reserve attestor of custodian `institution` (zero if none).
    function reserveAttestorOf(address institution) external view returns (address);
    /// @notice The custodian key of `institution` (zero: its operator key acts as custodian).
    function custodianKeyOf(address institution) external view returns (address);
    /// @notice The active institution for which `key` may act as custodian: the institution whose custodian key
    /// it is, or whose operator key it is when that institution has no custodian key; zero otherwise.
    function custodianInstitutionOf(address key) external view returns (address);
    /// @notice Role of regulators.
    function REGULATOR_ROLE() external view returns (bytes32);
    /// @notice Role of dispute arbiters.
    function ARBITER_ROLE() external view returns (bytes32);
}
