/** SettlementToken metadata and the EIP-712 types and domain its signed operations use. */
import { expect } from "chai";
import { TypedDataEncoder, id } from "ethers";

import { TOKEN_TYPES } from "../../../core/protocol/eip712.js";
import { deployWorld, networkHelpers } from "../helpers/fixture.js";
import { tokenDomainOf } from "../helpers/token.js";

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
});
