/**
 * The compact binary form of an operation, for gossip: a kind byte, then every field of the kind's
 * wire schema in schema order at a fixed width (addresses 20 bytes, bytes32 32, integers big-endian at
 * the width of their bound, booleans one byte, signatures 65). Each kind's layout has a fixed length,
 * so a group needs no per-operation framing, and decoding is a walk over bytes rather than JSON text
 * through zod. The decoder checks what the wire schema checks, field by field: the widths give the
 * upper bounds; positivity, the fee's 10,000 and booleans of 0 or 1 are checked explicitly; so it
 * yields exactly the operations `operationSchema` accepts (test/core/operations/binary.test.ts holds
 * the two to each other for every kind).
 *
 * The one variable field is an optional text that comes last (a dispute's `reasonText`): absent, the
 * kind keeps its fixed length and code, so nodes that predate the text read it as before; present, the
 * kind is written under a second code followed by the text's UTF-8 length (2 bytes) and bytes.
 */
import type { z } from "zod";

import { SettlenetError } from "../errors.js";
import { DISPUTE_REASON_MAX_LENGTH, disputeReasonTextSchema } from "./reason-text.js";
import { checksumAddressOf } from "../keccak.js";
import type { Operation, OperationInput, OperationKind } from "./index.js";

type FieldType =
  | { type: "address" }
  | { type: "bytes32" }
  | { type: "signature" }
  | { type: "bool" }
  /** An unsigned integer of `bytes` bytes; a bigint unless `number`; `positive` refuses 0; `max` bounds it further. */
  | { type: "uint"; bytes: number; number?: true; positive?: true; max?: number }
  | { type: "terms" }
  /** Optional plain text, last in its layout: absent unless the kind's `textCode` is used; `check` is its wire schema. */
  | { type: "text"; maxBytes: number; check: z.ZodType<string> };

type Layout = readonly (readonly [name: string, field: FieldType])[];

const address = { type: "address" } as const;
const bytes32 = { type: "bytes32" } as const;
const signature = { type: "signature" } as const;
const bool = { type: "bool" } as const;
const uint = (bytes: number, more: { number?: true; positive?: true; max?: number } = {}) => ({ type: "uint", bytes, ...more }) as const;
const terms = { type: "terms" } as const;
// Each UTF-16 code unit is at most 3 bytes of UTF-8.
const reasonText = { type: "text", maxBytes: 3 * DISPUTE_REASON_MAX_LENGTH, check: disputeReasonTextSchema } as const;
const SIGNED: Layout = [
  ["nonce", uint(32)],
  ["deadline", uint(32)],
  ["signature", signature],
];

/** PaymentTerms, in paymentTermsSchema's order. */
const TERMS: Layout = [
  ["payer", address],
  ["merchant", address],
  ["token", address],
  ["amount", uint(12, { positive: true })],
  ["orderId", bytes32],
  ["feeBps", uint(2, { number: true, max: 10_000 })],
  ["direct", bool],
  ["payDeadline", uint(8)],
  ["fulfilmentPeriod", uint(4, { number: true })],
  ["autoReleasePeriod", uint(4, { number: true })],
  ["refundPeriod", uint(4, { number: true })],
  ["nonce", uint(32)],
];

/**
 * Each kind's code byte and its fields after `kind`, in its wire schema's order; `textCode` is the code
 * of its form that carries its optional text. Codes never change meaning.
 */
