/**
 * The custodian bank's HTTP API as Settlenet sees it: zod schemas of every request, response and
 * callback, shared by the bank simulator (which serves them) and HttpBankAdapter (which parses them).
 * Amounts are minor units as decimal strings on the wire; times are Unix milliseconds.
 *
 * Callbacks: when a transfer settles the bank POSTs a `BankCallbackEvent` (JSON) to the configured URL
 * with three headers (names in BANK_CALLBACK_HEADERS):
 *   bank-event-id:   the event id (stable across retries: receivers deduplicate by it)
 *   bank-timestamp:  Unix seconds when this attempt was signed
 *   bank-signature:  "v1=" + hex(HMAC-SHA256(secret, `${timestamp}.${rawBody}`))
 * Any 2xx answer acknowledges the event; anything else (or no answer) is retried with backoff.
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";

import { z } from "zod";

/** Positive amount in minor units, at most 78 digits (fits uint256). */
export const wireAmount = z.string().regex(/^[1-9][0-9]{0,77}$/, "expected a positive amount in minor units as a decimal string");
/** The caller's idempotency key for one transfer. */
export const wireReference = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/, "expected 1-128 characters of [A-Za-z0-9_.:-]");
/** A bank account identifier (IBAN, domestic account number, ...). */
export const wireAccount = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$/, "expected 1-64 characters of [A-Za-z0-9 _.-]");
/** ISO 4217 alphabetic currency code. */
export const wireCurrency = z.string().regex(/^[A-Z]{3}$/, "expected an ISO 4217 currency code like CNY");
export const wireBankRef = z.string().regex(/^bt_[0-9a-f]{24}$/, "expected a bank reference like bt_<24 hex digits>");
const unixMs = z.number().int().nonnegative();

export const TRANSFER_KINDS = ["deposit", "payout"] as const;
export const TRANSFER_STATUSES = ["pending", "confirmed", "rejected"] as const;
/**
 * Why the bank rejected a transfer: `declined` (the bank said no: the simulator's failure rate),
 * `insufficient_funds` (a payout larger than the custodian's available reserve).
 */
export const REJECTION_REASONS = ["declined", "insufficient_funds"] as const;

export type TransferKind = (typeof TRANSFER_KINDS)[number];
export type TransferStatus = (typeof TRANSFER_STATUSES)[number];
export type RejectionReason = (typeof REJECTION_REASONS)[number];

/** Body of POST /v1/deposits and POST /v1/payouts. */
export const transferRequestSchema = z.strictObject({
  reference: wireReference,
  account: wireAccount,
  amount: wireAmount,
  currency: wireCurrency,
});
export type TransferRequestWire = z.infer<typeof transferRequestSchema>;

/** One transfer as the bank reports it. */
export const transferSchema = z.strictObject({
  bankRef: wireBankRef,
  kind: z.enum(TRANSFER_KINDS),
  status: z.enum(TRANSFER_STATUSES),
  reason: z.enum(REJECTION_REASONS).optional(),
  reference: wireReference,
  account: wireAccount,
  amount: wireAmount,
  currency: wireCurrency,
  createdAt: unixMs,
  updatedAt: unixMs,
});
export type TransferWire = z.infer<typeof transferSchema>;

/** Query of GET /v1/transfers: transfers last changed at or after `since`, oldest change first. */
export const transferListQuerySchema = z.strictObject({
  since: z.coerce.number().int().nonnegative().optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().regex(/^[A-Za-z0-9_-]{1,200}$/, "expected an opaque cursor").optional(),
});

/**
 * A page of the change feed. `nextCursor` resumes after the last transfer returned (present whenever
 * the page is not empty, so a poller can keep it even when `hasMore` is false).
 */
export const transferPageSchema = z.strictObject({
  transfers: z.array(transferSchema),
  nextCursor: z.string().nullable(),
  hasMore: z.boolean(),
});
export type TransferPageWire = z.infer<typeof transferPageSchema>;

/** The custodian's reserve in one currency: `available` = `balance` − `held` (payouts in flight). */
export const reserveSchema = z.strictObject({
  currency: wireCurrency,
  balance: z.string().regex(/^(0|[1-9][0-9]*)$/),
  held: z.string().regex(/^(0|[1-9][0-9]*)$/),
  available: z.string().regex(/^(0|[1-9][0-9]*)$/),
});
export type ReserveWire = z.infer<typeof reserveSchema>;

export const CALLBACK_EVENT_TYPES = ["transfer.confirmed", "transfer.rejected"] as const;

/** Body of a settlement callback. */
export const callbackEventSchema = z.strictObject({
  id: z.string().regex(/^evt_[0-9a-f]{24}$/),
  type: z.enum(CALLBACK_EVENT_TYPES),
  createdAt: unixMs,
  transfer: transferSchema,
});
export type BankCallbackEvent = z.infer<typeof callbackEventSchema>;

/** Header names of a signed callback. */
export const BANK_CALLBACK_HEADERS = {
  id: "bank-event-id",
  timestamp: "bank-timestamp",
  signature: "bank-signature",
} as const;

/**
 * Headers of a signed request to the bank (every route but /health): the caller's client id, Unix
 * seconds of signing, and "v1=" + hex(HMAC-SHA256(client secret, canonical request)), the canonical
 * request being `METHOD \n path?query \n timestamp \n hex(sha256(raw body))`. The bank refuses a
 * timestamp outside its replay window; transfer requests are idempotent by reference besides.
 */
export const BANK_REQUEST_HEADERS = {
  client: "bank-client-id",
  timestamp: "bank-request-timestamp",
  signature: "bank-request-signature",
} as const;

/** The `bank-request-signature` of a request. */
export function signBankRequest(secret: string, method: string, pathWithQuery: string, timestamp: number, body: string): string {
  const digest = createHash("sha256").update(body, "utf8").digest("hex");
  return `v1=${createHmac("sha256", secret).update(`${method.toUpperCase()}\n${pathWithQuery}\n${timestamp}\n${digest}`).digest("hex")}`;
}

/** The three headers that sign a request as `client`. */
export function bankRequestHeaders(client: { id: string; secret: string }, method: string, pathWithQuery: string, body: string, nowSeconds = Math.floor(Date.now() / 1000)): Record<string, string> {
  return {
    [BANK_REQUEST_HEADERS.client]: client.id,
    [BANK_REQUEST_HEADERS.timestamp]: String(nowSeconds),
    [BANK_REQUEST_HEADERS.signature]: signBankRequest(client.secret, method, pathWithQuery, nowSeconds, body),
  };
}

/** RFC 9457 problem document as the bank sends it (extension members allowed). */
export const bankProblemSchema = z.looseObject({
  status: z.number().int().optional(),
  code: z.string().min(1),
  title: z.string().optional(),
});

/** The `bank-signature` value for one callback attempt. */
export function signCallback(secret: string, timestamp: number, body: string): string {
  return `v1=${createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex")}`;
}

/** Constant-time check of a `bank-signature` header (which may list several space-separated values). */
export function callbackSignatureMatches(secret: string, timestamp: number, body: string, header: string): boolean {
  const expected = Buffer.from(signCallback(secret, timestamp, body));
  return header
    .split(" ")
    .filter((value) => value.length > 0)
    .some((value) => {
      const given = Buffer.from(value);
      return given.length === expected.length && timingSafeEqual(given, expected);
    });
}
