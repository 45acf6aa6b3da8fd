/**
 * How a merchant request is signed. Every /v1 request carries four headers:
 *
 * | header                | value                                                          |
 * | --------------------- | -------------------------------------------------------------- |
 * | `Settlenet-Key-Id`    | the API key id (`key_…`)                                       |
 * | `Settlenet-Timestamp` | unix seconds; accepted within ±clockSkewSeconds (300) of the gateway |
 * | `Settlenet-Nonce`     | 16–128 chars of `[A-Za-z0-9_-]`, never reused within the window |
 * | `Settlenet-Signature` | `v1=` + hex HMAC-SHA256(secret, canonical request)             |
 *
 * The canonical request is five lines joined by "\n": the upper-case method, the path with its query
 * exactly as sent, the timestamp, the nonce, and the hex sha256 of the raw body bytes (of the empty
 * string when there is no body). Shared by the gateway's verifier and the client helper.
 */
import { createHash, createHmac, randomBytes } from "node:crypto";

export const AUTH_HEADERS = {
  keyId: "settlenet-key-id",
  timestamp: "settlenet-timestamp",
  nonce: "settlenet-nonce",
  signature: "settlenet-signature",
} as const;

export const IDEMPOTENCY_HEADER = "idempotency-key";

/** sha256 of the body as lower-case hex. */
export function bodyDigest(body: string | Uint8Array | undefined): string {
  return createHash("sha256").update(body ?? "").digest("hex");
}

/** The string the signature covers. */
export function canonicalRequest(method: string, pathWithQuery: string, timestamp: string, nonce: string, body: string | Uint8Array | undefined): string {
  return canonicalRequestOfDigest(method, pathWithQuery, timestamp, nonce, bodyDigest(body));
}

/** The canonical request from the body's digest (`bodyDigest`) instead of the body. */
export function canonicalRequestOfDigest(method: string, pathWithQuery: string, timestamp: string, nonce: string, digest: string): string {
  return `${method.toUpperCase()}\n${pathWithQuery}\n${timestamp}\n${nonce}\n${digest}`;
}

/** `v1=<hex HMAC-SHA256>` of the canonical request under `secret`. */
export function requestSignature(secret: string, canonical: string): string {
  return `v1=${createHmac("sha256", secret).update(canonical).digest("hex")}`;
}

export interface SignOptions {
  keyId: string;
  secret: string;
  method: string;
  /** Path with query, exactly as it will be sent (e.g. `/v1/payments?status=held`). */
  path: string;
  body?: string | Uint8Array;
  /** Unix seconds (defaults to now). */
  timestamp?: number;
  nonce?: string;
}

/** The four authentication headers for one request. */
export function signRequest(options: SignOptions): Record<string, string> {
  const timestamp = String(options.timestamp ?? Math.floor(Date.now() / 1000));
  const nonce = options.nonce ?? randomBytes(16).toString("base64url");
  const canonical = canonicalRequest(options.method, options.path, timestamp, nonce, options.body);
  return {
    [AUTH_HEADERS.keyId]: options.keyId,
    [AUTH_HEADERS.timestamp]: timestamp,
    [AUTH_HEADERS.nonce]: nonce,
    [AUTH_HEADERS.signature]: requestSignature(options.secret, canonical),
  };
}