const LAYOUTS: Record<OperationKind, { code: number; textCode?: number; fields: Layout }> = {
  pay: { code: 1, fields: [["terms", terms], ["signature", signature]] },
  markFulfilled: { code: 2, fields: [["terms", terms], ...SIGNED] },
  confirm: { code: 3, fields: [["terms", terms], ...SIGNED] },
  release: { code: 4, fields: [["terms", terms]] },
  refund: { code: 5, fields: [["terms", terms], ["amount", uint(12, { positive: true })], ["reason", bytes32], ...SIGNED] },
  dispute: { code: 6, textCode: 9, fields: [["terms", terms], ["reason", bytes32], ...SIGNED, ["reasonText", reasonText]] },
  resolve: { code: 7, fields: [["terms", terms], ["payerAmount", uint(12)], ["reason", bytes32], ...SIGNED] },
  reclaim: { code: 8, fields: [["terms", terms], ...SIGNED] },
  mint: { code: 16, fields: [["token", address], ["to", address], ["amount", uint(32, { positive: true })], ["bankRef", bytes32], ...SIGNED] },
  burn: { code: 17, fields: [["token", address], ["from", address], ["amount", uint(32, { positive: true })], ["bankRef", bytes32], ...SIGNED] },
  attestReserves: { code: 18, fields: [["token", address], ["custodian", address], ["amount", uint(32)], ["asOf", uint(8)], ["sequence", uint(8)], ["statementHash", bytes32], ...SIGNED] },
  freeze: { code: 19, fields: [["token", address], ["account", address], ["frozen", bool], ["reason", bytes32], ...SIGNED] },
  redeem: { code: 20, fields: [["token", address], ["holder", address], ["custodian", address], ["amount", uint(32, { positive: true })], ["bankRef", bytes32], ...SIGNED] },
};

/** The field names of each kind's layout (nested terms as `terms.<field>`), for checking them against the wire schemas. */
export function binaryLayoutFields(kind: OperationKind): string[] {
  return LAYOUTS[kind].fields.flatMap(([name, field]) => (field.type === "terms" ? TERMS.map(([t]) => `terms.${t}`) : [name]));
}

function widthOf(field: FieldType): number {
  switch (field.type) {
    case "address":
      return 20;
    case "bytes32":
      return 32;
    case "signature":
      return 65;
    case "bool":
      return 1;
    case "uint":
      return field.bytes;
    case "terms":
      return TERMS.reduce((sum, [, f]) => sum + widthOf(f), 0);
    case "text":
      // Variable: its 2-byte length and bytes follow the fixed part, and only under the text code.
      return 0;
  }
}

const TEXT_LENGTH_BYTES = 2;

/** By code: the kind, its fields, the fixed length (kind byte included), and whether its optional text follows. */
const KINDS_BY_CODE = new Map<number, { kind: OperationKind; fields: Layout; length: number; withText: boolean }>(
  (Object.entries(LAYOUTS) as [OperationKind, { code: number; textCode?: number; fields: Layout }][]).flatMap(([kind, { code, textCode, fields }]) => {
    const length = 1 + fields.reduce((sum, [, f]) => sum + widthOf(f), 0);
    const plain = [code, { kind, fields, length, withText: false }] as const;
    return textCode === undefined ? [plain] : [plain, [textCode, { kind, fields, length, withText: true }] as const];
  }),
);
const LENGTHS = new Map<OperationKind, number>([...KINDS_BY_CODE.values()].map(({ kind, length }) => [kind, length]));

/** The name of `fields`' optional text field, if it has one (it is last). */
function textFieldOf(fields: Layout): string | undefined {
  const last = fields.at(-1);
  return last?.[1].type === "text" ? last[0] : undefined;
}

/** Bytes of one encoded operation of `kind` without its optional text, its kind byte included. */
export function encodedLength(kind: OperationKind): number {
  return LENGTHS.get(kind) as number;
}

/** Bytes of `op` encoded, its optional text included; undefined for an unknown kind. */
export function encodedLengthOf(op: Operation | OperationInput): number | undefined {
  const layout = LAYOUTS[op.kind] as (typeof LAYOUTS)[OperationKind] | undefined;
  if (!layout) return undefined;
  const base = LENGTHS.get(op.kind) as number;
  const name = textFieldOf(layout.fields);
  const text = name === undefined ? undefined : (op as unknown as Record<string, unknown>)[name];
  return typeof text === "string" ? base + TEXT_LENGTH_BYTES + Buffer.byteLength(text, "utf8") : base;
}

// ---------------------------------------------------------------- encoding

