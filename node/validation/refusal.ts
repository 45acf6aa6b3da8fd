/** The refusals validators throw: an OperationError whose action on each path comes from OPERATION_CODES. */
import { OperationError } from "../../core/errors.js";
import { OPERATION_CODES, type OperationCode } from "../../core/protocol/codes.js";

/** Where an operation arrived: a client of this node's API, or a peer. */
export type ValidationPath = "api" | "gossip";

/** The OperationError for `code` on `path`, with the action the table gives. */
export function refusal(code: OperationCode, path: ValidationPath, message: string, meta: Record<string, unknown> = {}): OperationError {
  return new OperationError(OPERATION_CODES[code][path], code, message, meta);
}
