import { expect } from "chai";
import { TypedDataEncoder, encodeBytes32String, id, recoverAddress, type Signer } from "ethers";

import { TOKEN_TYPES } from "../../core/operations/index.js";
import { tokenDomain } from "../../core/protocol/eip712.js";
import { deployWorld, ethers, networkHelpers, PAYER_FUNDS, RESERVES, type World } from "./helpers/fixture.js";

const { time } = networkHelpers;

const ADMIN_ROLE = ethers.ZeroHash;
const REGULATOR_ROLE = id("REGULATOR_ROLE");
const SUSPENDED = 2; // IParticipantRegistry.AccountStatus.Suspended
const DEPOSIT = encodeBytes32String("deposit-1");
const PAYOUT = encodeBytes32String("payout-1");
const STATEMENT = encodeBytes32String("statement-1");
const DECISION = encodeBytes32String("decision-1");
/** inst1's outstanding supply after the fixture minted PAYER_FUNDS to each of the two payers. */
const FIXTURE_OUTSTANDING = 2n * PAYER_FUNDS;

type TokenOperation = keyof typeof TOKEN_TYPES;
type DomainOverrides = { chainId?: bigint; verifyingContract?: string };

async function tokenDomainOf(world: World, overrides: DomainOverrides = {}) {
  return tokenDomain(
    overrides.chainId ?? world.chainId,
    overrides.verifyingContract ?? (await world.token.getAddress()),
    await world.token.name(),
  );
}

/** `signer`'s EIP-712 signature of a token operation, by default over this token's real domain. */
async function signTokenOperation(
  world: World,
  signer: Signer,
  operation: TokenOperation,
  message: Record<string, unknown>,
  overrides: DomainOverrides = {},
): Promise<string> {
  return signer.signTypedData(await tokenDomainOf(world, overrides), TOKEN_TYPES[operation], message);
}

/** The address the token recovers from `signature` over `message` in its own domain. */
async function recoveredByToken(world: World, operation: TokenOperation, message: Record<string, unknown>, signature: string) {
  return recoverAddress(TypedDataEncoder.hash(await tokenDomainOf(world), TOKEN_TYPES[operation], message), signature);
}

async function deadlineIn(seconds: number): Promise<bigint> {
  return BigInt(await time.latest()) + BigInt(seconds);
}

/** Signers the fixture leaves unused (it takes accounts #0..#12). */
async function spareSigners() {
  const signers = await ethers.getSigners();
  const keyA = signers[13];
  const keyB = signers[14];
  if (!keyA || !keyB) throw new Error("test network has too few accounts");
  return { keyA, keyB };
}

