/**
 * Signed operations as they travel between gateway, nodes and chain. Each kind has one descriptor
 * file in this folder (`pay.ts`, `refund.ts`, `freeze.ts`, ...) holding its wire schema, EIP-712
 * struct, signer rule, contract encoding, the events that show it executed, its "already executed"
 * rule and its refusal codes. This registry puts them together: the schema of every operation, and
 * the functions that dispatch on the kind, so that no other module needs a switch over kinds.
 */
import type { Signer, TypedDataDomain } from "ethers";
import { z } from "zod";

import { SettlenetError } from "../errors.js";
import { escrowDomain, tokenDomain, type TypedDataTypes } from "../protocol/eip712.js";
import { attestReserves } from "./attest-reserves.js";
import { burn } from "./burn.js";
import { confirm } from "./confirm.js";
import type { ChainRefusal } from "./descriptor.js";
import { dispute } from "./dispute.js";
import { contractOperation, type ContractOperation, type EscrowOperationDescriptor, type RiskSubject } from "./escrow.js";
import { freeze } from "./freeze.js";
import { markFulfilled } from "./mark-fulfilled.js";
import { mint } from "./mint.js";
import { pay } from "./pay.js";
import { reclaim } from "./reclaim.js";
import { redeem } from "./redeem.js";
import { refund } from "./refund.js";
import { release } from "./release.js";
import { resolve } from "./resolve.js";
import { PAYMENT_STRUCT, escrowDomainSeparator, paymentIdOf, termsToJson, type EscrowContext, type PaymentTerms } from "./terms.js";
import { tokenDomainSeparator, tokenNameFor, type TokenCall, type TokenContext, type TokenFunction, type TokenOperationDescriptor } from "./token.js";
import { structDigest } from "./typed-data.js";
import { UNSIGNED } from "./wire.js";

export { addressSchema, bytes32Schema, signatureSchema, uintString } from "./wire.js";
export { PAYMENT_TYPES, paymentIdOf, paymentTermsSchema, termsToJson, type EscrowContext, type PaymentTerms, type PaymentTermsInput } from "./terms.js";
export { contractOperationOf, type ContractOperation, type EscrowOperationDescriptor, type ExecutionEvent, type RiskSubject } from "./escrow.js";
export { tokenNamesOf, type TokenCall, type TokenContext, type TokenOperationDescriptor } from "./token.js";
export type { ChainRefusal, SignerRule } from "./descriptor.js";
export type { Eip712Struct } from "./typed-data.js";
export { decodeOperationAt, encodeOperationInto, encodedLength, encodedLengthOf, type DecodedOperation } from "./binary.js";

/** Escrow operation descriptors by kind. */
const ESCROW_DESCRIPTORS = { pay, markFulfilled, confirm, release, refund, dispute, resolve, reclaim } as const;
/** Token operation descriptors by kind. */
const TOKEN_DESCRIPTORS = { mint, burn, attestReserves, freeze, redeem } as const;
const DESCRIPTORS = { ...ESCROW_DESCRIPTORS, ...TOKEN_DESCRIPTORS } as const;

/** Kinds executed by PaymentEscrow. */
export type EscrowOperationKind = keyof typeof ESCROW_DESCRIPTORS;
/** Kinds executed by a SettlementToken. */
export type TokenOperationKind = keyof typeof TOKEN_DESCRIPTORS;
/** Every operation kind a node accepts. */
export type OperationKind = keyof typeof DESCRIPTORS;

/** Escrow operation kinds, in the order of IPaymentEscrow.OperationKind. */
export const ESCROW_OPERATION_KINDS: readonly EscrowOperationKind[] = Object.values(ESCROW_DESCRIPTORS)
  .sort((a, b) => a.contractKind - b.contractKind)
  .map((descriptor) => descriptor.kind);
/** Token operation kinds; each maps to one SettlementToken *WithSig function. */
export const TOKEN_OPERATION_KINDS = Object.keys(TOKEN_DESCRIPTORS) as readonly TokenOperationKind[];

/** The descriptor of `kind`: where everything about that operation is stated. */
export function descriptorOf<K extends OperationKind>(kind: K): (typeof DESCRIPTORS)[K] {
  return DESCRIPTORS[kind];
}

// ---------------------------------------------------------------- wire schemas

