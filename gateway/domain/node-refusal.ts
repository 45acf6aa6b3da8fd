/**
 * A refusal by the institution node of an operation the gateway relayed (bad signature, fee mismatch,
 * frozen account…): the gateway passes it on to the merchant with the node's own code and status, so
 * the merchant sees exactly what the node decided. A node that turns work away for now (503 with
 * Retry-After: admission control) gives a retryable refusal: the merchant gets the same Retry-After
 * and the gateway stored nothing, so the same request can simply be sent again.
 */
import { SettlenetError } from "../../core/errors.js";
import type { NodeApiError, Problem } from "../../core/api/client.js";

/** The node's refusal, keeping its code, the status it answered with and its extension members. */
export class NodeRefusal extends SettlenetError {
  /** The status the node answered with (the gateway answers the same). */
  readonly status: number;
  /** Set when the refusal is for now only: the merchant may retry after this many seconds. */
  readonly retryAfterSeconds: number | undefined;

  constructor(status: number, code: string, message: string, meta: Record<string, unknown> = {}, retryAfterSeconds?: number) {
    super(code, message, { upstream: "node", ...meta, ...(retryAfterSeconds !== undefined ? { retryable: true } : {}) });
    this.status = status;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** The refusal of the node's problem document; `what` names the refused operation in the default message. */
export function nodeRefusal(problem: Problem, what = "operation"): NodeRefusal {
  const { type: _type, title, status, code, instance: _instance, ...extensions } = problem;
  return new NodeRefusal(status, code, title ?? `the node refused the ${what} (${code})`, extensions);
}

/** The retryable refusal of a node that turned the request away for now (a 503 with Retry-After). */
export function retryLater(error: NodeApiError & { retryAfterSeconds: number }, what = "operation"): NodeRefusal {
  const { type: _type, title, status: _status, code, instance: _instance, ...extensions } = error.problem;
  return new NodeRefusal(503, code, title ?? `the node cannot take the ${what} now (${code}); retry later`, extensions, error.retryAfterSeconds);
}
