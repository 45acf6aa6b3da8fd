// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {IParticipantRegistry} from "./interfaces/IParticipantRegistry.sol";
import {ISettlementToken} from "./interfaces/ISettlementToken.sol";
import {Errors} from "./utils/Errors.sol";
import {Roles} from "./utils/Roles.sol";
import {SignedOperations} from "./utils/SignedOperations.sol";

/// @title SettlementToken
/// @notice One deployment per currency (e.g. CNY, 2 decimals). Each token is customer reserve money
/// (备付金) held 1:1 by custodian institutions: a custodian mints on a confirmed bank deposit, a holder
/// redeems (burns) its own balance for a bank payout with its own signature ({redeemWithSig}), and a
/// custodian can never have more outstanding than its latest attested reserves. Reserves are attested by
/// an independent party the registry names per custodian (its bank or auditor), never by the custodian
/// itself; a custodian may mint and burn with a custodian key distinct from its operator key. Tokens move only
/// between registered, active, unfrozen participants and protocol contracts; a frozen account cannot spend
/// an allowance either.
/// @dev Custodian, regulator and holder actions can be relayed with the actor's EIP-712 signature.
/// Each account has one storage slot holding its balance and what the token knows of it: whether the
/// registry permits it (pushed by the registry on every change, see {setPermitted}) and whether a
/// regulator froze it. A transfer therefore reads one slot per side and never calls the registry, except
/// once for an account admitted before this token was registered (then the answer is recorded, as the
/// registry pushes every later change). ERC20's own balance and supply storage is unused.
contract SettlementToken is ERC20, ERC20Permit, Pausable, SignedOperations, ISettlementToken {
    /// @notice EIP-712 type of a relayed mint.
    bytes32 public constant MINT_TYPEHASH =
        keccak256("Mint(address to,uint256 amount,bytes32 bankRef,uint256 nonce,uint256 deadline)");
    /// @notice EIP-712 type of a relayed burn.
    bytes32 public constant BURN_TYPEHASH =
        keccak256("Burn(address from,uint256 amount,bytes32 bankRef,uint256 nonce,uint256 deadline)");
    /// @notice EIP-712 type of a relayed reserve attestation.
    bytes32 public constant ATTEST_RESERVES_TYPEHASH =
        keccak256(
            "AttestReserves(address custodian,uint256 amount,uint64 asOf,uint64 sequence,bytes32 statementHash,uint256 nonce,uint256 deadline)"
        );
    /// @notice EIP-712 type of a relayed freeze or unfreeze.
    bytes32 public constant FREEZE_TYPEHASH =
        keccak256("Freeze(address account,bool frozen,bytes32 reason,uint256 nonce,uint256 deadline)");
    /// @notice EIP-712 type of a holder's redemption of its own balance.
    bytes32 public constant REDEEM_TYPEHASH =
        keccak256(
            "Redeem(address holder,address custodian,uint256 amount,bytes32 bankRef,uint256 nonce,uint256 deadline)"
        );

    /// @notice The registry this token consults for participants and roles.
    IParticipantRegistry public immutable registry;

    mapping(address institution => bool) private _custodians;
    mapping(address institution => uint256) private _outstanding;
    mapping(address institution => ReserveAttestation) private _reserves;
    /// @dev Balance in the low 248 bits; flags above (see {_KNOWN}, {_PERMITTED}, {_FROZEN}, {_ESCROW},
    /// {_ESCROW_UNLIMITED}, {_PAYER}).
    mapping(address account => uint256) private _holders;
    uint256 private _supply;
    /// @dev The escrow whose unlimited allowances are kept as {_ESCROW_UNLIMITED}; set once.
    address private _escrow;
    /// @dev Bank references of executed redemptions: the bank pays a reference once, so it is burned once.
    mapping(bytes32 bankRef => bool) private _redeemedRefs;

    uint256 private constant _BALANCE = (1 << 248) - 1;
    /// @dev The registry's answer for the account is recorded in {_PERMITTED}.
    uint256 private constant _KNOWN = 1 << 248;
    uint256 private constant _PERMITTED = 1 << 249;
    uint256 private constant _FROZEN = 1 << 250;
    /// @dev On the escrow's own slot: this account is {escrow}. A pull reads the spender's slot anyway (the
    /// freeze check), so this tells it, without another read, that the owner's flag below applies.
    uint256 private constant _ESCROW = 1 << 251;
    /// @dev On an owner's slot: its allowance to {escrow} is unlimited. The owner's slot is read by the pull's
    /// transfer anyway, so the allowance costs no read of its own.
    uint256 private constant _ESCROW_UNLIMITED = 1 << 252;
    /// @dev The registry's {IParticipantRegistry-mayPay}, recorded with {_PERMITTED}: a payment's pull reads the
    /// payer's slot anyway, so the escrow reads no registry record of the payer.
    uint256 private constant _PAYER = 1 << 253;

    /// @param registry_ The participant registry.
    /// @param name_ Token name, e.g. "Settlenet CNY".
    /// @param symbol_ Token symbol, e.g. "CNY".
    constructor(
        IParticipantRegistry registry_,
        string memory name_,
        string memory symbol_
    ) ERC20(name_, symbol_) ERC20Permit(name_) {
        registry = registry_;
    }

    /// @notice Two decimals: amounts are in minor units (fen, cents).
    function decimals() public pure override returns (uint8) {
        return 2;
    }

    // ---------------------------------------------------------------- admin and regulator

    /// @notice Makes an institution a custodian of this token or removes it (registry admin only).
    /// @param institution The institution id.
    /// @param custodian Whether it may mint and burn (against reserves its attestor states).
    function setCustodian(address institution, bool custodian) external {
        _requireRole(Roles.ADMIN, msg.sender);
        _custodians[institution] = custodian;
        emit CustodianChanged(institution, custodian);
    }

    /// @notice Names the escrow (registry admin only, once): from then on an unlimited allowance to it is kept
    /// in the owner's balance slot instead of the allowance mapping. Only the storage changes; {allowance},
    /// {approve}, {permit} and {transferFrom} behave as for any spender. Set once, because the owners' flags
    /// name no spender: a second escrow would inherit them.
    /// @param escrow_ The payment escrow.
    function setEscrow(address escrow_) external {
        _requireRole(Roles.ADMIN, msg.sender);
        if (escrow_ == address(0)) revert Errors.ZeroAddress();
        if (_escrow != address(0)) revert EscrowAlreadySet(_escrow);
        _escrow = escrow_;
        _holders[escrow_] |= _ESCROW;
        emit EscrowSet(escrow_);
    }

    /// @notice Stops all transfers, mints and burns (registry admin or regulator).
    function pause() external {
        _requireAdminOrRegulator(msg.sender);
        _pause();
    }

    /// @notice Resumes transfers (registry admin or regulator).
    function unpause() external {
        _requireAdminOrRegulator(msg.sender);
        _unpause();
    }

    /// @notice Freezes or unfreezes `account` (regulator only): a frozen account can neither send nor receive.
    /// @param account The account.
    /// @param frozen The new state.
    /// @param reason Reference of the regulatory decision.
    function setFrozen(address account, bool frozen, bytes32 reason) external {
        _setFrozen(msg.sender, account, frozen, reason);
    }

    /// @notice {setFrozen} relayed with the regulator's EIP-712 signature.
    function setFrozenWithSig(
        address account,
        bool frozen,
        bytes32 reason,
        uint256 nonce,
        uint256 deadline,
        bytes calldata signature
    ) external {
        bytes32 structHash = keccak256(abi.encode(FREEZE_TYPEHASH, account, frozen, reason, nonce, deadline));
        address signer = _consumeSignature(structHash, nonce, deadline, signature, _ANY_SIGNER);
        _setFrozen(signer, account, frozen, reason);
    }

    /// @inheritdoc ISettlementToken
    function setPermitted(address account, bool permitted, bool payer) external {
        if (msg.sender != address(registry)) revert NotRegistry(msg.sender);
        _holders[account] = _withPermissions(_holders[account], permitted, payer);
    }

    /// @inheritdoc ISettlementToken
    function pullPayment(address payer, uint256 amount) external {
        uint256 escrowHolder = _holders[msg.sender];
        if (escrowHolder & _ESCROW == 0) revert NotEscrow(msg.sender);
        uint256 payerHolder = _holders[payer];
        uint256 answers = payerHolder;
        if (payerHolder & _KNOWN == 0) (answers, payerHolder) = _lookUp(payer, payerHolder);
        // The checks of transferFrom in its order, after the payer's, which the escrow made before pulling.
        if (answers & _PAYER == 0) revert PayerNotActive(payer);
        if (escrowHolder & _FROZEN != 0) revert AccountIsFrozen(msg.sender);
        if (payerHolder & _ESCROW_UNLIMITED == 0) super._spendAllowance(payer, msg.sender, amount);
        _requireNotPaused();
        if (payerHolder & _FROZEN != 0) revert AccountIsFrozen(payer);
        // The escrow is a protocol account: permitted, and recorded since it was registered or first moved.
        if (escrowHolder & _KNOWN == 0) escrowHolder = _permittedHolder(msg.sender);
        else if (escrowHolder & _PERMITTED == 0) revert AccountNotPermitted(msg.sender);
        uint256 balance = payerHolder & _BALANCE;
        if (balance < amount) revert ERC20InsufficientBalance(payer, balance, amount);
        unchecked {
            // The payer's balance covers `amount`, and no balance exceeds the supply.
            _holders[payer] = payerHolder - amount;
            _holders[msg.sender] = escrowHolder + amount;
        }
        emit Transfer(payer, msg.sender, amount);
    }

    // ---------------------------------------------------------------- custodians

    /// @notice Mints `amount` to `to` against a confirmed bank deposit (custodian only).
    /// @param to The depositor's account.
    /// @param amount Minor units.
    /// @param bankRef The bank's reference of the deposit.
    function mint(address to, uint256 amount, bytes32 bankRef) external {
        _mintAgainstReserves(msg.sender, to, amount, bankRef);
    }

    /// @notice {mint} relayed with the custodian's EIP-712 signature.
    function mintWithSig(
        address to,
        uint256 amount,
        bytes32 bankRef,
        uint256 nonce,
        uint256 deadline,
        bytes calldata signature
    ) external {
        bytes32 structHash = keccak256(abi.encode(MINT_TYPEHASH, to, amount, bankRef, nonce, deadline));
        address signer = _consumeSignature(structHash, nonce, deadline, signature, _ANY_SIGNER);
        _mintAgainstReserves(signer, to, amount, bankRef);
    }

    /// @notice Burns `amount` from `from` for a bank payout (custodian only). Burning from another
    /// account spends its allowance to the custodian's signer.
    /// @param from The account paid out.
    /// @param amount Minor units.
    /// @param bankRef The bank's reference of the payout.
    function burn(address from, uint256 amount, bytes32 bankRef) external {
        _burnForPayout(msg.sender, from, amount, bankRef);
    }

    /// @notice {burn} relayed with the custodian's EIP-712 signature.
    function burnWithSig(
        address from,
        uint256 amount,
        bytes32 bankRef,
        uint256 nonce,
        uint256 deadline,
        bytes calldata signature
    ) external {
        bytes32 structHash = keccak256(abi.encode(BURN_TYPEHASH, from, amount, bankRef, nonce, deadline));
        address signer = _consumeSignature(structHash, nonce, deadline, signature, _ANY_SIGNER);
        _burnForPayout(signer, from, amount, bankRef);
    }

    /// @notice Records a statement of `custodian`'s reserves at its bank (its reserve attestor only, see
    /// {ParticipantRegistry-setReserveAttestor}). Statements are numbered and dated: each must have a higher
    /// `sequence` than the last and an `asOf` no earlier than the last's and not after the block. A statement below
    /// the outstanding supply is recorded as the truth; it blocks further mints until reserves recover.
    /// @param custodian The custodian institution whose reserves these are.
    /// @param amount Reserves in minor units.
    /// @param asOf When the reserve account held `amount` (unix seconds).
    /// @param sequence The attestor's statement number.
    /// @param statementHash Hash of the bank statement.
    function attestReserveStatement(
        address custodian,
        uint256 amount,
        uint64 asOf,
        uint64 sequence,
        bytes32 statementHash
    ) external {
        _attestReserves(msg.sender, custodian, amount, asOf, sequence, statementHash);
    }

    /// @notice {attestReserveStatement} relayed with the reserve attestor's EIP-712 signature.
    function attestReserveStatementWithSig(
        address custodian,
        uint256 amount,
        uint64 asOf,
        uint64 sequence,
        bytes32 statementHash,
        uint256 nonce,
        uint256 deadline,
        bytes calldata signature
    ) external {
        bytes32 structHash = keccak256(
            abi.encode(ATTEST_RESERVES_TYPEHASH, custodian, amount, asOf, sequence, statementHash, nonce, deadline)
        );
        address signer = _consumeSignature(structHash, nonce, deadline, signature, _ANY_SIGNER);
        _attestReserves(signer, custodian, amount, asOf, sequence, statementHash);
    }

    // ---------------------------------------------------------------- holders

    /// @notice Burns `amount` of `holder`'s own balance for a bank payout, relayed with `holder`'s EIP-712
    /// signature: no allowance to anyone is involved. The custodian's outstanding supply falls by `amount`;
    /// its bank pays `holder`'s registered account once it sees {Redeemed} with `bankRef` final.
    /// @param holder The account redeemed from; must be the signer.
    /// @param custodian The custodian institution whose outstanding supply (and bank reserves) the payout draws on.
    /// @param amount Minor units.
    /// @param bankRef The payout's reference at the bank; each is redeemed at most once.
    /// @param nonce The holder's unordered nonce.
    /// @param deadline Last valid block timestamp.
    /// @param signature The holder's signature of the Redeem struct.
    function redeemWithSig(
        address holder,
        address custodian,
        uint256 amount,
        bytes32 bankRef,
        uint256 nonce,
        uint256 deadline,
        bytes calldata signature
    ) external {
        bytes32 structHash = keccak256(
            abi.encode(REDEEM_TYPEHASH, holder, custodian, amount, bankRef, nonce, deadline)
        );
        _consumeSignature(structHash, nonce, deadline, signature, holder);
        _redeem(holder, custodian, amount, bankRef);
    }

    /// @notice True if a redemption with bank reference `bankRef` executed.
    function isRedeemed(bytes32 bankRef) external view returns (bool) {
        return _redeemedRefs[bankRef];
    }

    // ---------------------------------------------------------------- views

    /// @notice True if `institution` is a custodian of this token.
    function isCustodian(address institution) external view returns (bool) {
        return _custodians[institution];
    }

    /// @notice Supply minted and not yet burned by custodian `institution`.
    function outstandingOf(address institution) external view returns (uint256) {
        return _outstanding[institution];
    }

    /// @notice The latest reserve attestation of custodian `institution`.
    function reservesOf(address institution) external view returns (ReserveAttestation memory) {
        return _reserves[institution];
    }

    /// @notice The escrow named by {setEscrow} (zero until then).
    function escrow() external view returns (address) {
        return _escrow;
    }

    /// @notice True if `account` is frozen.
    function isFrozen(address account) external view returns (bool) {
        return _holders[account] & _FROZEN != 0;
    }

    /// @inheritdoc ISettlementToken
    function permissionOf(address account) external view returns (bool recorded, bool permitted, bool payer) {
        uint256 holder = _holders[account];
        return (holder & _KNOWN != 0, holder & _PERMITTED != 0, holder & _PAYER != 0);
    }

    /// @inheritdoc ERC20
    function balanceOf(address account) public view override returns (uint256) {
        return _holders[account] & _BALANCE;
    }

    /// @inheritdoc ERC20
    function allowance(address owner, address spender) public view override returns (uint256) {
        if (_unlimitedToEscrow(_holders[spender], owner)) return type(uint256).max;
        return super.allowance(owner, spender);
    }

    /// @inheritdoc ERC20
    function totalSupply() public view override returns (uint256) {
        return _supply;
    }

    // ---------------------------------------------------------------- internals

    function _mintAgainstReserves(address signer, address to, uint256 amount, bytes32 bankRef) private {
        address custodian = _requireCustodian(signer);
        if (amount == 0) revert Errors.ZeroAmount();
        uint256 outstandingAfter = _outstanding[custodian] + amount;
        uint256 attested = _reserves[custodian].amount;
        if (outstandingAfter > attested) revert ReservesExceeded(custodian, outstandingAfter, attested);
        _outstanding[custodian] = outstandingAfter;
        emit Minted(custodian, to, amount, bankRef);
        _mint(to, amount);
    }

    function _burnForPayout(address signer, address from, uint256 amount, bytes32 bankRef) private {
        address custodian = _requireCustodian(signer);
        if (amount == 0) revert Errors.ZeroAmount();
        uint256 outstanding = _outstanding[custodian];
        if (amount > outstanding) revert BurnExceedsOutstanding(custodian, amount, outstanding);
        if (from != signer) _spendAllowance(from, signer, amount);
        _outstanding[custodian] = outstanding - amount;
        emit Burned(custodian, from, amount, bankRef);
        _burn(from, amount);
    }

    function _redeem(address holder, address custodian, uint256 amount, bytes32 bankRef) private {
        if (!_custodians[custodian]) revert NotCustodian(custodian);
        if (amount == 0) revert Errors.ZeroAmount();
        if (_redeemedRefs[bankRef]) revert RedemptionReferenceUsed(bankRef);
        uint256 outstanding = _outstanding[custodian];
        if (amount > outstanding) revert BurnExceedsOutstanding(custodian, amount, outstanding);
        _redeemedRefs[bankRef] = true;
        _outstanding[custodian] = outstanding - amount;
        // Burned keeps supply accounting in one event for every reader; Redeemed is what the bank pays against.
        emit Burned(custodian, holder, amount, bankRef);
        emit Redeemed(holder, custodian, amount, bankRef);
        _burn(holder, amount);
    }

    function _attestReserves(
        address signer,
        address custodian,
        uint256 amount,
        uint64 asOf,
        uint64 sequence,
        bytes32 statementHash
    ) private {
        address attestor = registry.reserveAttestorOf(custodian);
        if (attestor == address(0) || signer != attestor) revert NotReserveAttestor(signer, custodian);
        if (!_custodians[custodian]) revert NotCustodian(custodian);
        ReserveAttestation storage latest = _reserves[custodian];
        if (sequence <= latest.sequence) revert AttestationOutOfOrder(custodian, sequence, latest.sequence);
        if (asOf > block.timestamp || asOf < latest.asOf) revert AttestationTimeInvalid(custodian, asOf, latest.asOf);
        _reserves[custodian] = ReserveAttestation({
            amount: amount,
            statementHash: statementHash,
            attestedAt: uint64(block.timestamp),
            asOf: asOf,
            sequence: sequence
        });
        emit ReservesAttested(custodian, signer, amount, asOf, sequence, statementHash, _outstanding[custodian]);
    }

    function _setFrozen(address regulator, address account, bool frozen, bytes32 reason) private {
        _requireRole(Roles.REGULATOR, regulator);
        uint256 holder = _holders[account];
        if ((holder & _FROZEN != 0) == frozen) revert FreezeStateUnchanged(account, frozen);
        _holders[account] = holder ^ _FROZEN;
        emit FreezeChanged(account, frozen, regulator, reason);
    }

    function _requireCustodian(address signer) private view returns (address custodian) {
        custodian = registry.custodianInstitutionOf(signer);
        if (custodian == address(0) || !_custodians[custodian]) revert NotCustodian(signer);
    }

    function _requireRole(bytes32 role, address account) private view {
        if (!registry.hasRole(role, account)) revert Errors.Unauthorized(account, role);
    }

    function _requireAdminOrRegulator(address account) private view {
        if (!registry.hasRole(Roles.ADMIN, account)) {
            _requireRole(Roles.REGULATOR, account);
        }
    }

    /// @dev Every balance change: not paused, both sides permitted and unfrozen (mint has no sender,
    /// burn no receiver). Replaces ERC20's balance bookkeeping with the packed {_holders} slots.
    function _update(address from, address to, uint256 value) internal override whenNotPaused {
        uint256 sender;
        uint256 receiver;
        if (from != address(0)) sender = _permittedHolder(from);
        if (to != address(0)) receiver = _permittedHolder(to);
        if (from == address(0)) {
            // Every balance is at most the supply, so bounding the supply keeps balances inside their 248 bits.
            _supply = SafeCast.toUint248(_supply + value);
        } else {
            uint256 balance = sender & _BALANCE;
            if (balance < value) revert ERC20InsufficientBalance(from, balance, value);
            unchecked {
                _holders[from] = sender - value;
            }
            if (to == from) receiver = sender - value;
        }
        unchecked {
            if (to == address(0)) _supply -= value;
            else _holders[to] = receiver + value;
        }
        emit Transfer(from, to, value);
    }

    /// @dev A frozen account cannot move tokens through an allowance either (e.g. between two permitted accounts).
    /// An unlimited allowance is never decreased, so the escrow's flag needs no update.
    function _spendAllowance(address owner, address spender, uint256 value) internal override {
        uint256 spenderHolder = _holders[spender];
        if (spenderHolder & _FROZEN != 0) revert AccountIsFrozen(spender);
        if (_unlimitedToEscrow(spenderHolder, owner)) return;
        super._spendAllowance(owner, spender, value);
    }

    /// @dev An allowance to the escrow: unlimited as the owner's flag, anything else in the mapping, clearing
    /// the flag (which, while set, is the allowance whatever the mapping still holds).
    function _approve(address owner, address spender, uint256 value, bool emitEvent) internal override {
        if (owner != address(0) && spender != address(0) && _holders[spender] & _ESCROW != 0) {
            uint256 holder = _holders[owner];
            if (value == type(uint256).max) {
                _holders[owner] = holder | _ESCROW_UNLIMITED;
                if (emitEvent) emit Approval(owner, spender, value);
                return;
            }
            if (holder & _ESCROW_UNLIMITED != 0) _holders[owner] = holder & ~_ESCROW_UNLIMITED;
        }
        super._approve(owner, spender, value, emitEvent);
    }

    /// @dev True if `spenderHolder` is the escrow's slot and `owner` allows it without limit.
    function _unlimitedToEscrow(uint256 spenderHolder, address owner) private view returns (bool) {
        return spenderHolder & _ESCROW != 0 && _holders[owner] & _ESCROW_UNLIMITED != 0;
    }

    /// @dev `account`'s slot, with the registry's answer recorded if it was not yet; reverts unless the account
    /// is permitted and not frozen.
    function _permittedHolder(address account) private view returns (uint256 holder) {
        holder = _holders[account];
        if (holder & _FROZEN != 0) revert AccountIsFrozen(account);
        uint256 answers = holder;
        if (holder & _KNOWN == 0) (answers, holder) = _lookUp(account, holder);
        if (answers & _PERMITTED == 0) revert AccountNotPermitted(account);
    }

    /// @dev For `holder`, the slot of an account admitted before this token was registered: `answers`, the slot
    /// with the registry's answers, and `kept`, what the caller writes back. Recording the answers is safe only
    /// once the registry pushes every change to this token; until then they serve this transaction only.
    function _lookUp(address account, uint256 holder) private view returns (uint256 answers, uint256 kept) {
        answers = _withPermissions(holder, registry.isPermitted(account), registry.mayPay(account));
        kept = registry.isSettlementToken(address(this)) ? answers : holder;
    }

    function _withPermissions(uint256 holder, bool permitted, bool payer) private pure returns (uint256) {
        holder = (holder | _KNOWN) & ~(_PERMITTED | _PAYER);
        if (permitted) holder |= _PERMITTED;
        if (payer) holder |= _PAYER;
        return holder;
    }
}
