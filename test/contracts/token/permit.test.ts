/** SettlementToken ERC-2612 permits, still subject to the transfer permissions. */
import { expect } from "chai";
import type { Signer } from "ethers";

import { deployWorld, ethers, networkHelpers, type World } from "../helpers/fixture.js";
import { deadlineIn, tokenDomainOf } from "../helpers/token.js";
import { PERMIT_TYPES } from "../../../core/protocol/eip712.js";

const { time } = networkHelpers;

describe("SettlementToken", function () {
  describe("permit", function () {
    async function signPermit(world: World, owner: Signer, spender: string, value: bigint, deadline: bigint) {
      const ownerAddress = await owner.getAddress();
      const types = PERMIT_TYPES;
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
