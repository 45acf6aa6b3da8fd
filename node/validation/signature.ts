/**
 * Fast ECDSA signer recovery for EIP-712 digests with the native libsecp256k1 binding: validation
 * recovers one signer per operation, and pure-JS recovery (~thousands/s per core) would cap the node's
 * throughput. Accepts exactly what the contracts accept (OpenZeppelin ECDSA): low-s, v 27 or 28.
 */
import { createRequire } from "node:module";

import { getAddress, keccak256 } from "ethers";
import type * as Secp256k1 from "secp256k1";

import { OperationError, ValidationAction } from "../../core/errors.js";

const require = createRequire(import.meta.url);

/** The native binding if it loads (prebuilt for linux/darwin/win), else the package's elliptic fallback. */
function loadSecp256k1(): { lib: typeof Secp256k1; native: boolean } {
  try {
    return { lib: require("secp256k1/bindings.js") as typeof Secp256k1, native: true };
  } catch {
    return { lib: require("secp256k1/elliptic.js") as typeof Secp256k1, native: false };
  }
}

const { lib: secp256k1, native } = loadSecp256k1();

/** True when the native libsecp256k1 binding is in use (the node logs a warning otherwise). */
export const NATIVE_SECP256K1 = native;

/** secp256k1 group order / 2: OpenZeppelin ECDSA refuses s above it (malleable signatures). */
const HALF_ORDER = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n;

const HEX_SIGNATURE = /^0x[0-9a-fA-F]{130}$/;
const HEX_DIGEST = /^0x[0-9a-fA-F]{64}$/;

function badSignature(reason: string): OperationError {
  return new OperationError(ValidationAction.REJECT, "BAD_SIGNATURE", `invalid signature: ${reason}`, { reason });
}

/**
 * The checksummed address that signed the 32-byte `digest` with the 65-byte `signature` (r ‖ s ‖ v).
 * Throws OperationError REJECT `BAD_SIGNATURE` for a high s, a v other than 27/28 (the EVM's
 * ecrecover, and so the contracts, accept no other), or a signature that recovers no key.
 */
export function recoverSigner(digest: string, signature: string): string {
  if (!HEX_DIGEST.test(digest)) throw badSignature("digest is not 32 bytes of hex");
  if (!HEX_SIGNATURE.test(signature)) throw badSignature("signature is not 65 bytes of hex");
  const bytes = Buffer.from(signature.slice(2), "hex");
  const v = bytes[64] ?? 0;
  if (v !== 27 && v !== 28) throw badSignature("v must be 27 or 28");
  if (BigInt("0x" + signature.slice(66, 130)) > HALF_ORDER) throw badSignature("s is in the upper half order");
  let publicKey: Uint8Array;
  try {
    publicKey = secp256k1.ecdsaRecover(bytes.subarray(0, 64), v - 27, Buffer.from(digest.slice(2), "hex"), false);
  } catch {
    // r or s zero or out of range, or no point for this r: ecrecover would return the zero address.
    throw badSignature("no public key recovers from it");
  }
  // Uncompressed key = 0x04 ‖ x ‖ y; the address is the last 20 bytes of keccak256(x ‖ y).
  return getAddress("0x" + keccak256(publicKey.subarray(1)).slice(26));
}
