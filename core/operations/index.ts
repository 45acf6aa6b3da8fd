/**
 * Signed operations as they travel between gateway, nodes and chain: the zod wire schema (strict,
 * money as decimal strings), the operation id (= EIP-712 digest, also the gossip message id) and the
 * signer each operation needs. The same types the contracts verify (see eip712.ts).
 */
import { TypedDataEncoder, getAddress, keccak256, concat, toUtf8Bytes, type Signer, type TypedDataDomain, type TypedDataField } from "ethers";
import { z } from "zod";

import { SettlenetError } from "../errors.js";

import {
  ESCROW_ACTION_TYPES,
  OPERATION_KINDS,
  PAYMENT_TYPES,
  TOKEN_TYPES,
  escrowDomain,
  tokenDomain,
  type OperationKindName,
  type PaymentTerms,
  type TypedDataTypes,
} from "../protocol/eip712.js";

const UINT256_MAX = (1n << 256n) - 1n;

/** A 0x address, normalised to its checksum form. */
export const addressSchema = z
  .string()
  .regex(/^0x[0-9a-fA-F]{40}$/, "expected a 0x-prefixed 20-byte hex address")
  .transform((value) => getAddress(value));

export const bytes32Schema = z.string().regex(/^0x[0-9a-fA-F]{64}$/, "expected 32 bytes as 0x-prefixed hex");

/** A 65-byte ECDSA signature (r, s, v) as hex. */
export const signatureSchema = z.string().regex(/^0x[0-9a-fA-F]{130}$/, "expected a 65-byte signature as 0x-prefixed hex");

/** An unsigned integer of at most `bits` bits, written as a decimal string (never a JSON number). */
export function uintString(bits: number) {
  const max = bits === 256 ? UINT256_MAX : (1n << BigInt(bits)) - 1n;
  return z
    .string()
    .regex(/^(0|[1-9][0-9]{0,77})$/, "expected a non-negative integer as a decimal string")
    .transform((value) => BigInt(value))
    .refine((value) => value <= max, `exceeds uint${bits}`);
}

/** Small integers (fee, periods) as JSON numbers. */
const uintNumber = (max: number) => z.number().int().min(0).max(max);

export const paymentTermsSchema = z.strictObject({
  payer: addressSchema,
  merchant: addressSchema,
  token: addressSchema,
  amount: uintString(96).refine((value) => value > 0n, "amount must be positive"),
  orderId: bytes32Schema,
  feeBps: uintNumber(10_000),
  direct: z.boolean(),
  payDeadline: uintString(64),
  fulfilmentPeriod: uintNumber(0xffffffff),
  autoReleasePeriod: uintNumber(0xffffffff),
  refundPeriod: uintNumber(0xffffffff),
  nonce: uintString(256),
});

const signed = { nonce: uintString(256), deadline: uintString(256), signature: signatureSchema };
const reasonSchema = bytes32Schema;

/** Every escrow operation, discriminated by `kind`. */
export const escrowOperationSchema = z.discriminatedUnion("kind", [
  z.strictObject({ kind: z.literal("pay"), terms: paymentTermsSchema, signature: signatureSchema }),
  z.strictObject({ kind: z.literal("markFulfilled"), terms: paymentTermsSchema, ...signed }),
  z.strictObject({ kind: z.literal("confirm"), terms: paymentTermsSchema, ...signed }),
  z.strictObject({ kind: z.literal("release"), terms: paymentTermsSchema }),
  z.strictObject({
    kind: z.literal("refund"),
    terms: paymentTermsSchema,
    amount: uintString(96).refine((value) => value > 0n, "refund amount must be positive"),
    reason: reasonSchema,
    ...signed,
  }),
  z.strictObject({ kind: z.literal("dispute"), terms: paymentTermsSchema, reason: reasonSchema, ...signed }),
  z.strictObject({
    kind: z.literal("resolve"),
    terms: paymentTermsSchema,
    payerAmount: uintString(96),
    reason: reasonSchema,
    ...signed,
  }),
  z.strictObject({ kind: z.literal("reclaim"), terms: paymentTermsSchema, ...signed }),
]);

