/**
 * `PaymentEscrow.executeBatch` calldata from items encoded once. An item's ABI encoding does not depend
 * on the batch it lands in, so the relayer encodes each operation once and a batch's calldata is the
 * selector, the array head and the items concatenated. The encoder is compiled from the contract's
 * ABI (the `Operation` tuple), so a change of the struct in Solidity changes it too; it writes words
 * straight into a buffer, which is much cheaper than ethers' AbiCoder on the relay's hot path.
 */
import { Interface, type ParamType } from "ethers";

import { SettlenetError } from "../errors.js";
import { loadArtifact } from "../protocol/artifacts.js";
import type { ContractOperation } from "./escrow.js";

const WORD = 32;

/** Encodes one value: a static type's words, or a dynamic type's tail (its head is an offset). */
type Encoder = (value: unknown) => Buffer;

interface Compiled {
  dynamic: boolean;
  encode: Encoder;
}

function word(value: bigint): Buffer {
  if (value < 0n || value >= 1n << 256n) throw new SettlenetError("ABI_OUT_OF_RANGE", "value does not fit a uint256 word", { value: value.toString() });
  return Buffer.from(value.toString(16).padStart(64, "0"), "hex");
}

function hexBody(value: unknown, what: string): string {
  if (typeof value !== "string" || !/^0x([0-9a-fA-F]{2})*$/.test(value)) throw new SettlenetError("ABI_BAD_VALUE", `${what}: expected 0x-prefixed hex`, { what });
  return value.slice(2);
}

function compile(type: ParamType): Compiled {
  const base = type.baseType;
  if (base === "tuple") {
    const parts = type.components?.map((component) => ({ name: component.name, ...compile(component) })) ?? [];
    const dynamic = parts.some((part) => part.dynamic);
    const encode: Encoder = (value) => {
      const record = value as Record<string, unknown>;
      const heads: Buffer[] = [];
      const tails: Buffer[] = [];
      let headSize = 0;
      for (const part of parts) headSize += part.dynamic ? WORD : 0;
      const staticParts = parts.map((part) => (part.dynamic ? undefined : part.encode(record[part.name])));
      for (const encoded of staticParts) headSize += encoded?.length ?? 0;
      let tailOffset = headSize;
      parts.forEach((part, i) => {
        const encoded = staticParts[i];
        if (encoded) {
          heads.push(encoded);
          return;
        }
        const tail = part.encode(record[part.name]);
        heads.push(word(BigInt(tailOffset)));
        tails.push(tail);
        tailOffset += tail.length;
      });
      return Buffer.concat([...heads, ...tails]);
    };
    return { dynamic, encode };
  }
  if (base === "bytes" || base === "string") {
    return {
      dynamic: true,
      encode: (value) => {
        const data = base === "string" ? Buffer.from(String(value), "utf8") : Buffer.from(hexBody(value, type.name || "bytes"), "hex");
        const padded = Buffer.alloc(Math.ceil(data.length / WORD) * WORD);
        data.copy(padded);
        return Buffer.concat([word(BigInt(data.length)), padded]);
      },
    };
  }
  if (base === "address") return { dynamic: false, encode: (value) => word(BigInt(`0x${hexBody(value, "address")}`)) };
  if (base === "bool") return { dynamic: false, encode: (value) => word(value ? 1n : 0n) };
  if (/^uint\d+$/.test(base)) {
    const bits = BigInt(base.slice(4));
    return {
      dynamic: false,
      encode: (value) => {
        const v = BigInt(value as bigint | number | string);
        if (v < 0n || v >= 1n << bits) throw new SettlenetError("ABI_OUT_OF_RANGE", `value does not fit ${base}`, { value: v.toString() });
        return word(v);
      },
    };
  }
  if (/^bytes([1-9]|[12]\d|3[0-2])$/.test(base)) {
    const size = Number(base.slice(5));
    return {
      dynamic: false,
      encode: (value) => {
        const body = hexBody(value, base);
        if (body.length !== size * 2) throw new SettlenetError("ABI_BAD_VALUE", `expected ${size} bytes for ${base}`, { base });
        return Buffer.from(body.padEnd(64, "0"), "hex");
      },
    };
  }
  throw new SettlenetError("ABI_UNSUPPORTED", `the batch item encoder does not handle ${type.type}`, { type: type.type });
}

