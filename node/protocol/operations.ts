/**
 * Signed operations as they travel between gateway, nodes and chain: the zod wire schema (strict,
 * money as decimal strings), the operation id (= EIP-712 digest, also the gossip message id) and the
 * signer each operation needs. The same types the contracts verify (see eip712.ts).
 */
import { TypedDataEncoder, getAddress, keccak256, concat, toUtf8Bytes, type TypedDataDomain, type TypedDataField } from "ethers";
import { z } from "zod";

import {
  ESCROW_ACTION_TYPES,
  OPERATION_KINDS,
  PAYMENT_TYPES,
  escrowDomain,
  type OperationKindName,
  type PaymentTerms,
  type TypedDataTypes,
} from "./eip712.js";

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
