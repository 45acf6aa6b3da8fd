/**
 * What every operation descriptor states, whether the escrow or a settlement token executes it. The
 * escrow and token descriptors (escrow.ts, token.ts) add what is particular to their contract.
 */
import type { OperationCode } from "../protocol/codes.js";

/**
 * Who must sign: the payment's payer or merchant (named in its terms), any holder of the arbiter,
 * custodian or regulator role, the reserve attestor of the custodian an attestation names (known only
 * once the signature is recovered), the token holder the operation names (a redemption), or nobody.
 */
export type SignerRule = "payer" | "merchant" | "arbiter" | "custodian" | "attestor" | "regulator" | "holder" | "none";

/** A revert the chain reported for an operation, decoded: the custom error's name and its arguments as strings. */
export interface ChainRefusal {
  code: string;
  args?: readonly string[];
}

/** Refusals any operation can meet on receipt, whatever its kind. */
export const RECEIPT_REFUSALS = ["MALFORMED", "BAD_ADDRESS", "DUPLICATE", "INTERNAL"] as const satisfies readonly OperationCode[];

/** True if `refusal` is the contract saying this signer's nonce is used: the same signed operation ran already. */
export function nonceUsed(refusal: ChainRefusal): boolean {
  return refusal.code === "NonceAlreadyUsed";
}
