/**
 * The gateway's error codes and its one error handler: every failure leaves as an RFC 9457
 * `application/problem+json` document with a stable `code`. Domain code throws coded errors and this
 * is where they get their HTTP status. Refusals from the institution node keep the node's code and
 * status (its codes are listed in core/protocol/codes.ts OPERATION_CODES).
 */
import type { FastifyError, FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import { hasZodFastifySchemaValidationErrors } from "fastify-type-provider-zod";

import { PROBLEM_CONTENT_TYPE, type Problem } from "../../../core/http/problem.js";
import { SettlenetError } from "../../../core/errors.js";
import { OPERATION_CODES, isOperationCode } from "../../../core/protocol/codes.js";
import { NodeRefusal } from "../../domain/node-refusal.js";

/** Every code the gateway itself answers with, its HTTP status and what it means. */
export const GATEWAY_CODES = {
  AUTH_MISSING: { status: 401, summary: "a Settlenet-Key-Id, -Timestamp, -Nonce or -Signature header is missing" },
  AUTH_MALFORMED: { status: 401, summary: "an authentication header is malformed (timestamp not integer seconds, nonce charset, signature not v1=<hex>)" },
  AUTH_STALE_TIMESTAMP: { status: 401, summary: "the timestamp is more than the allowed clock skew (default 300 s) away from the gateway's clock" },
  AUTH_BAD_SIGNATURE: { status: 401, summary: "no API key has this id, or the HMAC does not match the canonical request (not told apart)" },
  AUTH_KEY_REVOKED: { status: 401, summary: "the API key was revoked, or its merchant is suspended" },
  AUTH_KEY_EXPIRED: { status: 401, summary: "the API key was rotated out and its overlap window has ended" },
  AUTH_NONCE_REUSED: { status: 401, summary: "this nonce was already used with this key within the window" },
  ADMIN_AUTH_FAILED: { status: 401, summary: "the admin credential (Authorization: Bearer <id>.<secret>) is missing or not valid" },
  SESSION_REQUIRED: { status: 401, summary: "no dashboard session cookie, or its session ended (signed out, idle or absolute expiry, user removed)" },
  CSRF_TOKEN_INVALID: { status: 403, summary: "a request that changes state with a session cookie lacks the session's CSRF token in x-csrf-token" },
  ROLE_FORBIDDEN: { status: 403, summary: "the signed-in user's role does not allow this (read-only only reads; operators cannot move money or manage users and keys)" },
  MERCHANT_SUSPENDED: { status: 403, summary: "the signed-in user's merchant is suspended" },
  SIGNIN_FAILED: { status: 401, summary: "the e-mail address, password or TOTP code is not valid, or the code was already used (not told apart)" },
  SIGNIN_LOCKED: { status: 429, summary: "too many failed sign-ins in a row: the account refuses every sign-in until the lock-out ends" },
  INVITATION_INVALID: { status: 410, summary: "the invitation is unknown, already used or expired" },
  USER_EXISTS: { status: 409, summary: "a dashboard user with this e-mail address already exists" },
  USER_NOT_FOUND: { status: 404, summary: "the merchant has no dashboard user with this id" },
  LAST_OWNER: { status: 409, summary: "a merchant keeps at least one active owner" },
  MERCHANT_NOT_FOUND: { status: 404, summary: "no merchant with this id (admin API)" },
  KEY_NOT_FOUND: { status: 404, summary: "the merchant has no API key with this id (admin API)" },
  RATE_LIMITED: { status: 429, summary: "the merchant's request budget, or the client address's budget before authentication, is used up; retry after Retry-After seconds" },
  IDEMPOTENCY_KEY_REQUIRED: { status: 400, summary: "this POST moves money or changes a payment: it needs an Idempotency-Key header" },
  IDEMPOTENCY_KEY_INVALID: { status: 400, summary: "Idempotency-Key must be 1-255 printable ASCII characters" },
  IDEMPOTENCY_KEY_REUSED: { status: 422, summary: "this Idempotency-Key was used with a different request" },
  IDEMPOTENCY_IN_PROGRESS: { status: 409, summary: "a request with this Idempotency-Key is still being processed" },
  MALFORMED: { status: 400, summary: "the request does not match the schema, or is not JSON" },
  BAD_ADDRESS: { status: 400, summary: "an address is not 0x + 40 hex digits, or its mixed-case EIP-55 checksum is wrong (all lowercase is accepted)" },
  BODY_TOO_LARGE: { status: 413, summary: "the request body exceeds the configured limit" },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, summary: "request bodies must be application/json" },
  ROUTE_NOT_FOUND: { status: 404, summary: "no such route" },
  PAYMENT_NOT_FOUND: { status: 404, summary: "no payment with this id for this merchant" },
  MERCHANT_ORDER_ID_CONFLICT: { status: 409, summary: "the merchantOrderId is already used by an order with different details" },
  UNSUPPORTED_CURRENCY: { status: 422, summary: "the currency is not a settlement token of this deployment" },
  AMOUNT_TOO_LARGE: { status: 422, summary: "the amount exceeds what a payment can hold (2^96 - 1)" },
  MERCHANT_NOT_REGISTERED: { status: 422, summary: "the merchant's address is not an active merchant in the on-chain registry" },
  INVALID_PAYMENT_STATUS: { status: 409, summary: "the payment's status does not allow this action" },
  ALREADY_AUTHORIZED: { status: 409, summary: "a different authorization was already submitted for this payment" },
  ORDER_EXPIRED: { status: 409, summary: "the order's payment deadline has passed" },
  REFUND_EXCEEDS_AVAILABLE: { status: 422, summary: "the refund is larger than what is left to refund" },
  NODE_UNAVAILABLE: { status: 503, summary: "the institution node cannot be reached or answered an error; nothing was submitted" },
  NODE_TIMEOUT: { status: 503, summary: "the institution node did not answer in time; a submission it may have taken is kept pending (never failed) and settled from the node's change feed" },
  NODE_BUSY: { status: 503, summary: "the institution node turns new work away for now (admission control: its own code, e.g. RELAY_BACKLOG, is passed on when it gives one); nothing was stored: send the same request again after Retry-After seconds" },
  CHAIN_UNAVAILABLE: { status: 503, summary: "the chain's JSON-RPC endpoint cannot be reached" },
  STORAGE_CLOSED: { status: 503, summary: "the gateway is shutting down" },
  INTERNAL: { status: 500, summary: "the gateway failed; never the caller's fault" },
  // Money movement (routes/balance, payouts, topups, transfers, bank) and payer actions.
  PAYOUT_NOT_FOUND: { status: 404, summary: "no payout with this id for this merchant" },
  TOPUP_NOT_FOUND: { status: 404, summary: "no top-up with this id for this merchant" },
  TRANSFER_NOT_FOUND: { status: 404, summary: "no transfer with this id for this merchant" },
  INSUFFICIENT_BALANCE: { status: 422, summary: "the merchant's on-chain token balance is smaller than the amount" },
  TOPUP_ACCOUNT_MISMATCH: { status: 422, summary: "top-ups are collected only from the merchant's registered bank account (the payout account registered on-chain)" },
  TOPUP_LIMIT_EXCEEDED: { status: 422, summary: "the top-up is above the per-top-up limit, or would take the merchant's last 24 hours of top-ups above the daily limit" },
  PAYOUT_ACCOUNT_MISMATCH: { status: 422, summary: "the bank account is not the payout account registered for the merchant on-chain" },
  NO_REDEEMING_CUSTODIAN: { status: 409, summary: "no custodian of the token has enough outstanding supply for the payout's redemption to draw on" },
  RECIPIENT_NOT_MERCHANT: { status: 422, summary: "transfers go to another active merchant registered on-chain" },
  TRANSFER_REFERENCE_CONFLICT: { status: 409, summary: "the transfer reference is already used with different details" },
  PAYER_INSUFFICIENT_BALANCE: {
    status: 422,
    summary: "the payer's token balance does not cover the payment (with its other pending payments, as the node judges an authorization); nothing was submitted: the same signature may be sent again once the payer is funded",
  },
  PAYER_ALLOWANCE_MISSING: {
    status: 422,
    summary: "the escrow may not take the payment from the payer yet (its allowance, with its other pending payments, as the node judges an authorization); the payer signs the permit first, then the same signature may be sent again",
  },
  CONSOLE_NOT_BUILT: { status: 503, summary: "the console's web pages (checkout, dashboard) are not built; run `npm run console:build`" },
  ALLOWANCE_UNAVAILABLE: { status: 503, summary: "the merchant's token allowance is missing and no permit relayer is configured or it failed" },
  MONEY_NOT_CONFIGURED: { status: 503, summary: "this gateway has no custodian key or bank configured" },
  BANK_UNAVAILABLE: { status: 503, summary: "the custodian bank cannot be reached (the request is kept and retried)" },
  BANK_REJECTED: { status: 422, summary: "the custodian bank refused the request" },
  BANK_CALLBACK_SIGNATURE_INVALID: { status: 401, summary: "a bank callback without a valid signature" },
  BANK_CALLBACK_STALE: { status: 401, summary: "a bank callback whose timestamp is outside the tolerance" },
  BANK_CALLBACK_MALFORMED: { status: 400, summary: "a bank callback that is not a transfer event" },
  BANK_CALLBACK_NOT_CONFIGURED: { status: 404, summary: "no bank callback secret is configured" },
  WEBHOOK_URL_INVALID: { status: 422, summary: "the webhook URL carries credentials, or is not https where the gateway requires it" },
  WEBHOOK_URL_FORBIDDEN: { status: 400, summary: "the webhook URL's host resolves to a loopback, private, link-local, unspecified, multicast or other special-purpose address" },
  WEBHOOK_URL_UNRESOLVABLE: { status: 400, summary: "the webhook URL's host does not resolve" },
  WEBHOOK_ENDPOINT_LIMIT: { status: 409, summary: "the merchant has the most webhook endpoints allowed" },
  WEBHOOK_ENDPOINT_NOT_FOUND: { status: 404, summary: "no webhook endpoint with this id for this merchant" },
  WEBHOOK_ENDPOINT_DISABLED: { status: 409, summary: "the webhook endpoint is disabled (it answered 410 Gone)" },
  WEBHOOK_EVENT_TYPE_NOT_SUBSCRIBED: { status: 409, summary: "the webhook endpoint does not take this event type" },
  NO_WEBHOOK_ENDPOINT: { status: 409, summary: "no active webhook endpoint of the merchant takes this event type" },
  EVENT_NOT_FOUND: { status: 404, summary: "no event with this id for this merchant" },
  // Freezes, reclaims, auto-release and statements (domain/freeze.ts, payer-actions.ts, statements.ts).
  ACCOUNT_FROZEN: { status: 403, summary: "the payer, the merchant or the recipient is frozen on the token by a regulator; nothing was submitted" },
  PAYMENT_NOT_DISPUTED: { status: 409, summary: "dispute notes: the payment is not disputed" },
  DISPUTE_RESOLVED: { status: 409, summary: "dispute notes: an arbiter has resolved the dispute; it takes no more notes" },
  RECLAIM_NOT_DUE: { status: 409, summary: "the payer can reclaim only after the merchant's fulfilment period has ended (in chain time)" },
  CYCLE_NOT_FOUND: { status: 404, summary: "the institution node has no such settlement cycle (not closed yet, or empty)" },
  CYCLE_NOT_FINALIZED: { status: 409, summary: "the settlement cycle is closed but not finalized on-chain yet: its statement is not final" },
} as const satisfies Record<string, { status: number; summary: string }>;

