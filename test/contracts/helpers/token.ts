/** Helpers for the SettlementToken tests in test/contracts/token (one file per behaviour). */
import { TypedDataEncoder, encodeBytes32String, recoverAddress, type Signer } from "ethers";

import { TOKEN_TYPES, tokenDomain } from "../../../core/protocol/eip712.js";
import { ethers, networkHelpers, PAYER_FUNDS, type World } from "./fixture.js";

export const DEPOSIT = encodeBytes32String("deposit-1");
export const PAYOUT = encodeBytes32String("payout-1");
export const STATEMENT = encodeBytes32String("statement-1");
export const DECISION = encodeBytes32String("decision-1");
/** inst1's outstanding supply after the fixture minted PAYER_FUNDS to each of the two payers. */
export const FIXTURE_OUTSTANDING = 2n * PAYER_FUNDS;

export type TokenOperation = keyof typeof TOKEN_TYPES;
export type DomainOverrides = { chainId?: bigint; verifyingContract?: string };

/** The token's EIP-712 domain, or a wrong one with `overrides` (replay tests). */
export async function tokenDomainOf(world: World, overrides: DomainOverrides = {}) {
  return tokenDomain(
    overrides.chainId ?? world.chainId,
    overrides.verifyingContract ?? (await world.token.getAddress()),
    await world.token.name(),
  );
}

/** `signer`'s EIP-712 signature of a token operation, by default over this token's real domain. */
export async function signTokenOperation(
  world: World,
  signer: Signer,
  operation: TokenOperation,
  message: Record<string, unknown>,
  overrides: DomainOverrides = {},
): Promise<string> {
  return signer.signTypedData(await tokenDomainOf(world, overrides), TOKEN_TYPES[operation], message);
}

/** The address the token recovers from `signature` over `message` in its own domain. */
export async function recoveredByToken(world: World, operation: TokenOperation, message: Record<string, unknown>, signature: string) {
  return recoverAddress(TypedDataEncoder.hash(await tokenDomainOf(world), TOKEN_TYPES[operation], message), signature);
}

/** The latest block's timestamp plus `seconds`. */
export async function deadlineIn(seconds: number): Promise<bigint> {
  return BigInt(await networkHelpers.time.latest()) + BigInt(seconds);
}

/** Signers the fixture leaves unused (it takes accounts #0..#12). */
export async function spareSigners() {
  const signers = await ethers.getSigners();
  const keyA = signers[13];
  const keyB = signers[14];
  if (!keyA || !keyB) throw new Error("test network has too few accounts");
  return { keyA, keyB };
}