export type EscrowOperation = z.infer<typeof escrowOperationSchema>;
/** The JSON form (before parsing): what the API and gossip carry. */
export type EscrowOperationInput = z.input<typeof escrowOperationSchema>;

/** Chain context that scopes ids and signatures. */
export interface EscrowContext {
  chainId: bigint;
  escrow: string;
}

export function escrowDomainOf(ctx: EscrowContext): TypedDataDomain {
  return escrowDomain(ctx.chainId, ctx.escrow);
}

/** Payment id: the EIP-712 digest of the terms (what PaymentEscrow.paymentIdOf returns). */
export function paymentIdOf(terms: PaymentTerms, ctx: EscrowContext): string {
  return typedDigest(domainSeparator(ctx), PAYMENT_STRUCT, terms as unknown as Record<string, unknown>);
}

type SignedKind = Exclude<OperationKindName, "pay" | "release">;

/** The typed message a signed non-pay operation's actor signs. */
export function actionMessage(op: Extract<EscrowOperation, { kind: SignedKind }>, paymentId: string) {
  const base = { paymentId, nonce: op.nonce, deadline: op.deadline };
  switch (op.kind) {
    case "refund":
      return { ...base, amount: op.amount, reason: op.reason };
    case "dispute":
      return { ...base, reason: op.reason };
    case "resolve":
      return { ...base, payerAmount: op.payerAmount, reason: op.reason };
    default:
      return base;
  }
}

/** The EIP-712 digest the operation's signature covers; for `release` (unsigned) a domain-separated hash. */
export function signingDigest(op: EscrowOperation, ctx: EscrowContext): string {
  return operationDigests(op, ctx).id;
}

/**
 * Operation id = its signing digest: pay → the payment id; release → a hash of the payment id (so a
 * release is one operation no matter who sends it); others → the EIP-712 digest of the signed action.
 */
export const operationIdOf = signingDigest;

/** Who must have signed: payer, merchant, or (resolve) any arbiter, which the caller checks by role. */
export function expectedSigner(op: EscrowOperation): string | "arbiter" | null {
  switch (op.kind) {
    case "pay":
    case "confirm":
    case "dispute":
    case "reclaim":
      return op.terms.payer;
    case "markFulfilled":
    case "refund":
      return op.terms.merchant;
    case "resolve":
      return "arbiter";
    case "release":
      return null;
  }
}

/** The `IPaymentEscrow.Operation` tuple for `execute` / `executeBatch`. */
export function toContractOperation(op: EscrowOperation) {
  const zero = "0x" + "00".repeat(32);
  return {
    kind: OPERATION_KINDS.indexOf(op.kind),
    terms: op.terms,
    amount: op.kind === "refund" ? op.amount : op.kind === "resolve" ? op.payerAmount : 0n,
    reason: "reason" in op ? op.reason : zero,
    nonce: "nonce" in op ? op.nonce : 0n,
    deadline: "deadline" in op ? op.deadline : 0n,
    signature: "signature" in op ? op.signature : "0x",
  };
}

/** JSON form of terms (bigints as decimal strings) for the wire. */
export function termsToJson(terms: PaymentTerms): z.input<typeof paymentTermsSchema> {
  return {
    ...terms,
    amount: terms.amount.toString(),
    payDeadline: terms.payDeadline.toString(),
    nonce: terms.nonce.toString(),
  };
}

// ---------------------------------------------------------------- fast EIP-712 encoding
// Every field of these types is static, so a struct hash is keccak256 over fixed 32-byte words; doing
// that directly is several times faster than ethers' generic encoder, which would cap validation.

/**
 * The operation id and payment id, equal to protocol/operations.ts `operationIdOf` / `paymentIdOf`
 * (tests compare them) but about ten times faster: ethers' TypedDataEncoder re-parses the types on
 * every call, which alone would cap validation near a thousand operations per second. These are
 * static-field structs, so the EIP-712 struct hash is keccak of 32-byte words.
 */