export type GatewayCode = keyof typeof GATEWAY_CODES;

/** The HTTP status of a coded error. */
export function statusOf(error: SettlenetError): number {
  if (error instanceof NodeRefusal) return error.status;
  if (Object.hasOwn(GATEWAY_CODES, error.code)) return GATEWAY_CODES[error.code as GatewayCode].status;
  if (isOperationCode(error.code)) return OPERATION_CODES[error.code].http;
  return 500;
}

const typeOf = (code: string) => `https://settlenet.dev/problems/${code.toLowerCase()}`;

/** Extension members a 5xx answer may carry: anything else could hold upstream or library text. */
const SERVER_ERROR_MEMBERS = new Set(["upstream", "retryable", "nodeCode", "outcome"]);

/**
 * The problem document of any error. A 5xx answer's title is its code's fixed summary, never the
 * error's message: those wrap chain, node and library failures (e.g. an ethers message with its version),
 * which go to the log instead.
 */
export function problemOf(error: unknown, instance: string): Problem {
  if (error instanceof SettlenetError) {
    const status = statusOf(error);
    if (status >= 500) {
      const members = Object.fromEntries(Object.entries(error.meta).filter(([key]) => SERVER_ERROR_MEMBERS.has(key)));
      const summary = Object.hasOwn(GATEWAY_CODES, error.code) ? GATEWAY_CODES[error.code as GatewayCode].summary : isOperationCode(error.code) ? OPERATION_CODES[error.code].summary : "the gateway failed";
      return { ...members, type: typeOf(error.code), title: summary, status, code: error.code, instance };
    }
    return { ...error.meta, type: typeOf(error.code), title: error.message, status, code: error.code, instance };
  }
  return { type: "about:blank", title: "Internal Server Error", status: 500, code: "INTERNAL", instance };
}

