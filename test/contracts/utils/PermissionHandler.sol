// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ParticipantRegistry} from "../../../contracts/ParticipantRegistry.sol";
import {SettlementToken} from "../../../contracts/SettlementToken.sol";
import {IParticipantRegistry} from "../../../contracts/interfaces/IParticipantRegistry.sol";

import {TestBase} from "./TestBase.sol";

/// @title PermissionHandler
/// @notice The target of the token-permission invariant campaign. It is the registry admin and changes
/// who may hold settlement tokens in every way the registry allows (new merchants, customers and protocol
/// accounts, suspensions and reactivations of accounts and institutions, key rotations), freezes and
/// unfreezes accounts, admits a second settlement token late (after accounts exist), and moves tokens
/// between random accounts. Every transfer's outcome is checked against the registry at that moment:
/// one that succeeds for an account the registry does not permit (or a frozen one), or fails for
/// permitted, unfrozen accounts with the funds, breaks the model.
contract PermissionHandler is TestBase {
    uint256 private constant POOL = 8;
    uint256 private constant KEYS = 4;
    uint256 private constant INSTITUTIONS = 2;
    uint256 private constant MAX_MOVE = 1e9;
    /// @dev The reserve attestor of institution 0, a key that holds no other role.
    address private constant _ATTESTOR = address(0xA77E5707);

    ParticipantRegistry public immutable registry;
    SettlementToken[] private _tokens;

    /// @notice Institution ids (their first keys).
    address[INSTITUTIONS] public institutions;
    /// @notice Accounts the handler may register as merchants, customers or protocol accounts.
    address[POOL] public pool;
    /// @notice Spare keys institutions rotate to (and back from).
    address[KEYS] public keys;
    address public regulator;

    /// @notice Set when a transfer's outcome disagreed with the registry and the freeze state.
    bool public modelBroken;
    /// @notice The first disagreement, for the failure message.
    string public modelBrokenBecause;

    // Calls that did something, so a campaign that never reaches a path shows up.
    uint256 public registrations;
    uint256 public statusChanges;
    uint256 public rotations;
    uint256 public freezes;
    uint256 public movesMade;
    uint256 public movesRefused;

    constructor() {
        registry = new ParticipantRegistry(address(this), 300);
        regulator = vm.addr(0x4E6);
        for (uint256 i = 0; i < INSTITUTIONS; ++i) institutions[i] = vm.addr(0x1157 + i);
        for (uint256 i = 0; i < POOL; ++i) pool[i] = vm.addr(0xACC0 + i);
        for (uint256 i = 0; i < KEYS; ++i) keys[i] = vm.addr(0xCE70 + i);

        _addToken();
        registry.registerRegulator(regulator, "12D3KooWRegulator", "Regulator");
        for (uint256 i = 0; i < INSTITUTIONS; ++i) {
            registry.registerInstitution(institutions[i], string.concat("12D3KooWInstitution", vm.toString(i)), "Bank");
        }
        registry.setReserveAttestor(institutions[0], _ATTESTOR);
        _attest(_tokens[0]);
    }

    // ------------------------------------------------------------------ fuzzed entry points

    /// @notice An institution (or, for protocol accounts, the admin) registers a pool account.
    function register(uint256 accountSeed, uint256 kindSeed) external {
        address account = pool[accountSeed % POOL];
        if (registry.accountOf(account).kind != IParticipantRegistry.AccountKind.None) return;
        uint256 kind = kindSeed % 3;
        if (kind == 2) {
            registry.registerProtocolAccount(account);
        } else {
            address signer = registry.signerOf(institutions[kindSeed % INSTITUTIONS]);
            if (!registry.isActiveInstitution(signer)) return;
            vm.prank(signer);
            if (kind == 0) registry.registerMerchant(account, 1, 0, bytes32(0));
            else registry.registerCustomer(account, 1);
        }
        ++registrations;
    }

    /// @notice The admin suspends or reactivates a merchant or customer, or an institution.
    function toggleStatus(uint256 seed) external {
        if (seed % 3 == 0) {
            address institution = institutions[(seed >> 2) % INSTITUTIONS];
            registry.setInstitutionStatus(institution, _flipped(registry.accountOf(institution).status));
        } else {
            address account = pool[(seed >> 2) % POOL];
            IParticipantRegistry.AccountRecord memory record = registry.accountOf(account);
            if (record.kind != IParticipantRegistry.AccountKind.Merchant && record.kind != IParticipantRegistry.AccountKind.Customer) {
                return;
            }
            registry.setAccountStatus(account, _flipped(record.status));
        }
        ++statusChanges;
    }

    /// @notice The admin rotates an institution's key to a spare key that is free (possibly one it used before).
    function rotate(uint256 institutionSeed, uint256 keySeed) external {
        address key = keys[keySeed % KEYS];
        if (registry.institutionOfSigner(key) != address(0)) return;
        registry.rotateKeyFor(institutions[institutionSeed % INSTITUTIONS], key);
        ++rotations;
    }

    /// @notice The regulator freezes or unfreezes a pool account or key on one token.
    function toggleFreeze(uint256 accountSeed, uint256 tokenSeed) external {
        SettlementToken token = _token(tokenSeed);
        address account = _anyone(accountSeed);
        bool frozen = !token.isFrozen(account);
        vm.prank(regulator);
        token.setFrozen(account, frozen, bytes32(0));
        ++freezes;
    }

    /// @notice The admin admits a second settlement token, after accounts exist (once).
    function addLateToken() external {
        if (_tokens.length == 2) return;
        _addToken();
        _attest(_tokens[1]);
    }

    /// @notice The custodian mints to someone (refused unless permitted and unfrozen), or someone moves
    /// tokens to someone else; the outcome must agree with the registry.
    function move(uint256 fromSeed, uint256 toSeed, uint256 amount, uint256 tokenSeed) external {
        SettlementToken token = _token(tokenSeed);
        address to = _anyone(toSeed);
        address custodian = registry.signerOf(institutions[0]);
        if (fromSeed % 4 == 0) {
            if (token.reservesOf(institutions[0]).amount == 0) _attest(token);
            amount = bound(amount, 1, MAX_MOVE);
            bool mayMint = registry.isActiveInstitution(custodian) && token.reservesOf(institutions[0]).amount != 0;
            vm.prank(custodian);
            try token.mint(to, amount, bytes32(0)) {
                _expect(mayMint && _mayHold(token, to), "a mint succeeded for an account that may not hold the token");
            } catch {
                _expect(!mayMint || !_mayHold(token, to), "a mint to a permitted, unfrozen account failed");
            }
            return;
        }
        address from = _anyone(fromSeed);
        uint256 balance = token.balanceOf(from);
        amount = bound(amount, 0, balance);
        bool allowed = _mayHold(token, from) && _mayHold(token, to);
        vm.prank(from);
        try token.transfer(to, amount) {
            _expect(allowed, "a transfer succeeded although a side is not permitted or frozen");
            ++movesMade;
        } catch {
            _expect(!allowed, "a transfer between permitted, unfrozen accounts failed");
            ++movesRefused;
        }
    }

    // ------------------------------------------------------------------ views for the invariants

    /// @notice The settlement tokens admitted so far.
    function tokens() external view returns (SettlementToken[] memory) {
        return _tokens;
    }

    /// @notice Every account whose permission the campaign changes.
    function accounts() external view returns (address[] memory list) {
        list = new address[](INSTITUTIONS + POOL + KEYS);
        for (uint256 i = 0; i < INSTITUTIONS; ++i) list[i] = institutions[i];
        for (uint256 i = 0; i < POOL; ++i) list[INSTITUTIONS + i] = pool[i];
        for (uint256 i = 0; i < KEYS; ++i) list[INSTITUTIONS + POOL + i] = keys[i];
    }

    // ------------------------------------------------------------------ internals

    function _addToken() private {
        SettlementToken token = new SettlementToken(registry, "Settlenet CNY", "CNY");
        registry.registerSettlementToken(address(token));
        token.setCustodian(institutions[0], true);
        _tokens.push(token);
    }

    function _attest(SettlementToken token) private {
        if (!registry.isActiveInstitution(registry.signerOf(institutions[0]))) return;
        uint64 sequence = token.reservesOf(institutions[0]).sequence + 1;
        vm.prank(_ATTESTOR);
        token.attestReserveStatement(institutions[0], type(uint128).max, uint64(block.timestamp), sequence, bytes32(0));
    }

    function _mayHold(SettlementToken token, address account) private view returns (bool) {
        return registry.isPermitted(account) && !token.isFrozen(account);
    }

    function _token(uint256 seed) private view returns (SettlementToken) {
        return _tokens[seed % _tokens.length];
    }

    function _anyone(uint256 seed) private view returns (address) {
        uint256 i = seed % (INSTITUTIONS + POOL + KEYS);
        if (i < INSTITUTIONS) return institutions[i];
        if (i < INSTITUTIONS + POOL) return pool[i - INSTITUTIONS];
        return keys[i - INSTITUTIONS - POOL];
    }

    function _flipped(IParticipantRegistry.AccountStatus status) private pure returns (IParticipantRegistry.AccountStatus) {
        return
            status == IParticipantRegistry.AccountStatus.Active
                ? IParticipantRegistry.AccountStatus.Suspended
                : IParticipantRegistry.AccountStatus.Active;
    }

    function _expect(bool condition, string memory because) private {
        if (condition || modelBroken) return;
        modelBroken = true;
        modelBrokenBecause = because;
    }
}