export function operationDigests(op: EscrowOperation, ctx: EscrowContext): { id: string; paymentId: string } {
  const domain = domainSeparator(ctx);
  const paymentId = typedDigest(domain, PAYMENT_STRUCT, op.terms as unknown as Record<string, unknown>);
  if (op.kind === "pay") return { id: paymentId, paymentId };
  if (op.kind === "release") return { id: keccak256(concat([RELEASE_PREFIX, paymentId])), paymentId };
  const message = actionMessage(op, paymentId) as Record<string, unknown>;
  return { id: typedDigest(domain, ACTION_STRUCTS[op.kind], message), paymentId };
}

interface StructSpec {
  typeHash: Buffer;
  fields: readonly TypedDataField[];
}

const RELEASE_PREFIX = toUtf8Bytes("settlenet.release:");

function structSpec(types: TypedDataTypes): StructSpec {
  const [primary] = Object.keys(types);
  const fields = primary ? types[primary] : undefined;
  if (!primary || !fields) throw new Error("empty EIP-712 type");
  for (const field of fields) {
    if (!/^(address|bool|bytes32|uint\d+)$/.test(field.type)) throw new Error(`EIP-712 field ${field.name}: ${field.type} is not a static type`);
  }
  const typeHash = hexBytes(keccak256(toUtf8Bytes(TypedDataEncoder.from(types).encodeType(primary))));
  return { typeHash, fields };
}

const PAYMENT_STRUCT = structSpec(PAYMENT_TYPES);
const ACTION_STRUCTS = Object.fromEntries(
  Object.entries(ESCROW_ACTION_TYPES).map(([kind, types]) => [kind, structSpec(types)]),
) as Record<keyof typeof ESCROW_ACTION_TYPES, StructSpec>;

const domainSeparators = new Map<string, Buffer>();

function domainSeparator(ctx: EscrowContext): Buffer {
  const cacheKey = `${ctx.chainId}:${ctx.escrow.toLowerCase()}`;
  let separator = domainSeparators.get(cacheKey);
  if (!separator) {
    separator = hexBytes(TypedDataEncoder.hashDomain(escrowDomainOf({ chainId: ctx.chainId, escrow: getAddress(ctx.escrow) })));
    domainSeparators.set(cacheKey, separator);
  }
  return separator;
}

function typedDigest(domain: Buffer, spec: StructSpec, value: Record<string, unknown>): string {
  const words = Buffer.alloc(32 * (spec.fields.length + 1));
  spec.typeHash.copy(words, 0);
  spec.fields.forEach((field, i) => encodeWord(words, 32 * (i + 1), field.type, value[field.name]));
  const structHash = hexBytes(keccak256(words));
  return keccak256(Buffer.concat([EIP712_PREFIX, domain, structHash]));
}

const EIP712_PREFIX = Buffer.from([0x19, 0x01]);

function encodeWord(out: Buffer, offset: number, type: string, value: unknown): void {
  if (type === "address" || type === "bytes32") {
    const hex = String(value).slice(2);
    out.write(hex, offset + 32 - hex.length / 2, "hex");
  } else if (type === "bool") {
    out[offset + 31] = value ? 1 : 0;
  } else {
    // uintN: zod bounded the value already.
    out.write(BigInt(value as bigint | number).toString(16).padStart(64, "0"), offset, "hex");
  }
}

function hexBytes(hex: string): Buffer {
  return Buffer.from(hex.slice(2), "hex");
}

// ---------------------------------------------------------------- token operations
// Custodian and regulator actions on a SettlementToken, relayed through its *WithSig functions. Their
// EIP-712 domain is the token's own (ERC20Permit: token name, version "1", chain id, token address), so
// a token operation's id is the digest SettlementToken._hashTypedDataV4 computes for it.

/** Token operation kinds; each maps to one SettlementToken *WithSig function. */
export const TOKEN_OPERATION_KINDS = ["mint", "burn", "attestReserves", "freeze"] as const;
export type TokenOperationKindName = (typeof TOKEN_OPERATION_KINDS)[number];
/** Every operation kind a node accepts. */
export type AnyOperationKindName = OperationKindName | TokenOperationKindName;

const positiveAmount = uintString(256).refine((value) => value > 0n, "amount must be positive");

