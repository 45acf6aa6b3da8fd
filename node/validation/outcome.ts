/**
 * The one place that turns a validation result into what each path does with it: the gossipsub
 * verdict (accept / ignore / reject), the HTTP status and the stable code. It also counts every
 * outcome in `settlenet_operations_validated_total{path,result,code}` and logs it, so the gossip
 * path and the API path are measured and reported alike.
 */
import { Counter, type Registry } from "prom-client";
import type { Logger } from "pino";

import { OperationError, SettlenetError } from "../../core/errors.js";
import type { ValidatedOperation } from "../services.js";
import { OPERATION_CODES, isOperationCode } from "../../core/protocol/codes.js";
import { refusal, type ValidationPath } from "./refusal.js";

export type GossipVerdict = "accept" | "ignore" | "reject";

/** Code and HTTP status of an accepted operation (validated and about to be stored). */
export const ACCEPTED = { code: "ACCEPTED", http: 202 } as const;

export interface Outcome {
  gossip: GossipVerdict;
  http: number;
  /** "ACCEPTED" or a code of OPERATION_CODES. */
  code: string;
  /** The operation, when accepted. */
  operation?: ValidatedOperation;
  /** The refusal, otherwise (anything thrown is turned into an OperationError). */
  error?: OperationError;
}

export interface OutcomeContext {
  /** The peer that forwarded a gossip message (logged with rejections). */
  peerId?: string;
  /** Operation id, when known before validation finished. */
  id?: string;
}

export interface OutcomeMapperModules {
  logger: Logger;
  metrics: Registry;
}

const METRIC = "settlenet_operations_validated_total";

/** Maps, counts and logs validation outcomes; see the module comment. */
export class OutcomeMapper {
  private readonly logger: Logger;
  private readonly counter: Counter<"path" | "result" | "code">;

  constructor(modules: OutcomeMapperModules) {
    this.logger = modules.logger.child({ module: "validation" });
    // Several components (API and gossip) may share one registry and so one counter.
    const existing = modules.metrics.getSingleMetric(METRIC);
    this.counter =
      (existing as Counter<"path" | "result" | "code"> | undefined) ??
      new Counter({
        name: METRIC,
        help: "Operations validated, by path (api, gossip), result (accept, ignore, reject) and code",
        labelNames: ["path", "result", "code"],
        registers: [modules.metrics],
      });
  }

  /** The outcome of one settled validation (`Promise.allSettled` gives these for a batch). */
  map(path: ValidationPath, settled: PromiseSettledResult<ValidatedOperation>, context: OutcomeContext = {}): Outcome {
    const peer = context.peerId;
    if (settled.status === "fulfilled") {
      const operation = settled.value;
      this.counter.inc({ path, result: "accept", code: ACCEPTED.code });
      this.logger.debug({ path, peer, id: operation.id, kind: operation.op.kind, signer: operation.signer }, "operation accepted");
      return { gossip: "accept", http: ACCEPTED.http, code: ACCEPTED.code, operation };
    }
    const error = toOperationError(settled.reason, path);
    const gossip: GossipVerdict = error.action;
    const http = isOperationCode(error.code) ? OPERATION_CODES[error.code].http : OPERATION_CODES.INTERNAL.http;
    this.counter.inc({ path, result: gossip, code: error.code });
    const id = context.id ?? (typeof error.meta["id"] === "string" ? error.meta["id"] : undefined);
    if (error.code === "INTERNAL") {
      this.logger.error({ path, peer, id, err: settled.reason }, "operation could not be validated");
    } else if (gossip === "reject") {
      this.logger.warn({ path, peer, id, code: error.code, reason: error.message }, "operation rejected");
    } else {
      this.logger.debug({ path, peer, id, code: error.code, reason: error.message }, "operation ignored");
    }
    return { gossip, http, code: error.code, error };
  }

  /** Awaits one validation and maps it. */
  async settle(path: ValidationPath, validation: Promise<ValidatedOperation>, context: OutcomeContext = {}): Promise<Outcome> {
    try {
      return this.map(path, { status: "fulfilled", value: await validation }, context);
    } catch (reason) {
      return this.map(path, { status: "rejected", reason }, context);
    }
  }
}

/**
 * A coded refusal as an OperationError with the action for `path`: OperationErrors pass through, a
 * SettlenetError with a listed code (e.g. the gossip codec's MALFORMED) gets the table's action, and
 * anything else is INTERNAL (ignored: this node's failure is not the sender's fault).
 */
function toOperationError(reason: unknown, path: ValidationPath): OperationError {
  if (reason instanceof OperationError) return reason;
  if (reason instanceof SettlenetError && isOperationCode(reason.code)) return refusal(reason.code, path, reason.message, { ...reason.meta });
  return refusal("INTERNAL", path, "operation could not be validated", { cause: reason instanceof Error ? reason.message : String(reason) });
}