describe("SettlementToken", function () {
  describe("metadata and EIP-712 definitions", function () {
    it("counts amounts in two-decimal minor units", async function () {
      const { token } = await networkHelpers.loadFixture(deployWorld);
      expect(await token.decimals()).to.equal(2n);
      expect(await token.name()).to.equal("Settlenet CNY");
      expect(await token.symbol()).to.equal("CNY");
    });

    const typehashes = [
      ["mint", "MINT_TYPEHASH"],
      ["burn", "BURN_TYPEHASH"],
      ["attestReserves", "ATTEST_RESERVES_TYPEHASH"],
      ["freeze", "FREEZE_TYPEHASH"],
    ] as const;
    for (const [operation, constant] of typehashes) {
      it(`declares ${constant} as the hash of the TypeScript ${operation} type`, async function () {
        const { token } = await networkHelpers.loadFixture(deployWorld);
        const encoder = TypedDataEncoder.from(TOKEN_TYPES[operation]);
        expect(await token[constant]()).to.equal(id(encoder.encodeType(encoder.primaryType)));
      });
    }

    it("signs in the domain that tokenDomain describes", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const domain = await tokenDomainOf(world);
      const [, name, version, chainId, verifyingContract] = await world.token.eip712Domain();
      expect([name, version, chainId, verifyingContract]).to.deep.equal([
        domain.name,
        domain.version,
        world.chainId,
        await world.token.getAddress(),
      ]);
      expect(await world.token.DOMAIN_SEPARATOR()).to.equal(TypedDataEncoder.hashDomain(domain));
    });
  });

  describe("setCustodian", function () {
    it("lets the registry admin appoint a custodian", async function () {
      const { token, inst2 } = await networkHelpers.loadFixture(deployWorld);
      await expect(token.setCustodian(inst2.address, true)).to.emit(token, "CustodianChanged").withArgs(inst2.address, true);
      expect(await token.isCustodian(inst2.address)).to.equal(true);
    });

    it("stops a removed custodian's mints but keeps its outstanding supply", async function () {
      const { token, inst1, payer, as } = await networkHelpers.loadFixture(deployWorld);
      await expect(token.setCustodian(inst1.address, false)).to.emit(token, "CustodianChanged").withArgs(inst1.address, false);
      expect(await token.isCustodian(inst1.address)).to.equal(false);
      expect(await token.outstandingOf(inst1.address)).to.equal(FIXTURE_OUTSTANDING);
      await expect(as(token, inst1).mint(payer.address, 1n, DEPOSIT))
        .to.be.revertedWithCustomError(token, "NotCustodian")
        .withArgs(inst1.address);
    });

    it("refuses anyone but the registry admin, including institutions and regulators", async function () {
      const { token, inst1, inst2, regulator, outsider, as } = await networkHelpers.loadFixture(deployWorld);
      for (const caller of [inst1, regulator, outsider]) {
        await expect(as(token, caller).setCustodian(inst2.address, true))
          .to.be.revertedWithCustomError(token, "Unauthorized")
          .withArgs(caller.address, ADMIN_ROLE);
      }
      expect(await token.isCustodian(inst2.address)).to.equal(false);
    });
  });

  describe("mint", function () {
    it("mints to a depositor against attested reserves and records the custodian's outstanding supply", async function () {
      const { token, inst1, payer, as } = await networkHelpers.loadFixture(deployWorld);
      const tx = as(token, inst1).mint(payer.address, 250_00n, DEPOSIT);
      await expect(tx).to.emit(token, "Minted").withArgs(inst1.address, payer.address, 250_00n, DEPOSIT);
      await expect(tx).to.changeTokenBalance(ethers, token, payer, 250_00n);
      expect(await token.outstandingOf(inst1.address)).to.equal(FIXTURE_OUTSTANDING + 250_00n);
      expect(await token.totalSupply()).to.equal(FIXTURE_OUTSTANDING + 250_00n);
    });

    it("mints up to exactly the attested reserves", async function () {
      const { token, inst1, payer, as } = await networkHelpers.loadFixture(deployWorld);
      const headroom = RESERVES - FIXTURE_OUTSTANDING;
      await expect(as(token, inst1).mint(payer.address, headroom, DEPOSIT)).to.changeTokenBalance(ethers, token, payer, headroom);
      expect(await token.outstandingOf(inst1.address)).to.equal(RESERVES);
    });

    it("refuses a mint one minor unit above the attested reserves", async function () {
      const { token, inst1, payer, as } = await networkHelpers.loadFixture(deployWorld);
      const headroom = RESERVES - FIXTURE_OUTSTANDING;
      await expect(as(token, inst1).mint(payer.address, headroom + 1n, DEPOSIT))
        .to.be.revertedWithCustomError(token, "ReservesExceeded")
        .withArgs(inst1.address, RESERVES + 1n, RESERVES);
      expect(await token.outstandingOf(inst1.address)).to.equal(FIXTURE_OUTSTANDING);
    });

    it("refuses any mint by a custodian that has not attested reserves", async function () {
      const { token, inst2, payer2, as } = await networkHelpers.loadFixture(deployWorld);
      await token.setCustodian(inst2.address, true);
      await expect(as(token, inst2).mint(payer2.address, 1n, DEPOSIT))
        .to.be.revertedWithCustomError(token, "ReservesExceeded")
        .withArgs(inst2.address, 1n, 0n);
    });

    it("holds each custodian to its own reserves", async function () {
      const { token, inst1, inst2, payer2, as } = await networkHelpers.loadFixture(deployWorld);
      await token.setCustodian(inst2.address, true);
      await as(token, inst2).attestReserves(500_00n, STATEMENT);
      await expect(as(token, inst2).mint(payer2.address, 500_00n, DEPOSIT))
        .to.emit(token, "Minted")
        .withArgs(inst2.address, payer2.address, 500_00n, DEPOSIT);
      expect(await token.outstandingOf(inst2.address)).to.equal(500_00n);
      expect(await token.outstandingOf(inst1.address)).to.equal(FIXTURE_OUTSTANDING);
      await expect(as(token, inst2).mint(payer2.address, 1n, DEPOSIT))
        .to.be.revertedWithCustomError(token, "ReservesExceeded")
        .withArgs(inst2.address, 500_01n, 500_00n);
    });

    it("refuses an institution that is not a custodian of this token", async function () {
      const { token, inst2, payer2, as } = await networkHelpers.loadFixture(deployWorld);
      await expect(as(token, inst2).mint(payer2.address, 1n, DEPOSIT))
        .to.be.revertedWithCustomError(token, "NotCustodian")
        .withArgs(inst2.address);
    });

    it("refuses a custodian whose institution is suspended", async function () {
      const { token, registry, inst1, payer, as } = await networkHelpers.loadFixture(deployWorld);
      await registry.setInstitutionStatus(inst1.address, SUSPENDED);
      await expect(as(token, inst1).mint(payer.address, 1n, DEPOSIT))
        .to.be.revertedWithCustomError(token, "NotCustodian")
        .withArgs(inst1.address);
    });

    it("refuses outsiders, customers, regulators and the admin", async function () {
      const { token, admin, regulator, payer, outsider, as } = await networkHelpers.loadFixture(deployWorld);
      for (const caller of [outsider, payer, regulator, admin]) {
        await expect(as(token, caller).mint(payer.address, 1n, DEPOSIT))
          .to.be.revertedWithCustomError(token, "NotCustodian")
          .withArgs(caller.address);
      }
    });

    it("refuses a zero amount", async function () {
      const { token, inst1, payer, as } = await networkHelpers.loadFixture(deployWorld);
      await expect(as(token, inst1).mint(payer.address, 0n, DEPOSIT)).to.be.revertedWithCustomError(token, "ZeroAmount");
    });

    it("refuses to mint to an unregistered account", async function () {
      const { token, inst1, outsider, as } = await networkHelpers.loadFixture(deployWorld);
      await expect(as(token, inst1).mint(outsider.address, 1n, DEPOSIT))
        .to.be.revertedWithCustomError(token, "AccountNotPermitted")
        .withArgs(outsider.address);
    });

    it("lets a custodian's rotated key mint for the institution and refuses the retired key", async function () {
      const { token, registry, inst1, payer, as } = await networkHelpers.loadFixture(deployWorld);
      const { keyA } = await spareSigners();
      await as(registry, inst1).rotateKey(keyA.address);
      await expect(as(token, keyA).mint(payer.address, 10_00n, DEPOSIT))
        .to.emit(token, "Minted")
        .withArgs(inst1.address, payer.address, 10_00n, DEPOSIT);
      expect(await token.outstandingOf(inst1.address)).to.equal(FIXTURE_OUTSTANDING + 10_00n);
      expect(await token.outstandingOf(keyA.address)).to.equal(0n);
      await expect(as(token, inst1).mint(payer.address, 1n, DEPOSIT))
        .to.be.revertedWithCustomError(token, "NotCustodian")
        .withArgs(inst1.address);
    });
  });

  describe("burn", function () {
    it("burns the custodian's own balance without an allowance", async function () {
      const { token, inst1, as } = await networkHelpers.loadFixture(deployWorld);
      await as(token, inst1).mint(inst1.address, 40_00n, DEPOSIT);
      const tx = as(token, inst1).burn(inst1.address, 15_00n, PAYOUT);
      await expect(tx).to.emit(token, "Burned").withArgs(inst1.address, inst1.address, 15_00n, PAYOUT);
      await expect(tx).to.changeTokenBalance(ethers, token, inst1, -15_00n);
      expect(await token.outstandingOf(inst1.address)).to.equal(FIXTURE_OUTSTANDING + 25_00n);
    });

    it("burns from another account by spending its allowance to the custodian", async function () {
      const { token, inst1, payer, as } = await networkHelpers.loadFixture(deployWorld);
      await as(token, payer).approve(inst1.address, 100_00n);
      const tx = as(token, inst1).burn(payer.address, 60_00n, PAYOUT);
      await expect(tx).to.emit(token, "Burned").withArgs(inst1.address, payer.address, 60_00n, PAYOUT);
      await expect(tx).to.changeTokenBalance(ethers, token, payer, -60_00n);
      expect(await token.allowance(payer.address, inst1.address)).to.equal(40_00n);
      expect(await token.outstandingOf(inst1.address)).to.equal(FIXTURE_OUTSTANDING - 60_00n);
      expect(await token.totalSupply()).to.equal(FIXTURE_OUTSTANDING - 60_00n);
    });

    it("refuses to burn another account's tokens without an allowance", async function () {
      const { token, inst1, payer, as } = await networkHelpers.loadFixture(deployWorld);
      await expect(as(token, inst1).burn(payer.address, 1_00n, PAYOUT))
        .to.be.revertedWithCustomError(token, "ERC20InsufficientAllowance")
        .withArgs(inst1.address, 0n, 1_00n);
    });

    it("refuses to burn more than the allowance", async function () {
      const { token, inst1, payer, as } = await networkHelpers.loadFixture(deployWorld);
      await as(token, payer).approve(inst1.address, 5_00n);
      await expect(as(token, inst1).burn(payer.address, 5_01n, PAYOUT))
        .to.be.revertedWithCustomError(token, "ERC20InsufficientAllowance")
        .withArgs(inst1.address, 5_00n, 5_01n);
    });

    it("refuses to burn more than the custodian has outstanding", async function () {
      const { token, inst2, payer2, as } = await networkHelpers.loadFixture(deployWorld);
      await token.setCustodian(inst2.address, true);
      await as(token, inst2).attestReserves(1_000_00n, STATEMENT);
      await as(token, inst2).mint(payer2.address, 300_00n, DEPOSIT);
      await as(token, payer2).approve(inst2.address, 1_000_00n);
      // payer2 holds plenty (minted by inst1), but inst2 has only 300.00 outstanding.
      await expect(as(token, inst2).burn(payer2.address, 300_01n, PAYOUT))
        .to.be.revertedWithCustomError(token, "BurnExceedsOutstanding")
        .withArgs(inst2.address, 300_01n, 300_00n);
    });

    it("gives the burned amount back to the custodian's minting headroom", async function () {
      const { token, inst1, payer, as } = await networkHelpers.loadFixture(deployWorld);
      const headroom = RESERVES - FIXTURE_OUTSTANDING;
      await as(token, inst1).mint(payer.address, headroom, DEPOSIT);
      await as(token, payer).approve(inst1.address, 7_00n);
      await as(token, inst1).burn(payer.address, 7_00n, PAYOUT);
      await expect(as(token, inst1).mint(payer.address, 7_00n, DEPOSIT)).to.changeTokenBalance(ethers, token, payer, 7_00n);
      expect(await token.outstandingOf(inst1.address)).to.equal(RESERVES);
    });

    it("refuses a zero amount", async function () {
      const { token, inst1, as } = await networkHelpers.loadFixture(deployWorld);
      await expect(as(token, inst1).burn(inst1.address, 0n, PAYOUT)).to.be.revertedWithCustomError(token, "ZeroAmount");
    });

    it("refuses callers that are not custodians", async function () {
      const { token, inst2, payer, outsider, as } = await networkHelpers.loadFixture(deployWorld);
      await as(token, payer).approve(outsider.address, 1_00n);
      for (const caller of [outsider, inst2]) {
        await expect(as(token, caller).burn(payer.address, 1_00n, PAYOUT))
          .to.be.revertedWithCustomError(token, "NotCustodian")
          .withArgs(caller.address);
      }
    });
  });

  describe("attestReserves", function () {
    it("records the attestation with its time and reports the outstanding supply", async function () {
      const { token, inst1, as } = await networkHelpers.loadFixture(deployWorld);
      await expect(as(token, inst1).attestReserves(RESERVES + 5_00n, STATEMENT))
        .to.emit(token, "ReservesAttested")
        .withArgs(inst1.address, RESERVES + 5_00n, STATEMENT, FIXTURE_OUTSTANDING);
      const reserves = await token.reservesOf(inst1.address);
      expect(reserves.amount).to.equal(RESERVES + 5_00n);
      expect(reserves.statementHash).to.equal(STATEMENT);
      expect(reserves.attestedAt).to.equal(BigInt(await time.latest()));
    });

    it("records an attestation below the outstanding supply, which blocks mints until reserves recover", async function () {
      const { token, inst1, payer, as } = await networkHelpers.loadFixture(deployWorld);
      const shortfall = FIXTURE_OUTSTANDING - 1_00n;
      await expect(as(token, inst1).attestReserves(shortfall, STATEMENT))
        .to.emit(token, "ReservesAttested")
        .withArgs(inst1.address, shortfall, STATEMENT, FIXTURE_OUTSTANDING);
      expect((await token.reservesOf(inst1.address)).amount).to.equal(shortfall);
      await expect(as(token, inst1).mint(payer.address, 1n, DEPOSIT))
        .to.be.revertedWithCustomError(token, "ReservesExceeded")
        .withArgs(inst1.address, FIXTURE_OUTSTANDING + 1n, shortfall);

      await as(token, inst1).attestReserves(FIXTURE_OUTSTANDING + 1n, STATEMENT);
      await expect(as(token, inst1).mint(payer.address, 1n, DEPOSIT)).to.changeTokenBalance(ethers, token, payer, 1n);
    });

    it("refuses institutions that are not custodians", async function () {
      const { token, inst2, outsider, as } = await networkHelpers.loadFixture(deployWorld);
      for (const caller of [inst2, outsider]) {
        await expect(as(token, caller).attestReserves(1n, STATEMENT))
          .to.be.revertedWithCustomError(token, "NotCustodian")
          .withArgs(caller.address);
      }
    });
  });

  describe("transfer restrictions", function () {
    it("moves tokens between registered customers and merchants", async function () {
      const { token, payer, payer2, merchant, as } = await networkHelpers.loadFixture(deployWorld);
      await expect(as(token, payer).transfer(payer2.address, 12_34n)).to.changeTokenBalances(
        ethers,
        token,
        [payer, payer2],
        [-12_34n, 12_34n],
      );
      await expect(as(token, payer2).transfer(merchant.address, 1_00n)).to.changeTokenBalances(
        ethers,
        token,
        [payer2, merchant],
        [-1_00n, 1_00n],
      );
    });

    it("refuses a transfer to an unregistered account", async function () {
      const { token, payer, outsider, as } = await networkHelpers.loadFixture(deployWorld);
      await expect(as(token, payer).transfer(outsider.address, 1n))
        .to.be.revertedWithCustomError(token, "AccountNotPermitted")
        .withArgs(outsider.address);
    });

    it("refuses a transferFrom to an unregistered account even with an allowance", async function () {
      const { token, payer, merchant, outsider, as } = await networkHelpers.loadFixture(deployWorld);
      await as(token, payer).approve(merchant.address, 10n);
      await expect(as(token, merchant).transferFrom(payer.address, outsider.address, 10n))
        .to.be.revertedWithCustomError(token, "AccountNotPermitted")
        .withArgs(outsider.address);
    });

    it("refuses transfers to and from a suspended customer", async function () {
      const { token, registry, payer, payer2, as } = await networkHelpers.loadFixture(deployWorld);
      await registry.setAccountStatus(payer2.address, SUSPENDED);
      await expect(as(token, payer).transfer(payer2.address, 1n))
        .to.be.revertedWithCustomError(token, "AccountNotPermitted")
        .withArgs(payer2.address);
      await expect(as(token, payer2).transfer(payer.address, 1n))
        .to.be.revertedWithCustomError(token, "AccountNotPermitted")
        .withArgs(payer2.address);
    });

    it("refuses a transfer to a suspended institution", async function () {
      const { token, registry, payer, inst2, as } = await networkHelpers.loadFixture(deployWorld);
      await registry.setInstitutionStatus(inst2.address, SUSPENDED);
      await expect(as(token, payer).transfer(inst2.address, 1n))
        .to.be.revertedWithCustomError(token, "AccountNotPermitted")
        .withArgs(inst2.address);
    });

    it("lets protocol accounts such as the escrow and the fee receiver hold and move tokens", async function () {
      const { token, escrow, payer, merchant, feeReceiver, as } = await networkHelpers.loadFixture(deployWorld);
      await expect(as(token, payer).transfer(await escrow.getAddress(), 3_00n)).to.changeTokenBalances(
        ethers,
        token,
        [payer, escrow],
        [-3_00n, 3_00n],
      );
      await as(token, payer).transfer(feeReceiver.address, 2_00n);
      await expect(as(token, feeReceiver).transfer(merchant.address, 2_00n)).to.changeTokenBalances(
        ethers,
        token,
        [feeReceiver, merchant],
        [-2_00n, 2_00n],
      );
    });

    it("lets an institution's rotated key receive and send tokens", async function () {
      const { token, registry, inst1, payer, payer2, as } = await networkHelpers.loadFixture(deployWorld);
      const { keyA } = await spareSigners();
      await as(registry, inst1).rotateKey(keyA.address);
      await expect(as(token, payer).transfer(keyA.address, 5_00n)).to.changeTokenBalance(ethers, token, keyA, 5_00n);
      await expect(as(token, keyA).transfer(payer2.address, 5_00n)).to.changeTokenBalances(
        ethers,
        token,
        [keyA, payer2],
        [-5_00n, 5_00n],
      );
    });

    it("refuses transfers from a key that no longer belongs to any institution", async function () {
      const { token, registry, inst1, payer, as } = await networkHelpers.loadFixture(deployWorld);
      const { keyA, keyB } = await spareSigners();
      await as(registry, inst1).rotateKey(keyA.address);
      await as(token, payer).transfer(keyA.address, 5_00n);
      await as(registry, keyA).rotateKey(keyB.address);
      await expect(as(token, keyA).transfer(payer.address, 1n))
        .to.be.revertedWithCustomError(token, "AccountNotPermitted")
        .withArgs(keyA.address);
      await expect(as(token, payer).transfer(keyA.address, 1n))
        .to.be.revertedWithCustomError(token, "AccountNotPermitted")
        .withArgs(keyA.address);
    });
  });

  describe("freeze", function () {
    it("lets a regulator freeze an account", async function () {
      const { token, regulator, payer, as } = await networkHelpers.loadFixture(deployWorld);
      await expect(as(token, regulator).setFrozen(payer.address, true, DECISION))
        .to.emit(token, "FreezeChanged")
        .withArgs(payer.address, true, regulator.address, DECISION);
      expect(await token.isFrozen(payer.address)).to.equal(true);
    });

    it("stops a frozen account from sending, directly or through an allowance", async function () {
      const { token, regulator, payer, payer2, escrow, as } = await networkHelpers.loadFixture(deployWorld);
      await as(token, regulator).setFrozen(payer.address, true, DECISION);
      await expect(as(token, payer).transfer(payer2.address, 1n))
        .to.be.revertedWithCustomError(token, "AccountIsFrozen")
        .withArgs(payer.address);
      // The fixture gave the escrow an unlimited allowance from payer.
      const escrowSigner = await ethers.getImpersonatedSigner(await escrow.getAddress());
      await networkHelpers.setBalance(await escrow.getAddress(), 10n ** 18n);
      await expect(as(token, escrowSigner).transferFrom(payer.address, payer2.address, 1n))
        .to.be.revertedWithCustomError(token, "AccountIsFrozen")
        .withArgs(payer.address);
    });

    it("stops a frozen account from receiving", async function () {
      const { token, regulator, payer, payer2, as } = await networkHelpers.loadFixture(deployWorld);
      await as(token, regulator).setFrozen(payer.address, true, DECISION);
      await expect(as(token, payer2).transfer(payer.address, 1n))
        .to.be.revertedWithCustomError(token, "AccountIsFrozen")
        .withArgs(payer.address);
    });

    it("refuses to mint to a frozen account", async function () {
      const { token, regulator, inst1, payer, as } = await networkHelpers.loadFixture(deployWorld);
      await as(token, regulator).setFrozen(payer.address, true, DECISION);
      await expect(as(token, inst1).mint(payer.address, 1n, DEPOSIT))
        .to.be.revertedWithCustomError(token, "AccountIsFrozen")
        .withArgs(payer.address);
    });

    it("refuses to burn from a frozen account", async function () {
      const { token, regulator, inst1, payer, as } = await networkHelpers.loadFixture(deployWorld);
      await as(token, payer).approve(inst1.address, 1_00n);
      await as(token, regulator).setFrozen(payer.address, true, DECISION);
      await expect(as(token, inst1).burn(payer.address, 1_00n, PAYOUT))
        .to.be.revertedWithCustomError(token, "AccountIsFrozen")
        .withArgs(payer.address);
    });

    it("restores transfers when the regulator unfreezes the account", async function () {
      const { token, regulator, payer, payer2, as } = await networkHelpers.loadFixture(deployWorld);
      await as(token, regulator).setFrozen(payer.address, true, DECISION);
      const lifted = encodeBytes32String("decision-2");
      await expect(as(token, regulator).setFrozen(payer.address, false, lifted))
        .to.emit(token, "FreezeChanged")
        .withArgs(payer.address, false, regulator.address, lifted);
      expect(await token.isFrozen(payer.address)).to.equal(false);
      await expect(as(token, payer).transfer(payer2.address, 1n)).to.changeTokenBalances(ethers, token, [payer, payer2], [-1n, 1n]);
    });

    it("refuses to set the freeze state an account already has", async function () {
      const { token, regulator, payer, as } = await networkHelpers.loadFixture(deployWorld);
      await expect(as(token, regulator).setFrozen(payer.address, false, DECISION))
        .to.be.revertedWithCustomError(token, "FreezeStateUnchanged")
        .withArgs(payer.address, false);
      await as(token, regulator).setFrozen(payer.address, true, DECISION);
      await expect(as(token, regulator).setFrozen(payer.address, true, DECISION))
        .to.be.revertedWithCustomError(token, "FreezeStateUnchanged")
        .withArgs(payer.address, true);
    });

    it("refuses anyone without the regulator role, including the admin and custodians", async function () {
      const { token, admin, inst1, outsider, payer, as } = await networkHelpers.loadFixture(deployWorld);
      for (const caller of [admin, inst1, outsider]) {
        await expect(as(token, caller).setFrozen(payer.address, true, DECISION))
          .to.be.revertedWithCustomError(token, "Unauthorized")
          .withArgs(caller.address, REGULATOR_ROLE);
      }
      expect(await token.isFrozen(payer.address)).to.equal(false);
    });
  });

  describe("pause", function () {
    it("lets the admin pause, which stops transfers", async function () {
      const { token, admin, payer, payer2, as } = await networkHelpers.loadFixture(deployWorld);
      await expect(token.pause()).to.emit(token, "Paused").withArgs(admin.address);
      expect(await token.paused()).to.equal(true);
      await expect(as(token, payer).transfer(payer2.address, 1n)).to.be.revertedWithCustomError(token, "EnforcedPause");
    });

    it("stops mints and burns while paused", async function () {
      const { token, regulator, inst1, payer, as } = await networkHelpers.loadFixture(deployWorld);
      await as(token, payer).approve(inst1.address, 1_00n);
      await as(token, regulator).pause();
      await expect(as(token, inst1).mint(payer.address, 1_00n, DEPOSIT)).to.be.revertedWithCustomError(token, "EnforcedPause");
      await expect(as(token, inst1).burn(payer.address, 1_00n, PAYOUT)).to.be.revertedWithCustomError(token, "EnforcedPause");
      expect(await token.outstandingOf(inst1.address)).to.equal(FIXTURE_OUTSTANDING);
    });

    it("lets a regulator pause and unpause, after which transfers resume", async function () {
      const { token, regulator, payer, payer2, as } = await networkHelpers.loadFixture(deployWorld);
      await expect(as(token, regulator).pause()).to.emit(token, "Paused").withArgs(regulator.address);
      await expect(as(token, regulator).unpause()).to.emit(token, "Unpaused").withArgs(regulator.address);
      expect(await token.paused()).to.equal(false);
      await expect(as(token, payer).transfer(payer2.address, 1n)).to.changeTokenBalances(ethers, token, [payer, payer2], [-1n, 1n]);
    });

    it("lets the admin unpause what a regulator paused", async function () {
      const { token, admin, regulator, as } = await networkHelpers.loadFixture(deployWorld);
      await as(token, regulator).pause();
      await expect(token.unpause()).to.emit(token, "Unpaused").withArgs(admin.address);
    });

    it("refuses pause and unpause from anyone but the admin or a regulator", async function () {
      const { token, inst1, outsider, as } = await networkHelpers.loadFixture(deployWorld);
      for (const caller of [inst1, outsider]) {
        await expect(as(token, caller).pause())
          .to.be.revertedWithCustomError(token, "Unauthorized")
          .withArgs(caller.address, REGULATOR_ROLE);
      }
      await token.pause();
      for (const caller of [inst1, outsider]) {
        await expect(as(token, caller).unpause())
          .to.be.revertedWithCustomError(token, "Unauthorized")
          .withArgs(caller.address, REGULATOR_ROLE);
      }
    });

    it("refuses to pause twice or unpause when running", async function () {
      const { token } = await networkHelpers.loadFixture(deployWorld);
      await expect(token.unpause()).to.be.revertedWithCustomError(token, "ExpectedPause");
      await token.pause();
      await expect(token.pause()).to.be.revertedWithCustomError(token, "EnforcedPause");
    });
  });

  describe("signed operations", function () {
    it("executes a custodian's signed mint relayed by an outsider", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { token, inst1, payer, outsider, as } = world;
      const message = { to: payer.address, amount: 80_00n, bankRef: DEPOSIT, nonce: 1n, deadline: await deadlineIn(3_600) };
      const signature = await signTokenOperation(world, inst1, "mint", message);
      const tx = as(token, outsider).mintWithSig(message.to, message.amount, message.bankRef, message.nonce, message.deadline, signature);
      await expect(tx).to.emit(token, "Minted").withArgs(inst1.address, payer.address, 80_00n, DEPOSIT);
      await expect(tx).to.changeTokenBalance(ethers, token, payer, 80_00n);
      expect(await token.outstandingOf(inst1.address)).to.equal(FIXTURE_OUTSTANDING + 80_00n);
      expect(await token.isNonceUsed(inst1.address, 1n)).to.equal(true);
    });

    it("executes a custodian's signed burn, spending the allowance to the custodian", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { token, inst1, payer, relayer, as } = world;
      await as(token, payer).approve(inst1.address, 30_00n);
      const message = { from: payer.address, amount: 30_00n, bankRef: PAYOUT, nonce: 2n, deadline: await deadlineIn(3_600) };
      const signature = await signTokenOperation(world, inst1, "burn", message);
      const tx = as(token, relayer).burnWithSig(message.from, message.amount, message.bankRef, message.nonce, message.deadline, signature);
      await expect(tx).to.emit(token, "Burned").withArgs(inst1.address, payer.address, 30_00n, PAYOUT);
      await expect(tx).to.changeTokenBalance(ethers, token, payer, -30_00n);
      expect(await token.allowance(payer.address, inst1.address)).to.equal(0n);
      expect(await token.outstandingOf(inst1.address)).to.equal(FIXTURE_OUTSTANDING - 30_00n);
    });

    it("executes a custodian's signed reserve attestation", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { token, inst1, relayer, as } = world;
      const message = { amount: 123_45n + FIXTURE_OUTSTANDING, statementHash: STATEMENT, nonce: 3n, deadline: await deadlineIn(3_600) };
      const signature = await signTokenOperation(world, inst1, "attestReserves", message);
      await expect(as(token, relayer).attestReservesWithSig(message.amount, message.statementHash, message.nonce, message.deadline, signature))
        .to.emit(token, "ReservesAttested")
        .withArgs(inst1.address, message.amount, STATEMENT, FIXTURE_OUTSTANDING);
      const reserves = await token.reservesOf(inst1.address);
      expect([reserves.amount, reserves.statementHash, reserves.attestedAt]).to.deep.equal([
        message.amount,
        STATEMENT,
        BigInt(await time.latest()),
      ]);
    });

    it("executes a regulator's signed freeze", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { token, regulator, payer, relayer, as } = world;
      const message = { account: payer.address, frozen: true, reason: DECISION, nonce: 4n, deadline: await deadlineIn(3_600) };
      const signature = await signTokenOperation(world, regulator, "freeze", message);
      await expect(
        as(token, relayer).setFrozenWithSig(message.account, message.frozen, message.reason, message.nonce, message.deadline, signature),
      )
        .to.emit(token, "FreezeChanged")
        .withArgs(payer.address, true, regulator.address, DECISION);
      expect(await token.isFrozen(payer.address)).to.equal(true);
      expect(await token.isNonceUsed(regulator.address, 4n)).to.equal(true);
    });

    it("refuses to replay a signed mint", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { token, inst1, payer, relayer, as } = world;
      const message = { to: payer.address, amount: 1_00n, bankRef: DEPOSIT, nonce: 9n, deadline: await deadlineIn(3_600) };
      const signature = await signTokenOperation(world, inst1, "mint", message);
      const args = [message.to, message.amount, message.bankRef, message.nonce, message.deadline, signature] as const;
      await as(token, relayer).mintWithSig(...args);
      await expect(as(token, relayer).mintWithSig(...args))
        .to.be.revertedWithCustomError(token, "NonceAlreadyUsed")
        .withArgs(inst1.address, 9n);
      expect(await token.outstandingOf(inst1.address)).to.equal(FIXTURE_OUTSTANDING + 1_00n);
    });

    it("refuses to replay a signed freeze after the account was unfrozen", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { token, regulator, payer, relayer, as } = world;
      const message = { account: payer.address, frozen: true, reason: DECISION, nonce: 5n, deadline: await deadlineIn(3_600) };
      const signature = await signTokenOperation(world, regulator, "freeze", message);
      const args = [message.account, message.frozen, message.reason, message.nonce, message.deadline, signature] as const;
      await as(token, relayer).setFrozenWithSig(...args);
      await as(token, regulator).setFrozen(payer.address, false, DECISION);
      await expect(as(token, relayer).setFrozenWithSig(...args))
        .to.be.revertedWithCustomError(token, "NonceAlreadyUsed")
        .withArgs(regulator.address, 5n);
    });

    it("accepts nonces in any order but each signer's nonce only once across operation kinds", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { token, inst1, payer, relayer, as } = world;
      const deadline = await deadlineIn(3_600);
      for (const nonce of [300n, 7n]) {
        const message = { to: payer.address, amount: 1n, bankRef: DEPOSIT, nonce, deadline };
        const signature = await signTokenOperation(world, inst1, "mint", message);
        await as(token, relayer).mintWithSig(payer.address, 1n, DEPOSIT, nonce, deadline, signature);
      }
      const attestation = { amount: RESERVES, statementHash: STATEMENT, nonce: 7n, deadline };
      const signature = await signTokenOperation(world, inst1, "attestReserves", attestation);
      await expect(as(token, relayer).attestReservesWithSig(RESERVES, STATEMENT, 7n, deadline, signature))
        .to.be.revertedWithCustomError(token, "NonceAlreadyUsed")
        .withArgs(inst1.address, 7n);
    });

    it("accepts a signed operation at its deadline and refuses it one second later", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { token, inst1, payer, relayer, as } = world;
      const deadline = await deadlineIn(100);
      const sign = async (nonce: bigint) =>
        signTokenOperation(world, inst1, "mint", { to: payer.address, amount: 1n, bankRef: DEPOSIT, nonce, deadline });
      const onTime = await sign(1n);
      const late = await sign(2n);
      await time.setNextBlockTimestamp(deadline);
      await expect(as(token, relayer).mintWithSig(payer.address, 1n, DEPOSIT, 1n, deadline, onTime)).to.emit(token, "Minted");
      await expect(as(token, relayer).mintWithSig(payer.address, 1n, DEPOSIT, 2n, deadline, late))
        .to.be.revertedWithCustomError(token, "SignatureExpired")
        .withArgs(deadline);
      expect(await token.isNonceUsed(inst1.address, 2n)).to.equal(false);
    });

    it("refuses an expired signed burn, attestation and freeze", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { token, inst1, regulator, payer, relayer, as } = world;
      const deadline = BigInt(await time.latest());
      const burn = { from: payer.address, amount: 1n, bankRef: PAYOUT, nonce: 1n, deadline };
      const attest = { amount: 1n, statementHash: STATEMENT, nonce: 2n, deadline };
      const freeze = { account: payer.address, frozen: true, reason: DECISION, nonce: 3n, deadline };
      const relayed = as(token, relayer);
      await expect(relayed.burnWithSig(payer.address, 1n, PAYOUT, 1n, deadline, await signTokenOperation(world, inst1, "burn", burn)))
        .to.be.revertedWithCustomError(token, "SignatureExpired")
        .withArgs(deadline);
      await expect(relayed.attestReservesWithSig(1n, STATEMENT, 2n, deadline, await signTokenOperation(world, inst1, "attestReserves", attest)))
        .to.be.revertedWithCustomError(token, "SignatureExpired")
        .withArgs(deadline);
      await expect(
        relayed.setFrozenWithSig(payer.address, true, DECISION, 3n, deadline, await signTokenOperation(world, regulator, "freeze", freeze)),
      )
        .to.be.revertedWithCustomError(token, "SignatureExpired")
        .withArgs(deadline);
    });

    it("does not accept a custodian's mint signed for another chain or another token", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { token, inst1, payer, relayer, escrow, as } = world;
      const message = { to: payer.address, amount: 1_00n, bankRef: DEPOSIT, nonce: 1n, deadline: await deadlineIn(3_600) };
      const wrongDomains: DomainOverrides[] = [{ chainId: world.chainId + 1n }, { verifyingContract: await escrow.getAddress() }];
      for (const overrides of wrongDomains) {
        const signature = await signTokenOperation(world, inst1, "mint", message, overrides);
        const recovered = await recoveredByToken(world, "mint", message, signature);
        expect(recovered).to.not.equal(inst1.address);
        await expect(as(token, relayer).mintWithSig(payer.address, 1_00n, DEPOSIT, 1n, message.deadline, signature))
          .to.be.revertedWithCustomError(token, "NotCustodian")
          .withArgs(recovered);
      }
    });

    it("does not accept a regulator's freeze signed for another chain or another token", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { token, regulator, payer, relayer, escrow, as } = world;
      const message = { account: payer.address, frozen: true, reason: DECISION, nonce: 1n, deadline: await deadlineIn(3_600) };
      const wrongDomains: DomainOverrides[] = [{ chainId: world.chainId + 1n }, { verifyingContract: await escrow.getAddress() }];
      for (const overrides of wrongDomains) {
        const signature = await signTokenOperation(world, regulator, "freeze", message, overrides);
        const recovered = await recoveredByToken(world, "freeze", message, signature);
        expect(recovered).to.not.equal(regulator.address);
        await expect(as(token, relayer).setFrozenWithSig(payer.address, true, DECISION, 1n, message.deadline, signature))
          .to.be.revertedWithCustomError(token, "Unauthorized")
          .withArgs(recovered, REGULATOR_ROLE);
      }
    });

    it("does not accept a signed mint whose amount the relayer changed", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { token, inst1, payer, relayer, as } = world;
      const signed = { to: payer.address, amount: 1_00n, bankRef: DEPOSIT, nonce: 1n, deadline: await deadlineIn(3_600) };
      const signature = await signTokenOperation(world, inst1, "mint", signed);
      const recovered = await recoveredByToken(world, "mint", { ...signed, amount: 1_000_00n }, signature);
      await expect(as(token, relayer).mintWithSig(payer.address, 1_000_00n, DEPOSIT, 1n, signed.deadline, signature))
        .to.be.revertedWithCustomError(token, "NotCustodian")
        .withArgs(recovered);
    });

    it("refuses a signed operation from a signer that is not a custodian", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { token, inst2, relayer, as } = world;
      const message = { amount: 1n, statementHash: STATEMENT, nonce: 1n, deadline: await deadlineIn(3_600) };
      const signature = await signTokenOperation(world, inst2, "attestReserves", message);
      await expect(as(token, relayer).attestReservesWithSig(1n, STATEMENT, 1n, message.deadline, signature))
        .to.be.revertedWithCustomError(token, "NotCustodian")
        .withArgs(inst2.address);
    });

    it("refuses a malformed signature", async function () {
      const { token, payer, relayer, as } = await networkHelpers.loadFixture(deployWorld);
      const deadline = await deadlineIn(3_600);
      for (const signature of ["0x" + "00".repeat(65), "0x1234"]) {
        await expect(as(token, relayer).mintWithSig(payer.address, 1n, DEPOSIT, 1n, deadline, signature))
          .to.be.revertedWithCustomError(token, "InvalidSigner")
          .withArgs(ethers.ZeroAddress);
      }
    });

    it("lets a signer cancel a nonce so its signed operation can no longer execute", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { token, inst1, payer, relayer, as } = world;
      const message = { to: payer.address, amount: 1_00n, bankRef: DEPOSIT, nonce: 42n, deadline: await deadlineIn(3_600) };
      const signature = await signTokenOperation(world, inst1, "mint", message);
      expect(await token.isNonceUsed(inst1.address, 42n)).to.equal(false);
      await expect(as(token, inst1).cancelNonce(42n)).to.emit(token, "NonceCancelled").withArgs(inst1.address, 42n);
      expect(await token.isNonceUsed(inst1.address, 42n)).to.equal(true);
      await expect(as(token, relayer).mintWithSig(payer.address, 1_00n, DEPOSIT, 42n, message.deadline, signature))
        .to.be.revertedWithCustomError(token, "NonceAlreadyUsed")
        .withArgs(inst1.address, 42n);
    });

    it("refuses to cancel a nonce twice", async function () {
      const { token, inst1, as } = await networkHelpers.loadFixture(deployWorld);
      await as(token, inst1).cancelNonce(42n);
      await expect(as(token, inst1).cancelNonce(42n))
        .to.be.revertedWithCustomError(token, "NonceAlreadyUsed")
        .withArgs(inst1.address, 42n);
    });
  });

  describe("permit", function () {
    async function signPermit(world: World, owner: Signer, spender: string, value: bigint, deadline: bigint) {
      const ownerAddress = await owner.getAddress();
      const types = {
        Permit: [
          { name: "owner", type: "address" },
          { name: "spender", type: "address" },
          { name: "value", type: "uint256" },
          { name: "nonce", type: "uint256" },
          { name: "deadline", type: "uint256" },
        ],
      };
      const message = { owner: ownerAddress, spender, value, nonce: await world.token.nonces(ownerAddress), deadline };
      return ethers.Signature.from(await owner.signTypedData(await tokenDomainOf(world), types, message));
    }

    it("lets a relayed permit fund a transferFrom between registered participants", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { token, payer, merchant, outsider, as } = world;
      const deadline = await deadlineIn(3_600);
      const { v, r, s } = await signPermit(world, payer, merchant.address, 20_00n, deadline);
      await as(token, outsider).permit(payer.address, merchant.address, 20_00n, deadline, v, r, s);
      expect(await token.allowance(payer.address, merchant.address)).to.equal(20_00n);
      expect(await token.nonces(payer.address)).to.equal(1n);
      await expect(as(token, merchant).transferFrom(payer.address, merchant.address, 20_00n)).to.changeTokenBalances(
        ethers,
        token,
        [payer, merchant],
        [-20_00n, 20_00n],
      );
      expect(await token.allowance(payer.address, merchant.address)).to.equal(0n);
    });

    it("does not let a permit move tokens to an unregistered account", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { token, payer, outsider, as } = world;
      const deadline = await deadlineIn(3_600);
      const { v, r, s } = await signPermit(world, payer, outsider.address, 20_00n, deadline);
      await as(token, outsider).permit(payer.address, outsider.address, 20_00n, deadline, v, r, s);
      await expect(as(token, outsider).transferFrom(payer.address, outsider.address, 20_00n))
        .to.be.revertedWithCustomError(token, "AccountNotPermitted")
        .withArgs(outsider.address);
    });

    it("refuses an expired permit", async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const { token, payer, merchant, as } = world;
      const deadline = BigInt(await time.latest());
      const { v, r, s } = await signPermit(world, payer, merchant.address, 1n, deadline);
      await expect(as(token, merchant).permit(payer.address, merchant.address, 1n, deadline, v, r, s))
        .to.be.revertedWithCustomError(token, "ERC2612ExpiredSignature")
        .withArgs(deadline);
    });
  });
});
