// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

import {IParticipantRegistry} from "./interfaces/IParticipantRegistry.sol";
import {ISettlementToken} from "./interfaces/ISettlementToken.sol";
import {Errors} from "./utils/Errors.sol";
import {Roles} from "./utils/Roles.sol";

/// @title ParticipantRegistry
/// @notice The consortium's membership list. The admin (consortium governance) admits institutions,
/// regulators, arbiters, settlement tokens and protocol contracts; each institution onboards its own
/// merchants and customers (real-name rule: every account holder is known to some institution).
/// Nodes build their libp2p peer allowlist from {nodes}.
/// @dev Every account has one packed {AccountRecord}, so the escrow's payment checks ({paymentParties}) cost
/// one SLOAD per party. Settlement tokens do not call the registry per transfer: whenever an account's
/// permission ({isPermitted}) can change, the registry pushes it to every settlement token, in the same
/// transaction, after its own state change.
/// An institution is identified by the account it registered with; its signing key can be rotated.
contract ParticipantRegistry is AccessControl, IParticipantRegistry {
    /// @notice Role of regulators: freeze accounts, pause, read-only nodes.
    bytes32 public constant REGULATOR_ROLE = Roles.REGULATOR;
    /// @notice Role of arbiters: resolve disputes.
    bytes32 public constant ARBITER_ROLE = Roles.ARBITER;

    uint16 private constant _BPS = 10_000;

    mapping(address account => AccountRecord) private _accounts;
    mapping(address account => bytes32) private _payoutAccounts;
    mapping(address signer => address institution) private _institutionOfSigner;
    mapping(address institution => address signer) private _signerOf;
    mapping(address operator => NodeRecord) private _nodes;
    mapping(bytes32 peerIdHash => address operator) private _peerIdOwner;
    mapping(address token => TokenKind) private _tokenKinds;
    mapping(address institution => address attestor) private _reserveAttestorOf;
    mapping(address institution => address key) private _custodianKeyOf;
    mapping(address key => address institution) private _institutionOfCustodianKey;
    /// @dev Keys that hold a separate power (custodian keys and reserve attestors), so none takes on another.
    mapping(address key => bool) private _powerKeys;
    address[] private _settlementTokens;
    address[] private _operators;
    uint256 private _activeInstitutions;
    uint16 private _maxFeeBps;

    /// @param admin Consortium governance account (DEFAULT_ADMIN_ROLE).
    /// @param initialMaxFeeBps Highest merchant fee allowed, in basis points.
    constructor(address admin, uint16 initialMaxFeeBps) {
        if (admin == address(0)) revert Errors.ZeroAddress();
        if (initialMaxFeeBps > _BPS) revert InvalidMaximumFee(initialMaxFeeBps);
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _maxFeeBps = initialMaxFeeBps;
        emit MaxFeeUpdated(initialMaxFeeBps);
    }

    modifier onlyActiveInstitution() {
        _requireActiveInstitution(msg.sender);
        _;
    }

    // ---------------------------------------------------------------- institutions and regulators

    /// @notice Admits an institution with its node's libp2p peer id.
    /// @param account The institution's id and first signing key.
    /// @param peerId The libp2p peer id of its node.
    /// @param name Display name.
    function registerInstitution(
        address account,
        string calldata peerId,
        string calldata name
    ) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _registerOperator(account, peerId, name, false);
        _accounts[account] = AccountRecord({
            kind: AccountKind.Institution,
            status: AccountStatus.Active,
            kycLevel: 0,
            feeBps: 0,
            institution: account
        });
        _activeInstitutions += 1;
        emit InstitutionRegistered(account, peerId, name);
        _pushPermission(account);
    }

    /// @notice Admits a regulator: grants REGULATOR_ROLE and registers its read-only node.
    /// @param account The regulator's id and signing key.
    /// @param peerId The libp2p peer id of its node.
    /// @param name Display name.
    function registerRegulator(
        address account,
        string calldata peerId,
        string calldata name
    ) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _registerOperator(account, peerId, name, true);
        _grantRole(REGULATOR_ROLE, account);
        emit RegulatorRegistered(account, peerId, name);
    }

    /// @notice Suspends or reactivates an institution; a suspended institution's node is disconnected.
    /// @param institution The institution id.
    /// @param status `Active` or `Suspended`.
    function setInstitutionStatus(address institution, AccountStatus status) external onlyRole(DEFAULT_ADMIN_ROLE) {
        AccountRecord storage record = _accounts[institution];
        _requireKind(institution, record.kind, AccountKind.Institution);
        _requireStatusChange(institution, record.status, status);
        record.status = status;
        _nodes[institution].active = status == AccountStatus.Active;
        if (status == AccountStatus.Active) _activeInstitutions += 1;
        else _activeInstitutions -= 1;
        emit AccountStatusChanged(institution, AccountKind.Institution, status);
        _pushPermission(institution);
        address signer = _signerOf[institution];
        if (signer != institution) _pushPermission(signer);
    }

    /// @notice Suspends or reactivates a regulator's node (the role itself is managed by AccessControl).
    /// @param regulator The regulator id.
    /// @param active Whether its node may connect.
    function setRegulatorNodeActive(address regulator, bool active) external onlyRole(DEFAULT_ADMIN_ROLE) {
        NodeRecord storage node = _nodes[regulator];
        if (!node.regulator) revert NotRegulator(regulator);
        if (node.active == active) {
            revert InvalidStatus(regulator, active ? AccountStatus.Active : AccountStatus.Suspended);
        }
        node.active = active;
        emit AccountStatusChanged(
            regulator,
            AccountKind.None,
            active ? AccountStatus.Active : AccountStatus.Suspended
        );
    }

    /// @notice Rotates the caller's signing key (active institution or regulator); the id stays the same.
    /// @param newSigner The new key.
    function rotateKey(address newSigner) external {
        _rotate(_activeOperatorOf(msg.sender), newSigner);
    }

    /// @notice Rotates a node operator's signing key on its behalf (lost or compromised key).
    /// @param operator The institution or regulator id.
    /// @param newSigner The new key.
    function rotateKeyFor(address operator, address newSigner) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (_signerOf[operator] == address(0)) revert NotActiveInstitution(operator);
        _rotate(operator, newSigner);
    }

    /// @notice Changes the caller's node peer id (active institution or regulator).
    /// @param peerId The new libp2p peer id.
    function updatePeerId(string calldata peerId) external {
        address operator = _activeOperatorOf(msg.sender);
        if (bytes(peerId).length == 0) revert EmptyField("peerId");
        bytes32 key = keccak256(bytes(peerId));
        if (_peerIdOwner[key] != address(0)) revert PeerIdTaken(peerId);
        NodeRecord storage node = _nodes[operator];
        string memory previous = node.peerId;
        delete _peerIdOwner[keccak256(bytes(previous))];
        _peerIdOwner[key] = operator;
        node.peerId = peerId;
        emit PeerIdUpdated(operator, previous, peerId);
    }

    // ---------------------------------------------------------------- merchants and customers

    /// @notice Onboards a merchant acquired by the calling institution.
    /// @param account The merchant's account.
    /// @param kycLevel Its KYC level.
    /// @param feeBps Its fee in basis points (at most {maxFeeBps}).
    /// @param payoutAccount Reference (hash) of the bank account payouts go to.
    function registerMerchant(
        address account,
        uint8 kycLevel,
        uint16 feeBps,
        bytes32 payoutAccount
    ) external onlyActiveInstitution {
        _requireNewAccount(account);
        _requireFee(feeBps);
        address institution = _institutionOfSigner[msg.sender];
        _accounts[account] = AccountRecord({
            kind: AccountKind.Merchant,
            status: AccountStatus.Active,
            kycLevel: kycLevel,
            feeBps: feeBps,
            institution: institution
        });
        _payoutAccounts[account] = payoutAccount;
        emit MerchantRegistered(account, institution, kycLevel, feeBps, payoutAccount);
        _pushPermission(account);
    }

    /// @notice Opens a customer (payer) account at the calling institution.
    /// @param account The customer's account.
    /// @param kycLevel Its KYC level.
    function registerCustomer(address account, uint8 kycLevel) external onlyActiveInstitution {
        _requireNewAccount(account);
        address institution = _institutionOfSigner[msg.sender];
        _accounts[account] = AccountRecord({
            kind: AccountKind.Customer,
            status: AccountStatus.Active,
            kycLevel: kycLevel,
            feeBps: 0,
            institution: institution
        });
        emit CustomerRegistered(account, institution, kycLevel);
        _pushPermission(account);
    }

    /// @notice Changes a merchant's fee (its acquiring institution only).
    /// @param account The merchant.
    /// @param feeBps The new fee in basis points.
    function setMerchantFee(address account, uint16 feeBps) external {
        AccountRecord storage record = _ownedAccount(account);
        _requireKind(account, record.kind, AccountKind.Merchant);
        _requireFee(feeBps);
        record.feeBps = feeBps;
        emit MerchantFeeUpdated(account, feeBps);
    }

    /// @notice Changes a merchant's payout bank account reference (its acquiring institution only).
    /// @param account The merchant.
    /// @param payoutAccount The new reference.
    function setMerchantPayoutAccount(address account, bytes32 payoutAccount) external {
        AccountRecord storage record = _ownedAccount(account);
        _requireKind(account, record.kind, AccountKind.Merchant);
        _payoutAccounts[account] = payoutAccount;
        emit MerchantPayoutAccountUpdated(account, payoutAccount);
    }

    /// @notice Changes a merchant's or customer's KYC level (its institution only).
    /// @param account The merchant or customer.
    /// @param kycLevel The new level.
    function setKycLevel(address account, uint8 kycLevel) external {
        AccountRecord storage record = _ownedAccount(account);
        record.kycLevel = kycLevel;
        emit KycLevelUpdated(account, kycLevel);
    }

    /// @notice Suspends or reactivates a merchant or customer (its institution, or the admin).
    /// @param account The merchant or customer.
    /// @param status `Active` or `Suspended`.
    function setAccountStatus(address account, AccountStatus status) external {
        AccountRecord storage record = _accounts[account];
        if (record.kind != AccountKind.Merchant && record.kind != AccountKind.Customer) {
            revert AccountKindMismatch(account, AccountKind.Merchant, record.kind);
        }
        if (!hasRole(DEFAULT_ADMIN_ROLE, msg.sender)) {
            _requireActiveInstitution(msg.sender);
            if (_institutionOfSigner[msg.sender] != record.institution) {
                revert NotAccountInstitution(msg.sender, account);
            }
        }
        _requireStatusChange(account, record.status, status);
        record.status = status;
        emit AccountStatusChanged(account, record.kind, status);
        _pushPermission(account);
    }

    // ---------------------------------------------------------------- protocol configuration

    /// @notice Lets a protocol account (the escrow, the ledger, the fee receiver) hold and move
    /// settlement tokens.
    /// @param account The contract or account.
    function registerProtocolAccount(address account) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _requireNewAccount(account);
        _accounts[account] = AccountRecord({
            kind: AccountKind.Protocol,
            status: AccountStatus.Active,
            kycLevel: 0,
            feeBps: 0,
            institution: address(0)
        });
        emit ProtocolAccountRegistered(account);
        _pushPermission(account);
    }

    /// @notice Admits a settlement token for payments. From now on the registry pushes every permission
    /// change to it; accounts admitted earlier are looked up once, on their first transfer of the token.
    /// @param token The token; it must be bound to this registry.
    function registerSettlementToken(address token) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _requireNewToken(token);
        // Pushes go to every settlement token: one that refused them would block every registration.
        // solhint-disable-next-line avoid-low-level-calls
        (bool answered, bytes memory bound) = token.staticcall(abi.encodeCall(ISettlementToken.registry, ()));
        if (!answered || bound.length != 32 || abi.decode(bound, (address)) != address(this)) revert TokenNotBound(token);
        _tokenKinds[token] = TokenKind.Settlement;
        _settlementTokens.push(token);
        emit SettlementTokenRegistered(token);
    }

    /// @notice Admits an ERC-20 that is not a settlement token for escrow payments; the escrow checks that
    /// each pull delivers the full amount (a fee-on-transfer token is refused), and the token's own rules
    /// decide who may hold it. Never a rebasing token: the escrow holds payments by amount.
    /// @param token The token.
    function registerForeignToken(address token) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _requireNewToken(token);
        _tokenKinds[token] = TokenKind.Foreign;
        emit ForeignTokenRegistered(token);
    }

    /// @notice Sets the highest merchant fee; existing merchants keep theirs until changed.
    /// @param newMaxFeeBps The new maximum, at most 10,000.
    function setMaxFeeBps(uint16 newMaxFeeBps) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (newMaxFeeBps > _BPS) revert InvalidMaximumFee(newMaxFeeBps);
        _maxFeeBps = newMaxFeeBps;
        emit MaxFeeUpdated(newMaxFeeBps);
    }

    // ---------------------------------------------------------------- separated powers

    /// @notice Names the independent reserve attestor of custodian `institution` (the custodian's bank or
    /// auditor): settlement tokens accept that institution's reserve statements from this key only.
    /// @param institution The custodian institution's id.
    /// @param attestor The attestor's key; zero removes it. It may hold no other role or account.
    function setReserveAttestor(address institution, address attestor) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _requireKind(institution, _accounts[institution].kind, AccountKind.Institution);
        address previous = _reserveAttestorOf[institution];
        if (attestor != address(0)) _requireIndependentKey(attestor);
        if (previous != address(0)) delete _powerKeys[previous];
        if (attestor != address(0)) _powerKeys[attestor] = true;
        _reserveAttestorOf[institution] = attestor;
        emit ReserveAttestorSet(institution, attestor);
    }

    /// @notice Gives institution `institution` a custodian key distinct from its operator key: from then on
    /// only that key mints and burns for it, so the node's operator key (and whatever holds it) cannot.
    /// @param institution The institution's id.
    /// @param key The custodian key; zero makes the operator key the custodian key again.
    function setCustodianKey(address institution, address key) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _requireKind(institution, _accounts[institution].kind, AccountKind.Institution);
        address previous = _custodianKeyOf[institution];
        if (key != address(0)) _requireIndependentKey(key);
        if (previous != address(0)) {
            delete _institutionOfCustodianKey[previous];
            delete _powerKeys[previous];
        }
        if (key != address(0)) {
            _institutionOfCustodianKey[key] = institution;
            _powerKeys[key] = true;
        }
        _custodianKeyOf[institution] = key;
        emit CustodianKeySet(institution, key);
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc IParticipantRegistry
    function accountOf(address account) external view returns (AccountRecord memory) {
        return _accounts[account];
    }

    /// @notice The payout bank account reference of merchant `account`.
    function payoutAccountOf(address account) external view returns (bytes32) {
        return _payoutAccounts[account];
    }

    /// @inheritdoc IParticipantRegistry
    function paymentCheck(
        address merchant,
        address token
    ) external view returns (TokenKind tokenKind, bool merchantActive, uint16 merchantFeeBps) {
        AccountRecord storage merchantRecord = _accounts[merchant];
        return (
            _tokenKinds[token],
            merchantRecord.kind == AccountKind.Merchant && merchantRecord.status == AccountStatus.Active,
            merchantRecord.feeBps
        );
    }

    /// @inheritdoc IParticipantRegistry
    function mayPay(address account) public view returns (bool) {
        AccountRecord storage record = _accounts[account];
        AccountKind kind = record.kind;
        return record.status == AccountStatus.Active && (kind == AccountKind.Customer || kind == AccountKind.Merchant);
    }

    /// @inheritdoc IParticipantRegistry
    function isPermitted(address account) public view returns (bool) {
        // A rotated institution key is not an account of its own but may hold funds in transit.
        return _accounts[account].status == AccountStatus.Active || isActiveInstitution(account);
    }

    /// @inheritdoc IParticipantRegistry
    function isActiveParticipant(address account) external view returns (bool) {
        AccountRecord storage record = _accounts[account];
        return record.status == AccountStatus.Active && record.kind != AccountKind.Protocol;
    }

    /// @inheritdoc IParticipantRegistry
    function isActiveInstitution(address signer) public view returns (bool) {
        address institution = _institutionOfSigner[signer];
        if (institution == address(0)) return false;
        AccountRecord storage record = _accounts[institution];
        return record.kind == AccountKind.Institution && record.status == AccountStatus.Active;
    }

    /// @inheritdoc IParticipantRegistry
    function institutionOfSigner(address signer) external view returns (address) {
        return _institutionOfSigner[signer];
    }

    /// @inheritdoc IParticipantRegistry
    function signerOf(address institution) external view returns (address) {
        return _signerOf[institution];
    }

    /// @inheritdoc IParticipantRegistry
    function reserveAttestorOf(address institution) external view returns (address) {
        return _reserveAttestorOf[institution];
    }

    /// @inheritdoc IParticipantRegistry
    function custodianKeyOf(address institution) external view returns (address) {
        return _custodianKeyOf[institution];
    }

    /// @inheritdoc IParticipantRegistry
    function custodianInstitutionOf(address key) external view returns (address institution) {
        institution = _institutionOfCustodianKey[key];
        if (institution == address(0)) {
            institution = _institutionOfSigner[key];
            // An institution with a custodian key mints and burns with that key only.
            if (institution == address(0) || _custodianKeyOf[institution] != address(0)) return address(0);
        }
        AccountRecord storage record = _accounts[institution];
        if (record.kind != AccountKind.Institution || record.status != AccountStatus.Active) return address(0);
    }

    /// @inheritdoc IParticipantRegistry
    function activeInstitutionCount() external view returns (uint256) {
        return _activeInstitutions;
    }

    /// @inheritdoc IParticipantRegistry
    function attestersOf(
        address[] calldata signers
    ) external view returns (uint256 activeInstitutions, address[] memory institutions) {
        activeInstitutions = _activeInstitutions;
        uint256 count = signers.length;
        institutions = new address[](count);
        for (uint256 i = 0; i < count; ++i) {
            address institution = _institutionOfSigner[signers[i]];
            if (institution == address(0)) continue;
            AccountRecord storage record = _accounts[institution];
            if (record.kind == AccountKind.Institution && record.status == AccountStatus.Active) institutions[i] = institution;
        }
    }

    /// @inheritdoc IParticipantRegistry
    function isSettlementToken(address token) external view returns (bool) {
        return _tokenKinds[token] == TokenKind.Settlement;
    }

    /// @inheritdoc IParticipantRegistry
    function tokenKindOf(address token) external view returns (TokenKind) {
        return _tokenKinds[token];
    }

    /// @notice Every settlement token, in the order admitted (the tokens the registry pushes permissions to).
    function settlementTokens() external view returns (address[] memory) {
        return _settlementTokens;
    }

    /// @inheritdoc IParticipantRegistry
    function maxFeeBps() external view returns (uint16) {
        return _maxFeeBps;
    }

    /// @notice Every node operator ever registered (institutions and regulators), active or not;
    /// nodes admit peers whose record is `active`.
    function nodes() external view returns (NodeRecord[] memory list) {
        uint256 count = _operators.length;
        list = new NodeRecord[](count);
        for (uint256 i = 0; i < count; ++i) {
            list[i] = _nodes[_operators[i]];
        }
    }

    /// @notice The node operator bound to `peerId` (zero if none).
    function operatorOfPeer(string calldata peerId) external view returns (address) {
        return _peerIdOwner[keccak256(bytes(peerId))];
    }

    // ---------------------------------------------------------------- internals

    function _registerOperator(address account, string calldata peerId, string calldata name, bool regulator) private {
        if (account == address(0)) revert Errors.ZeroAddress();
        if (bytes(peerId).length == 0) revert EmptyField("peerId");
        if (bytes(name).length == 0) revert EmptyField("name");
        if (_accounts[account].kind != AccountKind.None || _nodes[account].account != address(0)) {
            revert AccountAlreadyRegistered(account);
        }
        if (_institutionOfSigner[account] != address(0)) revert SignerAlreadyInUse(account);
        if (_powerKeys[account]) revert KeyNotIndependent(account);
        bytes32 key = keccak256(bytes(peerId));
        if (_peerIdOwner[key] != address(0)) revert PeerIdTaken(peerId);
        _peerIdOwner[key] = account;
        _institutionOfSigner[account] = account;
        _signerOf[account] = account;
        _nodes[account] = NodeRecord({
            account: account,
            signer: account,
            peerId: peerId,
            name: name,
            regulator: regulator,
            active: true
        });
        _operators.push(account);
    }

    function _rotate(address operator, address newSigner) private {
        if (newSigner == address(0)) revert Errors.ZeroAddress();
        if (_institutionOfSigner[newSigner] != address(0)) revert SignerAlreadyInUse(newSigner);
        if (_powerKeys[newSigner]) revert KeyNotIndependent(newSigner);
        // A key must not double as a participant account (it would gain the operator's powers).
        if (_accounts[newSigner].kind != AccountKind.None) revert AccountAlreadyRegistered(newSigner);
        address previous = _signerOf[operator];
        delete _institutionOfSigner[previous];
        _institutionOfSigner[newSigner] = operator;
        _signerOf[operator] = newSigner;
        _nodes[operator].signer = newSigner;
        // The role moves with the key, unless governance revoked it.
        bool regulator = _nodes[operator].regulator;
        if (regulator && hasRole(REGULATOR_ROLE, previous)) {
            _revokeRole(REGULATOR_ROLE, previous);
            _grantRole(REGULATOR_ROLE, newSigner);
        }
        emit InstitutionKeyRotated(operator, previous, newSigner);
        // An institution's keys may hold tokens (a regulator's never do); its own account keeps its record.
        if (!regulator) {
            if (previous != operator) _pushPermission(previous);
            _pushPermission(newSigner);
        }
    }

    /// @dev The operator (institution or regulator) whose current key is `signer`, if its node is active.
    function _activeOperatorOf(address signer) private view returns (address operator) {
        operator = _institutionOfSigner[signer];
        if (operator == address(0) || !_nodes[operator].active) revert NotActiveInstitution(signer);
    }

    function _ownedAccount(address account) private view returns (AccountRecord storage record) {
        _requireActiveInstitution(msg.sender);
        record = _accounts[account];
        if (record.kind != AccountKind.Merchant && record.kind != AccountKind.Customer) {
            revert AccountKindMismatch(account, AccountKind.Merchant, record.kind);
        }
        if (_institutionOfSigner[msg.sender] != record.institution) revert NotAccountInstitution(msg.sender, account);
    }

    function _requireActiveInstitution(address signer) private view {
        if (!isActiveInstitution(signer)) revert NotActiveInstitution(signer);
    }

    function _requireNewAccount(address account) private view {
        if (account == address(0)) revert Errors.ZeroAddress();
        if (_accounts[account].kind != AccountKind.None || _institutionOfSigner[account] != address(0)) {
            revert AccountAlreadyRegistered(account);
        }
        if (_powerKeys[account]) revert KeyNotIndependent(account);
    }

    /// @dev A key that takes on a separated power must hold no other: no account, operator key, role or power key.
    function _requireIndependentKey(address key) private view {
        if (
            _powerKeys[key] ||
            _accounts[key].kind != AccountKind.None ||
            _institutionOfSigner[key] != address(0) ||
            _nodes[key].account != address(0) ||
            hasRole(DEFAULT_ADMIN_ROLE, key) ||
            hasRole(REGULATOR_ROLE, key) ||
            hasRole(ARBITER_ROLE, key)
        ) revert KeyNotIndependent(key);
    }

    function _requireNewToken(address token) private view {
        if (token == address(0)) revert Errors.ZeroAddress();
        if (_tokenKinds[token] != TokenKind.None) revert TokenAlreadyRegistered(token);
    }

    /// @dev Tells every settlement token whether `account` may now hold and move it ({isPermitted}) and pay
    /// into escrow ({mayPay}).
    function _pushPermission(address account) private {
        bool permitted = isPermitted(account);
        bool payer = mayPay(account);
        uint256 count = _settlementTokens.length;
        for (uint256 i = 0; i < count; ++i) {
            ISettlementToken(_settlementTokens[i]).setPermitted(account, permitted, payer);
        }
    }

    function _requireFee(uint16 feeBps) private view {
        if (feeBps > _maxFeeBps) revert FeeAboveMaximum(feeBps, _maxFeeBps);
    }

    function _requireKind(address account, AccountKind actual, AccountKind expected) private pure {
        if (actual != expected) revert AccountKindMismatch(account, expected, actual);
    }

    function _requireStatusChange(address account, AccountStatus current, AccountStatus next) private pure {
        if (next == AccountStatus.None || next == current) revert InvalidStatus(account, next);
    }
}
