/** RFC 9457 problem documents carrying the project's stable error codes. */
import type { FastifyError, FastifyInstance } from "fastify";
import { hasZodFastifySchemaValidationErrors } from "fastify-type-provider-zod";
import { z } from "zod";

import { OperationError, SettlenetError } from "../errors.js";
import { BAD_ADDRESS_ISSUE } from "../operations/wire.js";
import { OPERATION_CODES, isOperationCode } from "../protocol/codes.js";

export const PROBLEM_CONTENT_TYPE = "application/problem+json";

/** An RFC 9457 problem document; extension members (the error's metadata) are kept. */
export const problemSchema = z
  .looseObject({
    type: z.string(),
    title: z.string(),
    status: z.number().int().min(400).max(599),
    code: z.string().describe("Stable error code"),
    detail: z.string().optional(),
    instance: z.string().optional(),
  })
  .describe("RFC 9457 problem document with a stable `code`; extension members carry the error's details");
export type Problem = z.infer<typeof problemSchema>;

/** HTTP status for a coded error that is not an operation refusal. */
const STATUS_BY_CODE: Record<string, number> = {
  NOT_FOUND: 404,
  OPERATION_NOT_FOUND: 404,
  PAYMENT_NOT_FOUND: 404,
  MALFORMED: 400,
  BAD_ADDRESS: 400,
  // Storage refuses a list cursor of another list (or a garbled one) and bad list arguments.
  INVALID_CURSOR: 400,
  INVALID_ARGUMENT: 400,
  BODY_TOO_LARGE: 413,
  BATCH_TOO_LARGE: 413,
  NOT_READY: 503,
  READ_ONLY: 403,
  OPERATION_KIND_FORBIDDEN: 403,
  CYCLE_NOT_FOUND: 404,
  // Merchants' notes on disputes (node/disputes/notes.ts).
  NOTE_NOT_BY_MERCHANT: 422,
  PAYMENT_NOT_DISPUTED: 409,
  DISPUTE_RESOLVED: 409,
  RECORD_NOT_FOUND: 404,
  CYCLE_NOT_FINALIZED: 409,
  CYCLE_DIVERGED: 409,
  // Compliance (node/compliance/api.ts).
  ALERT_NOT_FOUND: 404,
  ALERT_ALREADY_ACKNOWLEDGED: 409,
  REPORT_TOO_LARGE: 422,
  TOKEN_NOT_FOUND: 404,
  // The custodian service (node/custodian/).
  CUSTODY_TRANSFER_NOT_FOUND: 404,
  // The change feed (node/storage/changes.ts): the cursor is not one this node can continue from.
  FEED_CURSOR_EXPIRED: 410,
  // Signed risk rules (node/risk/rules.ts).
  RISK_RULES_BAD_SIGNATURE: 403,
  RISK_RULES_STALE: 409,
  // People's sign-in on the node (node/api/users.ts).
  SIGNIN_FAILED: 401,
  SIGNIN_LOCKED: 429,
  CSRF_TOKEN_INVALID: 403,
  NO_SESSION: 409,
  RATE_LIMITED: 429,
  // Node users managed online (node/api/user-admin.ts).
  NODE_USER_EXISTS: 409,
  NODE_USER_NOT_FOUND: 404,
  NODE_USER_SELF: 409,
  // Onboarding through the node (node/api/onboarding.ts, core/operator).
  ACCOUNT_EXISTS: 409,
  MERCHANT_TERMS_DIFFER: 409,
  CUSTOMER_TERMS_DIFFER: 409,
  NOT_REGISTERED: 404,
  NOT_ACCOUNT_INSTITUTION: 403,
  NOT_INSTITUTION_KEY: 403,
  FEE_ABOVE_MAXIMUM: 422,
  TX_REVERTED: 422,
  TX_FAILED: 502,
  TX_DROPPED: 502,
  INSUFFICIENT_FUNDS: 503,
};

/** Fastify's body parser errors that mean the request body is not a JSON document (Fastify 5 codes). */
const MALFORMED_BODY_CODES: ReadonlySet<string> = new Set([
  "FST_ERR_CTP_INVALID_MEDIA_TYPE",
  "FST_ERR_CTP_EMPTY_JSON_BODY",
  "FST_ERR_CTP_INVALID_JSON_BODY",
]);

/** The HTTP status of an operation refusal, from the one table of validation codes. */
export function statusOfOperationError(error: OperationError): number {
  return isOperationCode(error.code) ? OPERATION_CODES[error.code].http : 422;
}

/** The problem document of an error: its code and metadata, the status its code maps to (500 INTERNAL if uncoded). */
export function problemOf(error: unknown, instance?: string): Problem {
  if (error instanceof OperationError) {
    return {
      type: `https://settlenet.dev/problems/${error.code.toLowerCase()}`,
      title: error.message,
      status: statusOfOperationError(error),
      code: error.code,
      action: error.action,
      ...(instance ? { instance } : {}),
      ...error.meta,
    };
  }
  if (error instanceof SettlenetError) {
    return {
      type: `https://settlenet.dev/problems/${error.code.toLowerCase()}`,
      title: error.message,
      status: STATUS_BY_CODE[error.code] ?? (isOperationCode(error.code) ? OPERATION_CODES[error.code].http : 500),
      code: error.code,
      ...(instance ? { instance } : {}),
      ...error.meta,
    };
  }
  return { type: "about:blank", title: "Internal Server Error", status: 500, code: "INTERNAL", ...(instance ? { instance } : {}) };
}

/** The one error handler: every failure leaves as problem+json with a stable code. */
export function installProblemHandler(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    let problem: Problem;
    if (hasZodFastifySchemaValidationErrors(error)) {
      const badAddress = error.validation.some((issue) => issue.message === BAD_ADDRESS_ISSUE);
      problem = {
        type: `https://settlenet.dev/problems/${badAddress ? "bad_address" : "malformed"}`,
        title: badAddress ? "An address's mixed case is not its EIP-55 checksum" : "Request does not match the schema",
        status: 400,
        code: badAddress ? "BAD_ADDRESS" : "MALFORMED",
        instance: request.url,
        issues: error.validation.map((issue) => ({ path: issue.instancePath, message: issue.message })),
      };
    } else if (error.code === "FST_ERR_CTP_BODY_TOO_LARGE") {
      problem = { type: "https://settlenet.dev/problems/body_too_large", title: "Request body too large", status: 413, code: "BODY_TOO_LARGE", instance: request.url };
    } else if (MALFORMED_BODY_CODES.has(error.code) || (error.statusCode === 400 && error instanceof SyntaxError)) {
      problem = { type: "https://settlenet.dev/problems/malformed", title: error.message, status: 400, code: "MALFORMED", instance: request.url };
    } else if (error.statusCode !== undefined && error.statusCode < 500 && !(error instanceof SettlenetError)) {
      problem = { type: "about:blank", title: error.message, status: error.statusCode, code: error.code ?? "BAD_REQUEST", instance: request.url };
    } else {
      problem = problemOf(error, request.url);
      if (problem.status >= 500) request.log.error({ err: error }, "request failed");
    }
    void reply.status(problem.status).type(PROBLEM_CONTENT_TYPE).send(problem);
  });
  app.setNotFoundHandler((request, reply) => {
    void reply
      .status(404)
      .type(PROBLEM_CONTENT_TYPE)
      .send({ type: "about:blank", title: "Not Found", status: 404, code: "ROUTE_NOT_FOUND", instance: request.url });
  });
}