/** Every escrow operation, discriminated by `kind`. */
export const escrowOperationSchema = z.discriminatedUnion("kind", [
  pay.schema,
  markFulfilled.schema,
  confirm.schema,
  release.schema,
  refund.schema,
  dispute.schema,
  resolve.schema,
  reclaim.schema,
]);
/** A parsed escrow operation (money, nonces and deadlines as bigints). */
export type EscrowOperation = z.infer<typeof escrowOperationSchema>;
/** The JSON form (before parsing): what the API and gossip carry. */
export type EscrowOperationInput = z.input<typeof escrowOperationSchema>;

/** Every token operation, discriminated by `kind` (money, nonce and deadline as decimal strings). */
export const tokenOperationSchema = z.discriminatedUnion("kind", [mint.schema, burn.schema, attestReserves.schema, freeze.schema, redeem.schema]);
/** A parsed token operation. */
export type TokenOperation = z.infer<typeof tokenOperationSchema>;
/** The JSON form of a token operation: what the API and gossip carry. */
export type TokenOperationInput = z.input<typeof tokenOperationSchema>;

/** Every operation a node accepts (escrow and token), discriminated by `kind`. */
export const operationSchema = z.discriminatedUnion("kind", [escrowOperationSchema, tokenOperationSchema]);
/** Any parsed operation. */
export type Operation = z.infer<typeof operationSchema>;
/** The JSON form of any operation. */
export type OperationInput = z.input<typeof operationSchema>;

type WithoutSignature<T> = T extends unknown ? Omit<T, "signature"> : never;
/** An escrow operation to sign (its JSON form without `signature`); release is never signed. */
export type UnsignedEscrowOperation = WithoutSignature<Exclude<EscrowOperationInput, { kind: "release" }>>;
/** A token operation to sign (its JSON form without `signature`). */
export type UnsignedTokenOperation = WithoutSignature<TokenOperationInput>;

/** True for the kinds executed on a SettlementToken rather than the escrow. */
export function isTokenOperationKind(kind: string): kind is TokenOperationKind {
  return Object.hasOwn(TOKEN_DESCRIPTORS, kind);
}

/** True if `op` is a token operation. */
export function isTokenOperation<T extends { kind: string }>(op: T): op is Extract<T, { kind: TokenOperationKind }> {
  return isTokenOperationKind(op.kind);
}

/** The JSON wire form of a parsed operation (bigints as decimal strings). */
export function operationToJson(op: Operation): OperationInput {
  const json: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(op)) {
    json[key] = typeof value === "bigint" ? value.toString() : key === "terms" ? termsToJson(value as PaymentTerms) : value;
  }
  return json as OperationInput;
}

// ---------------------------------------------------------------- escrow operations

/** The descriptor of escrow kind `kind`, typed for any escrow operation. */
export function escrowDescriptorOf(kind: EscrowOperationKind): EscrowOperationDescriptor<EscrowOperation> {
  // Each descriptor's functions take that kind's operation; the registry maps a kind to its own descriptor.
  return ESCROW_DESCRIPTORS[kind] as unknown as EscrowOperationDescriptor<EscrowOperation>;
}

/** The descriptor of an escrow operation, typed for any escrow operation. */
export function escrowDescriptorFor(op: EscrowOperation): EscrowOperationDescriptor<EscrowOperation> {
  return escrowDescriptorOf(op.kind);
}

/** The operation id (= its signing digest, for pay the payment id) and the payment id of an escrow operation. */
export function operationDigests(op: EscrowOperation, ctx: EscrowContext): { id: string; paymentId: string } {
  const domain = escrowDomainSeparator(ctx);
  const paymentId = structDigest(domain, PAYMENT_STRUCT, op.terms);
  return { id: escrowDescriptorOf(op.kind).operationId(op, paymentId, domain), paymentId };
}

/** The id of an escrow operation. */
export function operationIdOf(op: EscrowOperation, ctx: EscrowContext): string {
  return operationDigests(op, ctx).id;
}

