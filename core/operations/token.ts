/**
 * What every token operation's descriptor states. Token operations are custodian and regulator actions
 * on a SettlementToken, relayed through its `*WithSig` functions. Their EIP-712 domain is the token's
 * own (ERC20Permit: token name, version "1", chain id, token address), so an operation's id is the
 * digest SettlementToken._hashTypedDataV4 computes for it; each token has its own nonce space.
 */
import type { z } from "zod";

import { SettlenetError } from "../errors.js";
import type { OperationCode } from "../protocol/codes.js";
import { tokenDomain } from "../protocol/eip712.js";
import { RECEIPT_REFUSALS, type ChainRefusal } from "./descriptor.js";
import { domainSeparatorOf, type Eip712Struct } from "./typed-data.js";

/** The SettlementToken functions that execute token operations. */
export type TokenFunction = "mintWithSig" | "burnWithSig" | "attestReserveStatementWithSig" | "setFrozenWithSig" | "redeemWithSig";

/** A SettlementToken call: function name and arguments. */
export interface TokenCall {
  functionName: TokenFunction;
  args: unknown[];
}

/** One token operation kind: everything the API, gossip, validation, relay and indexer need to know of it. */
export interface TokenOperationDescriptor<Op extends { kind: string; token: string; nonce: bigint; deadline: bigint; signature: string }> {
  readonly kind: Op["kind"];
  /** Executed by the SettlementToken `op.token`, signed under that token's EIP-712 domain. */
  readonly contract: "token";
  /** Wire schema (strict): what the API and gossip carry. */
  readonly schema: z.ZodType<Op>;
  /** The EIP-712 struct its signer signs. */
  readonly struct: Eip712Struct;
  /** The message of `struct` for `op`. */
  message(op: Op): Record<string, unknown>;
  /** Any active custodian institution of the token (its custodian key), the reserve attestor the registry names for the custodian the operation names, any regulator, or the holder the operation names. */
  readonly signer: "custodian" | "attestor" | "regulator" | "holder";
  /** For signer "holder": the account that must have signed. */
  signerAccount?(op: Op): string;
  /** The account whose balance it changes, if any: it must be a permitted, unfrozen participant. */
  movedAccount?(op: Op): string;
  /** The `*WithSig` function that executes it. */
  readonly functionName: TokenFunction;
  /** Arguments of `functionName` for `op`. */
  callArgs(op: Op): unknown[];
  /** The operation a call of `functionName` on `token` with `args` carries. */
  fromCall(token: string, args: readonly unknown[]): Op;
  /** The token event that shows it executed. */
  readonly executedBy: string;
  /** True if the chain refused it because it was executed already. */
  alreadyExecuted(refusal: ChainRefusal): boolean;
  /** The validation refusal codes it can meet. */
  readonly refusals: readonly OperationCode[];
}

/** Refusals every token operation can meet. */
export const TOKEN_REFUSALS = [...RECEIPT_REFUSALS, "UNSUPPORTED_TOKEN", "EXPIRED", "BAD_SIGNATURE", "NONCE_USED"] as const satisfies readonly OperationCode[];

/** Chain context of token operations: the chain id and each settlement token's ERC-20 name. */
export interface TokenContext {
  chainId: bigint;
  /** Token name (its EIP-712 domain name) by token address; the deployment file lists them. */
  tokenName: string | ((token: string) => string | undefined);
}

/** Token address (lower-case) → token name, from a deployment file's `tokens`. */
export function tokenNamesOf(deployment: { tokens: Record<string, { address: string; name: string }> }): Map<string, string> {
  return new Map(Object.values(deployment.tokens).map((token) => [token.address.toLowerCase(), token.name]));
}

/** The name of `token` in `ctx`; UNSUPPORTED_TOKEN if the context does not know it. */
export function tokenNameFor(ctx: TokenContext, token: string): string {
  const name = typeof ctx.tokenName === "string" ? ctx.tokenName : (ctx.tokenName(token) ?? ctx.tokenName(token.toLowerCase()));
  if (name === undefined) throw new SettlenetError("UNSUPPORTED_TOKEN", `token ${token} is not a known settlement token`, { token });
  return name;
}

/** The EIP-712 domain separator of `token` named `name`. */
export function tokenDomainSeparator(chainId: bigint, token: string, name: string): Buffer {
  return domainSeparatorOf(tokenDomain(chainId, token, name));
}

/** The trailing arguments of every `*WithSig` call. */
export function signedCallArgs(op: { nonce: bigint; deadline: bigint; signature: string }): unknown[] {
  return [op.nonce, op.deadline, op.signature];
}

/** nonce, deadline and signature from the trailing arguments of a `*WithSig` call, starting at `at`. */
export function signedArgsOf(args: readonly unknown[], at: number): { nonce: bigint; deadline: bigint; signature: string } {
  return { nonce: args[at] as bigint, deadline: args[at + 1] as bigint, signature: String(args[at + 2]) };
}