/** The one error handler and the not-found handler, for the whole app. */
export const problemPlugin = fp(
  async (app: FastifyInstance) => {
    installProblemHandler(app);
  },
  { name: "problem", fastify: "5.x" },
);

function installProblemHandler(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    let problem: Problem;
    const instance = request.url;
    if (hasZodFastifySchemaValidationErrors(error)) {
      // A field schema may name a more precise code for its failure (e.g. BAD_ADDRESS).
      const missingKey = error.validationContext === "headers" && error.validation.some((issue) => issue.instancePath === "/idempotency-key");
      const coded = missingKey
        ? "IDEMPOTENCY_KEY_REQUIRED"
        : error.validation.map((issue) => (issue.params as { params?: { code?: unknown } }).params?.code).find((c): c is GatewayCode => typeof c === "string" && Object.hasOwn(GATEWAY_CODES, c));
      problem = {
        type: typeOf(coded ?? "MALFORMED"),
        title: coded ? GATEWAY_CODES[coded].summary : "Request does not match the schema",
        status: 400,
        code: coded ?? "MALFORMED",
        instance,
        issues: error.validation.map((issue) => ({ path: issue.instancePath, message: issue.message })),
      };
    } else if (error.code === "FST_ERR_CTP_BODY_TOO_LARGE") {
      problem = { type: typeOf("BODY_TOO_LARGE"), title: "Request body too large", status: 413, code: "BODY_TOO_LARGE", instance };
    } else if (error.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE") {
      problem = { type: typeOf("UNSUPPORTED_MEDIA_TYPE"), title: "Request bodies must be application/json", status: 415, code: "UNSUPPORTED_MEDIA_TYPE", instance };
    } else if (error.code === "FST_ERR_CTP_EMPTY_JSON_BODY" || error instanceof SyntaxError || error.code === "FST_ERR_CTP_INVALID_JSON_BODY") {
      problem = { type: typeOf("MALFORMED"), title: "Request body is not valid JSON", status: 400, code: "MALFORMED", instance };
    } else if (!(error instanceof SettlenetError) && error.statusCode !== undefined && error.statusCode < 500) {
      problem = { type: "about:blank", title: error.message, status: error.statusCode, code: error.code ?? "BAD_REQUEST", instance };
    } else {
      problem = problemOf(error, instance);
      if (error instanceof NodeRefusal && error.retryAfterSeconds !== undefined) {
        // The node turned the work away for now: the merchant may send the same request again.
        void reply.header("retry-after", String(error.retryAfterSeconds));
      } else if (problem.status >= 500) {
        request.log.error({ err: error, code: problem.code }, "request failed");
      }
    }
    void reply.status(problem.status).type(PROBLEM_CONTENT_TYPE).send(problem);
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.status(404).type(PROBLEM_CONTENT_TYPE).send({ type: typeOf("ROUTE_NOT_FOUND"), title: "Not Found", status: 404, code: "ROUTE_NOT_FOUND", instance: request.url });
  });
}