/** Every token operation, discriminated by `kind` (money, nonce and deadline as decimal strings). */
export const tokenOperationSchema = z.discriminatedUnion("kind", [
  z.strictObject({ kind: z.literal("mint"), token: addressSchema, to: addressSchema, amount: positiveAmount, bankRef: bytes32Schema, ...signed }),
  z.strictObject({ kind: z.literal("burn"), token: addressSchema, from: addressSchema, amount: positiveAmount, bankRef: bytes32Schema, ...signed }),
  z.strictObject({ kind: z.literal("attestReserves"), token: addressSchema, amount: uintString(256), statementHash: bytes32Schema, ...signed }),
  z.strictObject({ kind: z.literal("freeze"), token: addressSchema, account: addressSchema, frozen: z.boolean(), reason: bytes32Schema, ...signed }),
]);

export type TokenOperation = z.infer<typeof tokenOperationSchema>;
/** The JSON form of a token operation: what the API and gossip carry. */
export type TokenOperationInput = z.input<typeof tokenOperationSchema>;

/** Every operation a node accepts (escrow and token), discriminated by `kind`. */
export const operationSchema = z.discriminatedUnion("kind", [escrowOperationSchema, tokenOperationSchema]);
export type Operation = z.infer<typeof operationSchema>;
/** The JSON form of any operation. */
export type OperationInput = z.input<typeof operationSchema>;

/** A token operation before it is signed (its JSON form without `signature`). */
export type UnsignedTokenOperation = TokenOperationInput extends infer T ? (T extends unknown ? Omit<T, "signature"> : never) : never;

/** True for the kinds executed on a SettlementToken rather than the escrow. */
export function isTokenOperationKind(kind: string): kind is TokenOperationKindName {
  return (TOKEN_OPERATION_KINDS as readonly string[]).includes(kind);
}

/** True if `op` is a token operation. */
export function isTokenOperation<T extends { kind: string }>(op: T): op is Extract<T, { kind: TokenOperationKindName }> {
  return isTokenOperationKind(op.kind);
}

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

/** Who must sign a token operation: a custodian institution of the token, or a regulator. */
export function tokenOperationRole(kind: TokenOperationKindName): "custodian" | "regulator" {
  return kind === "freeze" ? "regulator" : "custodian";
}

/** The typed message of a token operation (the fields of TOKEN_TYPES[kind], bigints as bigints). */
export function tokenOperationMessage(op: TokenOperation): Record<string, unknown> {
  const signedFields = { nonce: op.nonce, deadline: op.deadline };
  switch (op.kind) {
    case "mint":
      return { to: op.to, amount: op.amount, bankRef: op.bankRef, ...signedFields };
    case "burn":
      return { from: op.from, amount: op.amount, bankRef: op.bankRef, ...signedFields };
    case "attestReserves":
      return { amount: op.amount, statementHash: op.statementHash, ...signedFields };
    case "freeze":
      return { account: op.account, frozen: op.frozen, reason: op.reason, ...signedFields };
  }
}

function tokenNameFor(ctx: TokenContext, token: string): string {
  const name = typeof ctx.tokenName === "string" ? ctx.tokenName : (ctx.tokenName(token) ?? ctx.tokenName(token.toLowerCase()));
  if (name === undefined) throw new SettlenetError("UNSUPPORTED_TOKEN", `token ${token} is not a known settlement token`, { token });
  return name;
}

/** EIP-712 domain, types and message of a token operation, for any EIP-712 signer (wallet, HSM). */
export function tokenTypedData(op: TokenOperation, ctx: TokenContext): { domain: TypedDataDomain; types: TypedDataTypes; message: Record<string, unknown> } {
  return {
    domain: tokenDomain(ctx.chainId, getAddress(op.token), tokenNameFor(ctx, op.token)),
    types: TOKEN_TYPES[op.kind],
    message: tokenOperationMessage(op),
  };
}

/**
 * A token operation's id: the EIP-712 digest under its token's domain (what the token's
 * `_hashTypedDataV4` computes and its signer signs). Fast path like `operationDigests`.
 */