function unencodable(path: string, reason: string): SettlenetError {
  return new SettlenetError("MALFORMED", `cannot encode ${path}: ${reason}`, { path });
}

function writeHex(out: Buffer, at: number, value: unknown, bytes: number, path: string): void {
  if (typeof value !== "string" || value.length !== 2 + 2 * bytes || !/^0x[0-9a-fA-F]*$/.test(value)) throw unencodable(path, `expected ${bytes} bytes of 0x hex`);
  out.write(value.slice(2), at, bytes, "hex");
}

function writeFields(out: Buffer, at: number, fields: Layout, value: Record<string, unknown>, prefix: string): number {
  for (const [name, field] of fields) {
    const v = value[name];
    const path = prefix + name;
    switch (field.type) {
      case "address":
        writeHex(out, at, v, 20, path);
        break;
      case "bytes32":
        writeHex(out, at, v, 32, path);
        break;
      case "signature":
        writeHex(out, at, v, 65, path);
        break;
      case "bool":
        if (typeof v !== "boolean") throw unencodable(path, "expected a boolean");
        out[at] = v ? 1 : 0;
        break;
      case "uint": {
        if (typeof v !== "bigint" && typeof v !== "number" && typeof v !== "string") throw unencodable(path, "expected an integer");
        let n: bigint;
        try {
          n = BigInt(v);
        } catch {
          throw unencodable(path, "expected an integer");
        }
        if (n < 0n || n >= 1n << BigInt(8 * field.bytes)) throw unencodable(path, `out of range for ${field.bytes} bytes`);
        out.write(n.toString(16).padStart(2 * field.bytes, "0"), at, field.bytes, "hex");
        break;
      }
      case "terms":
        if (typeof v !== "object" || v === null) throw unencodable(path, "expected payment terms");
        writeFields(out, at, TERMS, v as Record<string, unknown>, `${path}.`);
        break;
      case "text": {
        if (v === undefined) break;
        if (typeof v !== "string" || !field.check.safeParse(v).success) throw unencodable(path, "expected plain text within its bounds");
        const bytes = Buffer.byteLength(v, "utf8");
        if (bytes > field.maxBytes) throw unencodable(path, `longer than ${field.maxBytes} bytes`);
        out.writeUInt16BE(bytes, at);
        out.write(v, at + TEXT_LENGTH_BYTES, bytes, "utf8");
        at += TEXT_LENGTH_BYTES + bytes;
        break;
      }
    }
    at += widthOf(field);
  }
  return at;
}

/**
 * Writes `op` (parsed, or its JSON wire form) at `at` of `out` (which has encodedLength(op.kind) bytes
 * there); returns the offset after it. Throws MALFORMED for a field that does not fit its layout.
 */
export function encodeOperationInto(op: Operation | OperationInput, out: Buffer, at: number): number {
  const layout = LAYOUTS[op.kind];
  if (!layout) throw unencodable("kind", `unknown kind ${String(op.kind)}`);
  const name = textFieldOf(layout.fields);
  const withText = name !== undefined && (op as unknown as Record<string, unknown>)[name] !== undefined;
  out[at] = withText ? (layout.textCode as number) : layout.code;
  return writeFields(out, at + 1, layout.fields, op as unknown as Record<string, unknown>, "");
}

// ---------------------------------------------------------------- decoding

/** One decoded operation: the parsed operation and its signature's bytes (a view into the message), or why it is malformed. */
export type DecodedOperation = { op: Operation; signature: Uint8Array | undefined } | { error: SettlenetError };

const malformed = (path: string, message: string) => new SettlenetError("MALFORMED", `operation does not match the schema: ${path}: ${message}`, { issues: [{ path, message }] });

const hexOf = (bytes: Uint8Array, at: number, length: number) => "0x" + Buffer.from(bytes.buffer, bytes.byteOffset + at, length).toString("hex");

