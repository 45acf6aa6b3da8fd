/**
 * zod schemas of the fields operations are made of. Money, nonces and deadlines travel as decimal
 * strings (never JSON numbers, which lose precision); addresses are normalised to their checksum form.
 */
import { z } from "zod";

import { checksumAddress } from "../keccak.js";

const UINT256_MAX = (1n << 256n) - 1n;

/** The issue message of an address whose mixed case is not its EIP-55 checksum (boundaries answer it as BAD_ADDRESS). */
export const BAD_ADDRESS_ISSUE = "bad address checksum (mixed case that is not EIP-55)";

/** Whether `value` is a 0x address that is all lower-case, all upper-case or correctly checksummed. */
export function isWellFormedAddress(value: string): boolean {
  try {
    checksumAddress(value);
    return true;
  } catch {
    return false;
  }
}

/** A 0x address, normalised to its checksum form; a mixed-case address must carry the right checksum. */
export const addressSchema = z
  .string()
  .regex(/^0x[0-9a-fA-F]{40}$/, "expected a 0x-prefixed 20-byte hex address")
  .transform((value, context) => {
    try {
      return checksumAddress(value);
    } catch {
      context.addIssue({ code: "custom", message: BAD_ADDRESS_ISSUE });
      return z.NEVER;
    }
  });

/** 32 bytes as 0x hex (ids, references, reasons). */
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

/** A positive amount of at most `bits` bits, as a decimal string. */
export function positiveAmount(bits: number, message: string) {
  return uintString(bits).refine((value) => value > 0n, message);
}

/** Small integers (fee, periods) as JSON numbers. */
export const uintNumber = (max: number) => z.number().int().min(0).max(max);

/** The fields every signed action carries: the signer's unordered nonce, the signature's deadline and the signature. */
export const signedFields = { nonce: uintString(256), deadline: uintString(256), signature: signatureSchema };

/** A placeholder signature, so an operation can be parsed before it is signed. */
export const UNSIGNED = "0x" + "00".repeat(65);
