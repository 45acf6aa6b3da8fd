// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ParticipantRegistry} from "../../../contracts/ParticipantRegistry.sol";
import {PaymentEscrow} from "../../../contracts/PaymentEscrow.sol";
import {SettlementToken} from "../../../contracts/SettlementToken.sol";
import {IParticipantRegistry} from "../../../contracts/interfaces/IParticipantRegistry.sol";

import {TestBase} from "./TestBase.sol";

/// @title EscrowWorld
/// @notice Deploys and wires a small Settlenet for Solidity tests: the test contract is the registry
/// admin; one institution (a key the tests can sign with) onboards the merchants and payers and is
/// the token's custodian with attested reserves; payers and merchants are funded and have approved
/// the escrow; the escrow and the fee receiver are protocol accounts.
abstract contract EscrowWorld is TestBase {
    uint256 internal constant INSTITUTION_KEY = 0x1157;
    uint256 internal constant REGULATOR_KEY = 0x4E6;
    uint256 internal constant ARBITER_KEY = 0xA4B;
    uint256 internal constant ATTESTOR_KEY = 0xA77E;
    uint256 internal constant FEE_RECEIVER_KEY = 0xFEE;
    uint256 internal constant FIRST_PAYER_KEY = 0xB0B0;
    uint256 internal constant FIRST_MERCHANT_KEY = 0x5E11;
    /// @dev Well above anything minted, so mints are never limited by reserves.
    uint256 internal constant RESERVES = type(uint128).max;
    uint256 internal constant START_TIME = 1_750_000_000;

    ParticipantRegistry internal registry;
    SettlementToken internal token;
    PaymentEscrow internal escrow;

    address internal institution;
    address internal regulator;
    address internal arbiter;
    address internal feeReceiver;
    address[] internal payers;
    address[] internal merchants;
    mapping(address account => uint256 privateKey) internal keyOf;

    /// @dev Builds the world with one merchant per entry of `merchantFees`, `payerCount` payers and
    /// `funds` minted to every payer and merchant.
    function _deployWorld(uint16 maxFeeBps, uint16[] memory merchantFees, uint256 payerCount, uint256 funds) internal {
        vm.warp(START_TIME);
        institution = _account(INSTITUTION_KEY, "institution");
        regulator = _account(REGULATOR_KEY, "regulator");
        arbiter = _account(ARBITER_KEY, "arbiter");
        feeReceiver = _account(FEE_RECEIVER_KEY, "feeReceiver");

        registry = new ParticipantRegistry(address(this), maxFeeBps);
        token = new SettlementToken(registry, "Settlenet CNY", "CNY");
        registry.registerSettlementToken(address(token));
        // The fee receiver is fixed at deployment and must be registered first.
        registry.registerProtocolAccount(feeReceiver);
        escrow = new PaymentEscrow(registry, feeReceiver);
        vm.label(address(registry), "registry");
        vm.label(address(token), "token");
        vm.label(address(escrow), "escrow");

        registry.registerProtocolAccount(address(escrow));
        token.setEscrow(address(escrow));
        registry.registerInstitution(institution, "12D3KooWInstitution", "Bank 1");
        registry.registerRegulator(regulator, "12D3KooWRegulator", "Regulator");
        registry.grantRole(registry.ARBITER_ROLE(), arbiter);
        token.setCustodian(institution, true);
        address attestor = _account(ATTESTOR_KEY, "attestor");
        registry.setReserveAttestor(institution, attestor);
        vm.prank(attestor);
        token.attestReserveStatement(institution, RESERVES, uint64(block.timestamp), 1, keccak256("statement-0"));

        vm.startPrank(institution);
        for (uint256 i = 0; i < merchantFees.length; ++i) {
            address merchant = _account(FIRST_MERCHANT_KEY + i, "merchant");
            registry.registerMerchant(merchant, 2, merchantFees[i], keccak256(abi.encode("payout", i)));
            merchants.push(merchant);
        }
        for (uint256 i = 0; i < payerCount; ++i) {
            address payer = _account(FIRST_PAYER_KEY + i, "payer");
            registry.registerCustomer(payer, 1);
            payers.push(payer);
        }
        vm.stopPrank();

        for (uint256 i = 0; i < merchants.length; ++i) _fund(merchants[i], funds);
        for (uint256 i = 0; i < payers.length; ++i) _fund(payers[i], funds);
    }

    /// @dev Mints `funds` to `account` and lets the escrow (payments, refunds after release) and the
    /// custodian (payouts) spend its tokens.
    function _fund(address account, uint256 funds) internal {
        if (funds != 0) {
            vm.prank(institution);
            token.mint(account, funds, keccak256("deposit"));
        }
        vm.startPrank(account);
        token.approve(address(escrow), type(uint256).max);
        token.approve(institution, type(uint256).max);
        vm.stopPrank();
    }

    function _account(uint256 privateKey, string memory name) private returns (address account) {
        account = vm.addr(privateKey);
        keyOf[account] = privateKey;
        vm.label(account, name);
    }

    /// @dev The merchant's registered fee (what new payment terms must carry).
    function _feeOf(address merchant) internal view returns (uint16) {
        IParticipantRegistry.AccountRecord memory record = registry.accountOf(merchant);
        return record.feeBps;
    }
}