interface BatchAbi {
  selector: Buffer;
  item: Encoder;
}

let abi: BatchAbi | undefined;

function batchAbi(): BatchAbi {
  if (abi) return abi;
  const fn = new Interface(loadArtifact("PaymentEscrow").abi).getFunction("executeBatch");
  const itemType = fn?.inputs[0]?.arrayChildren;
  if (!fn || !itemType) throw new SettlenetError("RELAY_ABI_MISMATCH", "PaymentEscrow.executeBatch(Operation[]) not found in the artifact");
  const compiled = compile(itemType);
  abi = { selector: Buffer.from(fn.selector.slice(2), "hex"), item: compiled.encode };
  return abi;
}

/** The ABI encoding of one `IPaymentEscrow.Operation` as an element of executeBatch's array. */
export function encodeBatchItem(op: ContractOperation): Buffer {
  return batchAbi().item(op);
}

/** executeBatch calldata from items encoded by `encodeBatchItem` (the item type is dynamic: the array head holds offsets). */
export function executeBatchCalldata(items: readonly Buffer[]): Buffer {
  const { selector } = batchAbi();
  const head = Buffer.alloc(WORD * (2 + items.length));
  word(BigInt(WORD)).copy(head, 0);
  word(BigInt(items.length)).copy(head, WORD);
  let offset = WORD * items.length;
  items.forEach((item, i) => {
    word(BigInt(offset)).copy(head, WORD * (2 + i));
    offset += item.length;
  });
  return Buffer.concat([selector, head, ...items]);
}

/** Bytes an item adds to executeBatch calldata (its encoding and its offset word). */
export function batchItemBytes(item: Buffer): number {
  return item.length + WORD;
}

/** Bytes of executeBatch calldata without items (selector, array offset and length). */
export const BATCH_CALLDATA_BASE_BYTES = 4 + 2 * WORD;

/** Intrinsic gas of calldata: 16 per non-zero byte, 4 per zero byte (EIP-2028). */
export function calldataGas(data: Uint8Array): bigint {
  let zeros = 0;
  for (const byte of data) if (byte === 0) zeros++;
  return BigInt(zeros * 4 + (data.length - zeros) * 16);
}

/** The items of executeBatch calldata as `encodeBatchItem` wrote them; undefined for other calldata. */
export function splitBatchCalldata(data: Uint8Array): Buffer[] | undefined {
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const { selector } = batchAbi();
  const readWord = (at: number): number | undefined => {
    if (at + WORD > bytes.length) return undefined;
    const value = BigInt(`0x${bytes.subarray(at, at + WORD).toString("hex")}`);
    return value <= BigInt(bytes.length) ? Number(value) : undefined;
  };
  if (bytes.length < BATCH_CALLDATA_BASE_BYTES || !bytes.subarray(0, 4).equals(selector) || readWord(4) !== WORD) return undefined;
  const count = readWord(4 + WORD);
  const base = 4 + 2 * WORD;
  if (count === undefined) return undefined;
  const offsets: number[] = [];
  for (let i = 0; i < count; i++) {
    const offset = readWord(base + i * WORD);
    if (offset === undefined) return undefined;
    offsets.push(base + offset);
  }
  const items: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const start = offsets[i] as number;
    const end = i + 1 < count ? (offsets[i + 1] as number) : bytes.length;
    if (start > end || end > bytes.length) return undefined;
    items.push(bytes.subarray(start, end));
  }
  return items;
}