/** Reads `fields` into `target`; returns the first malformed field's error, if any (the walk goes on: the widths are fixed). */
function readFields(bytes: Uint8Array, at: number, fields: Layout, target: Record<string, unknown>, prefix: string, found: { signature?: Uint8Array }): SettlenetError | undefined {
  let error: SettlenetError | undefined;
  for (const [name, field] of fields) {
    const width = widthOf(field);
    const path = prefix + name;
    switch (field.type) {
      case "address":
        target[name] = checksumAddressOf(bytes.subarray(at, at + 20));
        break;
      case "bytes32":
        target[name] = hexOf(bytes, at, 32);
        break;
      case "signature":
        found.signature = bytes.subarray(at, at + 65);
        target[name] = hexOf(bytes, at, 65);
        break;
      case "bool": {
        const b = bytes[at];
        if (b !== 0 && b !== 1) error ??= malformed(path, "expected a boolean (0 or 1)");
        target[name] = b === 1;
        break;
      }
      case "uint": {
        let value: bigint | number;
        if (field.bytes <= 6) {
          value = Buffer.from(bytes.buffer, bytes.byteOffset + at, field.bytes).readUIntBE(0, field.bytes);
          if (field.max !== undefined && value > field.max) error ??= malformed(path, `exceeds ${field.max}`);
          if (!field.number) value = BigInt(value);
        } else {
          value = BigInt(hexOf(bytes, at, field.bytes));
        }
        if (field.positive && (value === 0n || value === 0)) error ??= malformed(path, "must be positive");
        target[name] = value;
        break;
      }
      case "terms": {
        const nested: Record<string, unknown> = {};
        const nestedError = readFields(bytes, at, TERMS, nested, `${path}.`, found);
        error ??= nestedError;
        target[name] = nested;
        break;
      }
      case "text":
        // Read by decodeOperationAt, which knows whether the text is there.
        break;
    }
    at += width;
  }
  return error;
}

/**
 * Reads the operation at `at` of `bytes`. Returns it (or its field's MALFORMED error) and the offset
 * after it; throws MALFORMED when the bytes cannot be walked (unknown kind byte, too short).
 */
export function decodeOperationAt(bytes: Uint8Array, at: number): { decoded: DecodedOperation; next: number } {
  const entry = KINDS_BY_CODE.get(bytes[at] as number);
  if (!entry) throw new SettlenetError("MALFORMED", `unknown operation kind byte ${String(bytes[at])} at offset ${at}`, { offset: at });
  if (at + entry.length > bytes.byteLength) throw new SettlenetError("MALFORMED", `a ${entry.kind} needs ${entry.length} bytes, ${bytes.byteLength - at} left`, { offset: at });
  const op: Record<string, unknown> = { kind: entry.kind };
  const found: { signature?: Uint8Array } = {};
  let error = readFields(bytes, at + 1, entry.fields, op, "", found);
  let next = at + entry.length;
  if (entry.withText) {
    const [name, field] = entry.fields.at(-1) as readonly [string, Extract<FieldType, { type: "text" }>];
    if (next + TEXT_LENGTH_BYTES > bytes.byteLength) throw new SettlenetError("MALFORMED", `a ${entry.kind}'s ${name} length is missing`, { offset: next });
    const length = ((bytes[next] as number) << 8) | (bytes[next + 1] as number);
    next += TEXT_LENGTH_BYTES;
    if (next + length > bytes.byteLength) throw new SettlenetError("MALFORMED", `a ${entry.kind}'s ${name} needs ${length} bytes, ${bytes.byteLength - next} left`, { offset: next });
    let text: string | undefined;
    try {
      text = utf8.decode(bytes.subarray(next, next + length));
    } catch {
      error ??= malformed(name, "not UTF-8");
    }
    if (text !== undefined) {
      const checked = length > field.maxBytes ? undefined : field.check.safeParse(text);
      if (!checked?.success) error ??= malformed(name, checked?.error.issues[0]?.message ?? `longer than ${field.maxBytes} bytes`);
      op[name] = text;
    }
    next += length;
  }
  return { decoded: error ? { error } : { op: op as unknown as Operation, signature: found.signature }, next };
}

const utf8 = new TextDecoder("utf-8", { fatal: true });