export function tokenOperationDigest(op: TokenOperation, ctx: TokenContext): string {
  const name = tokenNameFor(ctx, op.token);
  return typedDigest(tokenDomainSeparator(ctx.chainId, op.token, name), TOKEN_STRUCTS[op.kind], tokenOperationMessage(op));
}

/** Signs an unsigned token operation (JSON form) with `signer`; returns the signed JSON form. Throws a ZodError on bad input. */
export async function signTokenOperation<T extends UnsignedTokenOperation>(
  signer: Pick<Signer, "signTypedData">,
  unsigned: T,
  ctx: TokenContext,
): Promise<T & { signature: string }> {
  const parsed = tokenOperationSchema.parse({ ...unsigned, signature: PLACEHOLDER_SIGNATURE });
  const { domain, types, message } = tokenTypedData(parsed, ctx);
  const signature = await signer.signTypedData(domain, types, message);
  return { ...unsigned, signature };
}

/** The JSON wire form of a parsed token operation. */
export function tokenOperationToJson(op: TokenOperation): TokenOperationInput {
  const base = { token: op.token, nonce: op.nonce.toString(), deadline: op.deadline.toString(), signature: op.signature };
  switch (op.kind) {
    case "mint":
      return { kind: op.kind, ...base, to: op.to, amount: op.amount.toString(), bankRef: op.bankRef };
    case "burn":
      return { kind: op.kind, ...base, from: op.from, amount: op.amount.toString(), bankRef: op.bankRef };
    case "attestReserves":
      return { kind: op.kind, ...base, amount: op.amount.toString(), statementHash: op.statementHash };
    case "freeze":
      return { kind: op.kind, ...base, account: op.account, frozen: op.frozen, reason: op.reason };
  }
}

/** The SettlementToken call that executes a token operation: function name and arguments. */
export function toTokenCall(op: TokenOperation): { functionName: "mintWithSig" | "burnWithSig" | "attestReservesWithSig" | "setFrozenWithSig"; args: unknown[] } {
  const tail = [op.nonce, op.deadline, op.signature];
  switch (op.kind) {
    case "mint":
      return { functionName: "mintWithSig", args: [op.to, op.amount, op.bankRef, ...tail] };
    case "burn":
      return { functionName: "burnWithSig", args: [op.from, op.amount, op.bankRef, ...tail] };
    case "attestReserves":
      return { functionName: "attestReservesWithSig", args: [op.amount, op.statementHash, ...tail] };
    case "freeze":
      return { functionName: "setFrozenWithSig", args: [op.account, op.frozen, op.reason, ...tail] };
  }
}

/** Escrow and token chain context: what it takes to compute the id of any operation. */
export interface OperationContext extends EscrowContext {
  /** Token name by token address (lower-case keys), as tokenNamesOf builds it. */
  tokenNames: ReadonlyMap<string, string>;
}

/** The id of any operation: `operationDigests(op).id` for escrow operations, `tokenOperationDigest` for token ones. */
export function operationIdFor(op: Operation, ctx: OperationContext): string {
  if (isTokenOperation(op)) return tokenOperationDigest(op, { chainId: ctx.chainId, tokenName: (token) => ctx.tokenNames.get(token.toLowerCase()) });
  return operationDigests(op, ctx).id;
}

const PLACEHOLDER_SIGNATURE = "0x" + "00".repeat(65);

const TOKEN_STRUCTS = Object.fromEntries(Object.entries(TOKEN_TYPES).map(([kind, types]) => [kind, structSpec(types)])) as Record<
  TokenOperationKindName,
  StructSpec
>;

const tokenDomainSeparators = new Map<string, Buffer>();

function tokenDomainSeparator(chainId: bigint, token: string, name: string): Buffer {
  const cacheKey = `${chainId}:${token.toLowerCase()}:${name}`;
  let separator = tokenDomainSeparators.get(cacheKey);
  if (!separator) {
    separator = hexBytes(TypedDataEncoder.hashDomain(tokenDomain(chainId, getAddress(token), name)));
    tokenDomainSeparators.set(cacheKey, separator);
  }
  return separator;
}