/** EIP-712 domain, types, primary type and message of a signed escrow operation, for any EIP-712 signer (wallet, HSM). */
export function escrowTypedData(
  op: Exclude<EscrowOperation, { kind: "release" }>,
  ctx: EscrowContext,
): { domain: TypedDataDomain; types: TypedDataTypes; primaryType: string; message: Record<string, unknown> } {
  const descriptor = escrowDescriptorOf(op.kind);
  const { struct, message } = descriptor;
  if (!struct || !message) throw new SettlenetError("UNSIGNED_OPERATION", `${op.kind} is not signed`, { kind: op.kind });
  return { domain: escrowDomain(ctx.chainId, ctx.escrow), types: struct.types, primaryType: struct.primaryType, message: message(op, paymentIdOf(op.terms, ctx)) };
}

/** An unsigned escrow operation parsed with a placeholder signature (throws a ZodError on bad input). */
export function parseUnsignedEscrowOperation(unsigned: UnsignedEscrowOperation): Exclude<EscrowOperation, { kind: "release" }> {
  return escrowOperationSchema.parse({ ...unsigned, signature: UNSIGNED }) as Exclude<EscrowOperation, { kind: "release" }>;
}

/** Signs an unsigned escrow operation (JSON form) with `signer`; returns the signed JSON form. Throws a ZodError on bad input. */
export async function signEscrowOperation<T extends UnsignedEscrowOperation>(
  signer: Pick<Signer, "signTypedData">,
  unsigned: T,
  ctx: EscrowContext,
): Promise<T & { signature: string }> {
  const { domain, types, message } = escrowTypedData(parseUnsignedEscrowOperation(unsigned), ctx);
  return { ...unsigned, signature: await signer.signTypedData(domain, types, message) };
}

/** The `IPaymentEscrow.Operation` tuple for `execute` / `executeBatch`. */
export function toContractOperation(op: EscrowOperation): ContractOperation {
  const descriptor = escrowDescriptorOf(op.kind);
  return contractOperation(descriptor.contractKind, op.terms, descriptor.contractFields(op));
}

/** The escrow operation a contract tuple carries; undefined for a kind this node does not know. */
export function fromContractOperation(item: ContractOperation): EscrowOperation | undefined {
  const kind = ESCROW_OPERATION_KINDS[item.kind];
  return kind === undefined ? undefined : escrowDescriptorOf(kind).fromContract(item);
}

/** escrowKindsExecutedBy's answers: a few events × direct or not, asked for every indexed event and gossiped operation. */
const kindsExecutedBy = new Map<string, readonly EscrowOperationKind[]>();

/** The escrow kinds an event of `event` shows executed, for a direct payment or not. */
export function escrowKindsExecutedBy(event: string, direct: boolean): readonly EscrowOperationKind[] {
  const key = `${direct ? "d" : "e"}${event}`;
  let kinds = kindsExecutedBy.get(key);
  if (kinds === undefined) {
    kinds = Object.freeze(ESCROW_OPERATION_KINDS.filter((kind) => escrowDescriptorOf(kind).executedBy.some((e) => e.event === event && (direct || !e.directOnly))));
    // Event names come from this node's own ABI decoding, so the map stays as small as the ABI's events.
    kindsExecutedBy.set(key, kinds);
  }
  return kinds;
}

/**
 * True if an `event` whose arguments `arg` reads shows the stored operation `op` (wire form) executed:
 * the event is one of its kind's, and the arguments its kind matches on equal its fields.
 */
export function eventMatches(op: OperationInput, event: string, arg: (name: string) => unknown): boolean {
  if (isTokenOperationKind(op.kind)) return TOKEN_DESCRIPTORS[op.kind].executedBy === event;
  const execution = escrowDescriptorOf(op.kind).executedBy.find((e) => e.event === event);
  if (!execution) return false;
  return (execution.match ?? []).every(({ arg: name, field }) => {
    const value = (op as Record<string, unknown>)[field];
    return value !== undefined && BigInt(value as string) === BigInt(arg(name) as bigint | string);
  });
}

/**
 * The id of the operation of `kind` on payment `paymentId` when the payment id alone gives it (a
 * payment takes at most one pay and one release); undefined for every other kind.
 */
export function operationIdOfPayment(kind: EscrowOperationKind, paymentId: string): string | undefined {
  return escrowDescriptorOf(kind).operationIdOfPayment?.(paymentId);
}

/** The new money an operation moves into the escrow (risk rules apply to it), if any. */
export function riskSubjectOf(op: Operation): RiskSubject | undefined {
  return isTokenOperation(op) ? undefined : escrowDescriptorFor(op).riskSubject?.(op);
}

