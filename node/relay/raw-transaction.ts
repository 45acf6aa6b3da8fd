/**
 * Signed transactions built from bytes: RLP over Buffers, keccak256 in the native binding. ethers'
 * Transaction turns a batch's calldata (tens of KB) from bytes to hex and back several times in
 * JavaScript loops for one signature (more CPU than everything else the origin node does per
 * payment); this writes the same bytes once. Types 2 (EIP-1559) and 0 (legacy with EIP-155), no
 * value, no access list: what the sender sends.
 */
import type { SigningKey } from "ethers";

import { keccak256Bytes } from "../../core/keccak.js";
import { signDigest } from "./digest-signer.js";

/** The fields of a contract call to sign, besides its calldata. */
export interface RawCall {
  chainId: bigint;
  nonce: number;
  to: string;
  gasLimit: bigint;
  pricing: { type: 2; maxFeePerGas: bigint; maxPriorityFeePerGas: bigint } | { type: 0; gasPrice: bigint };
}

/** A transaction signed by `key`: its serialized bytes as 0x hex (for eth_sendRawTransaction) and its hash. */
export function signRawCall(call: RawCall, data: Uint8Array, key: SigningKey): { serialized: string; hash: string } {
  const to = Buffer.from(call.to.slice(2), "hex");
  if (to.length !== 20) throw new TypeError("the recipient is not a 20-byte address");
  let signed: Buffer;
  if (call.pricing.type === 2) {
    const fields = [
      integer(call.chainId),
      integer(BigInt(call.nonce)),
      integer(call.pricing.maxPriorityFeePerGas),
      integer(call.pricing.maxFeePerGas),
      integer(call.gasLimit),
      bytes(to),
      integer(0n),
      bytes(data),
      list([]),
    ];
    const signature = signDigest(key, keccak256Bytes(typed(2, list(fields))));
    signed = typed(2, list([...fields, integer(BigInt(signature.yParity)), integer(signature.r), integer(signature.s)]));
  } else {
    const fields = [integer(BigInt(call.nonce)), integer(call.pricing.gasPrice), integer(call.gasLimit), bytes(to), integer(0n), bytes(data)];
    const signature = signDigest(key, keccak256Bytes(list([...fields, integer(call.chainId), integer(0n), integer(0n)])));
    const v = call.chainId * 2n + 35n + BigInt(signature.yParity);
    signed = list([...fields, integer(v), integer(signature.r), integer(signature.s)]);
  }
  return { serialized: "0x" + signed.toString("hex"), hash: "0x" + keccak256Bytes(signed).toString("hex") };
}

function typed(type: number, payload: Buffer): Buffer {
  return Buffer.concat([Buffer.of(type), payload]);
}

/** RLP of a non-negative integer: big-endian without leading zeros (zero is the empty string). */
function integer(value: bigint): Buffer {
  if (value < 0n) throw new RangeError("RLP integers are non-negative");
  if (value === 0n) return bytes(Buffer.alloc(0));
  const hex = value.toString(16);
  return bytes(Buffer.from(hex.length % 2 === 0 ? hex : `0${hex}`, "hex"));
}

/** RLP of a byte string. */
function bytes(data: Uint8Array): Buffer {
  if (data.length === 1 && (data[0] ?? 0) < 0x80) return Buffer.from(data);
  return Buffer.concat([header(0x80, data.length), data]);
}

/** RLP of a list of items already encoded. */
function list(items: readonly Buffer[]): Buffer {
  const body = Buffer.concat(items);
  return Buffer.concat([header(0xc0, body.length), body]);
}

function header(offset: number, length: number): Buffer {
  if (length < 56) return Buffer.of(offset + length);
  const hex = length.toString(16);
  const size = Buffer.from(hex.length % 2 === 0 ? hex : `0${hex}`, "hex");
  return Buffer.concat([Buffer.of(offset + 55 + size.length), size]);
}
