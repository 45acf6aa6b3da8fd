/** Helpers for the per-operation escrow tests in test/contracts/escrow (one file per operation). */
import { encodeBytes32String, ZeroHash } from "ethers";

import type { PaymentTerms } from "../../../core/operations/index.js";
import type { BlocklistPausableToken, FeeOnTransferToken, NoReturnToken, ReentrantToken } from "../../../types/ethers-contracts/index.js";
import { networkHelpers, PAYER_FUNDS, type World } from "./fixture.js";

export const REASON = encodeBytes32String("damaged-goods");

/** Makes the next transaction's block carry `timestamp`. */
export async function nextBlockAt(timestamp: bigint): Promise<void> {
  await networkHelpers.time.setNextBlockTimestamp(timestamp);
}

/** Makes the next transaction's block `seconds` after the latest one and returns its timestamp. */
export async function nextBlockIn(seconds = 1): Promise<bigint> {
  const timestamp = BigInt(await networkHelpers.time.latest()) + BigInt(seconds);
  await nextBlockAt(timestamp);
  return timestamp;
}

/**
 * Admits a test token as a foreign token (registry admin: the escrow measures what each pull delivers) and
 * funds the payer, with an escrow allowance.
 */
export async function admitTestToken<T extends FeeOnTransferToken | ReentrantToken | NoReturnToken | BlocklistPausableToken>(world: World, token: T): Promise<T> {
  const tokenAddress = await token.getAddress();
  await (await world.registry.registerForeignToken(tokenAddress)).wait();
  await (await token.mint(await world.payer.getAddress(), PAYER_FUNDS)).wait();
  await (await token.connect(world.payer).approve(await world.escrow.getAddress(), PAYER_FUNDS)).wait();
  return token;
}

/** The merchant marks the payment fulfilled. */
export async function fulfil(world: World, terms: PaymentTerms): Promise<void> {
  await (await world.as(world.escrow, world.merchant).markFulfilled(terms)).wait();
}

/** The payer confirms receipt. */
export async function confirmAsPayer(world: World, terms: PaymentTerms): Promise<void> {
  await (await world.as(world.escrow, world.payer).confirm(terms)).wait();
}

/** The merchant refunds `amount`. */
export async function refundAsMerchant(world: World, terms: PaymentTerms, amount: bigint): Promise<void> {
  await (await world.as(world.escrow, world.merchant).refund(terms, amount, REASON)).wait();
}

/** The payer disputes the payment. */
export async function disputeAsPayer(world: World, terms: PaymentTerms, reason: string = REASON): Promise<void> {
  await (await world.as(world.escrow, world.payer).dispute(terms, reason)).wait();
}

/** The arbiter resolves a dispute, awarding `payerAmount` to the payer. */
export async function resolveAsArbiter(world: World, terms: PaymentTerms, payerAmount: bigint): Promise<void> {
  await (await world.as(world.escrow, world.arbiter).resolve(terms, payerAmount, ZeroHash)).wait();
}

/** The payer reclaims a payment never fulfilled (moves time past the fulfilment deadline first). */
export async function reclaimAfterDeadline(world: World, terms: PaymentTerms): Promise<void> {
  await networkHelpers.time.increase(terms.fulfilmentPeriod + 1);
  await (await world.as(world.escrow, world.payer).reclaim(terms)).wait();
}

/** Custodian inst1 mints `amount` to `account` (e.g. so a merchant can refund more than it was paid). */
export async function mintTo(world: World, account: string, amount: bigint): Promise<void> {
  await (await world.as(world.token, world.inst1).mint(account, amount, encodeBytes32String("top-up"))).wait();
}
