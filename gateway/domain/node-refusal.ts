/**
 * A refusal by the institution node of an operation the gateway relayed (bad signature, fee mismatch,
 * frozen account…): the gateway passes it on to the merchant with the node's own code and status, so
 * the merchant sees exactly what the node decided.
 */
import { SettlenetError } from "../../core/errors.js";
import type { Problem } from "../../core/api/client.js";

/** The node's refusal, keeping its code, the status it answered with and its extension members. */
export class NodeRefusal extends SettlenetError {
  /** The status the node answered with (the gateway answers the same). */
  readonly status: number;

  constructor(status: number, code: string, message: string, meta: Record<string, unknown> = {}) {
    super(code, message, { upstream: "node", ...meta });
    this.status = status;
  }
}

/** The refusal of the node's problem document; `what` names the refused operation in the default message. */
export function nodeRefusal(problem: Problem, what = "operation"): NodeRefusal {
  const { type: _type, title, status, code, instance: _instance, ...extensions } = problem;
  return new NodeRefusal(status, code, title ?? `the node refused the ${what} (${code})`, extensions);
}
