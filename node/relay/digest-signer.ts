/**
 * Signs 32-byte digests with the node's own key (relay transactions, lease messages). Where the native
 * libsecp256k1 binding loads (the one signature recovery uses), it signs in about a tenth of the CPU of
 * ethers' JavaScript signing; otherwise ethers signs. Both use RFC 6979 nonces and low s, so a
 * signature is the same bytes either way.
 */
import { createRequire } from "node:module";

import type { SigningKey } from "ethers";

import { NATIVE_SECP256K1 } from "../validation/signature.js";

interface NativeSigner {
  ecdsaSign(digest: Uint8Array, secret: Uint8Array): { signature: Uint8Array; recid: number };
}

const require = createRequire(import.meta.url);
const native: NativeSigner | undefined = NATIVE_SECP256K1 ? (require("secp256k1") as NativeSigner) : undefined;
/** Each key's secret as bytes, converted from its hex once. */
const secrets = new WeakMap<SigningKey, Buffer>();

/** True when digests are signed by the native binding. */
export const NATIVE_SIGNING = native !== undefined;

export interface DigestSignature {
  r: bigint;
  s: bigint;
  yParity: 0 | 1;
  /** r ‖ s ‖ v as 0x hex, v 27 or 28. */
  serialized: string;
}

/** Signs a 32-byte digest (bytes or 0x hex) with `key`. */
export function signDigest(key: SigningKey, digest: Uint8Array | string): DigestSignature {
  const bytes = typeof digest === "string" ? Buffer.from(digest.slice(2), "hex") : digest;
  if (bytes.length !== 32) throw new TypeError("a digest is 32 bytes");
  if (!native) {
    const signature = key.sign(bytes);
    return { r: BigInt(signature.r), s: BigInt(signature.s), yParity: signature.yParity, serialized: signature.serialized };
  }
  let secret = secrets.get(key);
  if (!secret) secrets.set(key, (secret = Buffer.from(key.privateKey.slice(2), "hex")));
  const { signature, recid } = native.ecdsaSign(bytes, secret);
  const hex = Buffer.from(signature.buffer, signature.byteOffset, 64).toString("hex");
  return {
    r: BigInt(`0x${hex.slice(0, 64)}`),
    s: BigInt(`0x${hex.slice(64)}`),
    yParity: recid === 1 ? 1 : 0,
    serialized: `0x${hex}${(27 + recid).toString(16)}`,
  };
}