// ---------------------------------------------------------------- token operations

/** The descriptor of token kind `kind`, typed for any token operation. */
export function tokenDescriptorOf(kind: TokenOperationKind): TokenOperationDescriptor<TokenOperation> {
  return TOKEN_DESCRIPTORS[kind] as unknown as TokenOperationDescriptor<TokenOperation>;
}

/** The descriptor of a token operation, typed for any token operation. */
export function tokenDescriptorFor(op: TokenOperation): TokenOperationDescriptor<TokenOperation> {
  return tokenDescriptorOf(op.kind);
}

/** EIP-712 domain, types, primary type and message of a token operation, for any EIP-712 signer (wallet, HSM). */
export function tokenTypedData(
  op: TokenOperation,
  ctx: TokenContext,
): { domain: TypedDataDomain; types: TypedDataTypes; primaryType: string; message: Record<string, unknown> } {
  const { struct, message } = tokenDescriptorOf(op.kind);
  return { domain: tokenDomain(ctx.chainId, op.token, tokenNameFor(ctx, op.token)), types: struct.types, primaryType: struct.primaryType, message: message(op) };
}

/**
 * A token operation's id: the EIP-712 digest under its token's domain (what the token's
 * `_hashTypedDataV4` computes and its signer signs).
 */
export function tokenOperationDigest(op: TokenOperation, ctx: TokenContext): string {
  const { struct, message } = tokenDescriptorOf(op.kind);
  return structDigest(tokenDomainSeparator(ctx.chainId, op.token, tokenNameFor(ctx, op.token)), struct, message(op));
}

/** Signs an unsigned token operation (JSON form) with `signer`; returns the signed JSON form. Throws a ZodError on bad input. */
export async function signTokenOperation<T extends UnsignedTokenOperation>(
  signer: Pick<Signer, "signTypedData">,
  unsigned: T,
  ctx: TokenContext,
): Promise<T & { signature: string }> {
  const parsed = tokenOperationSchema.parse({ ...unsigned, signature: UNSIGNED });
  const { domain, types, message } = tokenTypedData(parsed, ctx);
  return { ...unsigned, signature: await signer.signTypedData(domain, types, message) };
}

/** The SettlementToken call that executes a token operation: function name and arguments. */
export function toTokenCall(op: TokenOperation): TokenCall {
  const descriptor = tokenDescriptorOf(op.kind);
  return { functionName: descriptor.functionName, args: descriptor.callArgs(op) };
}

/** The token operation a call of `functionName` on `token` carries; undefined for any other function. */
export function fromTokenCall(token: string, functionName: string, args: readonly unknown[]): TokenOperation | undefined {
  const kind = TOKEN_OPERATION_KINDS.find((k) => TOKEN_DESCRIPTORS[k].functionName === (functionName as TokenFunction));
  return kind === undefined ? undefined : tokenDescriptorOf(kind).fromCall(token, args);
}

/** Token events that show a token operation executed. */
export const TOKEN_EXECUTION_EVENTS: ReadonlySet<string> = new Set(Object.values(TOKEN_DESCRIPTORS).map((descriptor) => descriptor.executedBy));

// ---------------------------------------------------------------- any operation

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

/** True if the chain refused an operation of `kind` with `refusal` because it was executed already. */
export function alreadyExecuted(kind: OperationKind, refusal: ChainRefusal): boolean {
  return DESCRIPTORS[kind].alreadyExecuted(refusal);
}

/** The EIP-712 types each signed escrow action signs, by kind (pay signs PAYMENT_TYPES; release nothing). */
export const ESCROW_ACTION_TYPES = {
  markFulfilled: markFulfilled.struct.types,
  confirm: confirm.struct.types,
  refund: refund.struct.types,
  dispute: dispute.struct.types,
  resolve: resolve.struct.types,
  reclaim: reclaim.struct.types,
} as const satisfies Record<string, TypedDataTypes>;

/** The EIP-712 types each token operation signs, by kind. */
export const TOKEN_TYPES = {
  mint: mint.struct.types,
  burn: burn.struct.types,
  attestReserves: attestReserves.struct.types,
  freeze: freeze.struct.types,
  redeem: redeem.struct.types,
} as const satisfies Record<TokenOperationKind, TypedDataTypes>;
