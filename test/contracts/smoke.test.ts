import { expect } from "chai";

import { deployWorld, makeTerms, networkHelpers, payHeld, PaymentStatus } from "./helpers/fixture.js";

describe("PaymentEscrow smoke", function () {
  it("holds a payment and releases it on confirmation, less the fee", async function () {
    const world = await networkHelpers.loadFixture(deployWorld);
    const terms = await makeTerms(world);
    const id = await payHeld(world, terms);
    expect((await world.escrow.paymentOf(id)).status).to.equal(PaymentStatus.Held);
    await expect(world.as(world.escrow, world.payer).confirm(terms))
      .to.emit(world.escrow, "PaymentReleased")
      .withArgs(id, terms.merchant, 99_00n, 1_00n, (v: bigint) => v > 0n);
    expect(await world.token.balanceOf(terms.merchant)).to.equal(99_00n);
  });
});
