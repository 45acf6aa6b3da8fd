/** Builds signed token operations (mint, burn, attestReserves, freeze) in their JSON wire form from a deployed scenario. */
import { hexlify, randomBytes, type Signer } from "ethers";

import {
  signTokenOperation,
  tokenOperationDigest,
  tokenOperationSchema,
  type TokenContext,
  type TokenOperationInput,
  type UnsignedTokenOperation,
} from "../../core/operations/index.js";
import type { Scenario } from "./chain.js";

let counter = BigInt(Date.now()) * 1000n;

/** A nonce no other test operation uses. */
export function freshNonce(): bigint {
  counter += 1n;
  return counter;
}

/** Random 32 bytes (bank references, statement hashes, reasons). */
export const randomRef = (): string => hexlify(randomBytes(32));

/** The scenario's token context (CNY's name from the deployment). */
export function tokenContext(s: Scenario): TokenContext {
  const cny = s.deployment.tokens["CNY"];
  if (!cny) throw new Error("CNY missing from the deployment");
  return { chainId: BigInt(s.deployment.chainId), tokenName: cny.name };
}

/** The latest block's timestamp: deadlines come from chain time (EDR clocks lag in long runs). */
export async function chainNow(s: Scenario): Promise<bigint> {
  return BigInt((await s.chain.provider.getBlock("latest"))?.timestamp ?? Math.floor(Date.now() / 1000));
}

/** A token operation to sign, with token, nonce and deadline optional. */
export type TokenOperationDraft = UnsignedTokenOperation extends infer T
  ? T extends { token: string; nonce: string; deadline: string }
    ? Omit<T, "token" | "nonce" | "deadline"> & Partial<Pick<T, "token" | "nonce" | "deadline">>
    : never
  : never;

/** Signs `unsigned` (token defaults to the scenario's CNY, nonce fresh, deadline one hour of chain time ahead). */
export async function signedTokenOp(
  s: Scenario,
  signer: Signer,
  unsigned: TokenOperationDraft,
): Promise<TokenOperationInput> {
  const full = {
    token: s.deployment.tokens["CNY"]?.address ?? "",
    nonce: freshNonce().toString(),
    deadline: ((await chainNow(s)) + 3_600n).toString(),
    ...unsigned,
  } as UnsignedTokenOperation;
  return signTokenOperation(signer, full, tokenContext(s));
}

/** The id a node computes for a token operation in wire form. */
export function tokenOperationIdOf(s: Scenario, op: TokenOperationInput): string {
  return tokenOperationDigest(tokenOperationSchema.parse(op), tokenContext(s));
}
