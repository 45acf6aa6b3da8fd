/**
 * Random identifiers and nonces for records made on the payment path (order ids, the terms' nonce,
 * event ids) and for signed operations, cut from a pool of CSPRNG bytes filled 4 KiB at a time, as Node does for `randomUUID`.
 * `randomBytes` crosses into OpenSSL on every call, which costs more than the hex encoding of a few
 * bytes; each pool byte is handed out once. Secrets (session tokens, keys, salts, IVs) do not come
 * from here: they keep their own `randomBytes` call, so that no secret sits in a buffer shared with
 * anything else.
 */
import { randomFillSync } from "node:crypto";

const POOL_BYTES = 4_096;
const pool = Buffer.alloc(POOL_BYTES);
/** Bytes of `pool` already handed out (the pool is refilled when too few are left). */
let used = POOL_BYTES;

/** `bytes` fresh random bytes as lower-case hex (at most 256 bytes). */
export function randomHex(bytes: number): string {
  if (!Number.isInteger(bytes) || bytes <= 0 || bytes > 256) throw new RangeError(`randomHex takes 1 to 256 bytes, not ${bytes}`);
  if (used + bytes > POOL_BYTES) {
    randomFillSync(pool);
    used = 0;
  }
  const hex = pool.toString("hex", used, used + bytes);
  // Handed out: overwritten so that the value does not stay in the pool after it leaves.
  pool.fill(0, used, used + bytes);
  used += bytes;
  return hex;
}

/** A fresh random 256-bit nonce (the escrow's and the tokens' signed-operation nonces are unordered). */
export function randomNonce(): bigint {
  return BigInt(`0x${randomHex(32)}`);
}
