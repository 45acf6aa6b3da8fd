/** The refusals validators throw: an OperationError whose action on each path comes from OPERATION_CODES. */
import { OperationError } from "../../core/errors.js";
import { OPERATION_CODES, type OperationCode } from "../../core/protocol/codes.js";
import type { ValidationContext } from "../services.js";

/** Where an operation arrived: a client of this node's API, or a peer. */
export type ValidationPath = "api" | "gossip";

/** The OperationError for `code` on `path`, with the action the table gives. */
export function refusal(code: OperationCode, path: ValidationPath, message: string, meta: Record<string, unknown> = {}): OperationError {
  return new OperationError(OPERATION_CODES[code][path], code, message, meta);
}

/**
 * A used nonce: DUPLICATE if it is this very operation, stored since the duplicate check (its gossip
 * copy arrived meanwhile), else NONCE_USED (another operation of the signer took the nonce).
 */
export async function nonceRefusal(signer: string, nonce: bigint, id: string, ctx: ValidationContext, path: ValidationPath, token?: string): Promise<OperationError> {
  if (await ctx.storage.operations.has(id)) return refusal("DUPLICATE", path, `operation ${id} already received`, { id });
  return refusal("NONCE_USED", path, `nonce ${nonce} of ${signer}${token ? ` on ${token}` : ""} is already used`, { signer, nonce: nonce.toString(), ...(token ? { id } : {}) });
}
