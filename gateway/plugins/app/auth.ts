/**
 * Merchant authentication of every /v1 request (headers and canonical request: client/signing.ts).
 * Checks, cheapest first: headers present and well-formed → timestamp within the skew → HMAC with
 * the key's secret (an unknown key fails here, answering exactly as a bad signature) → key not revoked/expired and merchant active → nonce unused (durably recorded; on
 * routes with `nonceWithAnswer`, held in this process and recorded in the batch of the answer). The key's
 * status is told only to a caller that proved it holds the secret. The plugin decorates the app with
 * `authenticate`, the preValidation hook the signed scope adds (routes/index.ts).
 */
import { createHmac, createSecretKey, randomBytes, timingSafeEqual, type KeyObject } from "node:crypto";

import type { FastifyInstance, FastifyRequest } from "fastify";
import fp from "fastify-plugin";

import { SettlenetError } from "../../../core/errors.js";
import { apiKeySecret } from "../../domain/merchants.js";
import type { SecretBox } from "../../domain/secrets.js";
import { AUTH_HEADERS, bodyDigest, canonicalRequestOfDigest } from "../../client/signing.js";
import type { GatewayStorage } from "../../storage/db.js";
import type { NonceClaim } from "../../storage/requests.js";
import type { ApiKeyRecord, MerchantRecord } from "../../domain/records.js";

declare module "fastify" {
  interface FastifyInstance {
    /** Authenticates a merchant request (a preValidation hook) and sets `request.merchant`. */
    authenticate: (request: FastifyRequest) => Promise<void>;
  }
  interface FastifyRequest {
    /** The authenticated merchant (set by `authenticate`). */
    merchant: MerchantRecord | null;
    /** Hex sha256 of the raw body, as the signature covers it (set by `authenticate`). */
    bodyDigest: string | undefined;
    /** The request's nonce, held and to be recorded with its answer (routes with `nonceWithAnswer`). */
    nonceClaim: NonceClaim | undefined;
  }
  interface FastifyContextConfig {
    /**
     * The request's nonce is recorded in the batch of its answer (with the Idempotency-Key record)
     * instead of before it runs: one synced write less. Only for routes whose repeat after a crash
     * before that batch is harmless by construction (the same order, the same authorization).
     */
    nonceWithAnswer?: boolean;
  }
}

export interface AuthOptions {
  clockSkewSeconds: number;
}

export interface AuthModules {
  storage: GatewayStorage;
  secrets: SecretBox;
  now: () => number;
}

/** The merchant a route runs for (the signed scope authenticated it). */
export function merchantOf(request: { merchant: MerchantRecord | null }): MerchantRecord {
  if (!request.merchant) throw new SettlenetError("INTERNAL", "route reached without an authenticated merchant");
  return request.merchant;
}

const UNKNOWN_KEY = createSecretKey(randomBytes(32));
const TIMESTAMP = /^[0-9]{1,12}$/;
const NONCE = /^[A-Za-z0-9_-]{16,128}$/;
const SIGNATURE = /^v1=[0-9a-f]{64}$/;

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** The preValidation hook that authenticates a merchant request. */
export function merchantAuth(options: AuthOptions, modules: AuthModules) {
  // The opened HMAC key of each API key record the repository hands out (it hands out the same
  // object until the record changes), so the sealed secret is decrypted once, not per request.
  const hmacKeys = new WeakMap<ApiKeyRecord, KeyObject>();
  const hmacKeyOf = (key: ApiKeyRecord): KeyObject => {
    let secret = hmacKeys.get(key);
    if (!secret) {
      secret = createSecretKey(Buffer.from(apiKeySecret(key, modules.secrets), "utf8"));
      hmacKeys.set(key, secret);
    }
    return secret;
  };

  return async function authenticate(request: FastifyRequest): Promise<void> {
    const keyId = header(request, AUTH_HEADERS.keyId);
    const timestamp = header(request, AUTH_HEADERS.timestamp);
    const nonce = header(request, AUTH_HEADERS.nonce);
    const signature = header(request, AUTH_HEADERS.signature);
    if (!keyId || !timestamp || !nonce || !signature) {
      const missing = Object.values(AUTH_HEADERS).filter((name) => !header(request, name));
      throw new SettlenetError("AUTH_MISSING", `missing authentication headers: ${missing.join(", ")}`, { missing });
    }
    if (!TIMESTAMP.test(timestamp)) throw new SettlenetError("AUTH_MALFORMED", `${AUTH_HEADERS.timestamp} must be unix seconds`, { header: AUTH_HEADERS.timestamp });
    if (!NONCE.test(nonce)) throw new SettlenetError("AUTH_MALFORMED", `${AUTH_HEADERS.nonce} must be 16-128 characters of A-Z a-z 0-9 _ -`, { header: AUTH_HEADERS.nonce });
    if (!SIGNATURE.test(signature)) throw new SettlenetError("AUTH_MALFORMED", `${AUTH_HEADERS.signature} must be v1=<64 hex>`, { header: AUTH_HEADERS.signature });

    const nowMs = modules.now();
    const nowSeconds = Math.floor(nowMs / 1000);
    const ts = Number(timestamp);
    if (Math.abs(nowSeconds - ts) > options.clockSkewSeconds) {
      throw new SettlenetError("AUTH_STALE_TIMESTAMP", `timestamp ${ts} is more than ${options.clockSkewSeconds} s from the gateway clock`, {
        serverTime: nowSeconds,
        allowedSkewSeconds: options.clockSkewSeconds,
      });
    }

    // An unknown key id and a wrong signature answer alike (and cost the same HMAC), so key ids cannot be probed.
    const key = await modules.storage.apiKeys.get(keyId);
    // The body digest is kept for the Idempotency-Key fingerprint.
    const digest = bodyDigest(request.rawBody);
    const canonical = canonicalRequestOfDigest(request.method, request.raw.url ?? request.url, timestamp, nonce, digest);
    const expected = createHmac("sha256", key ? hmacKeyOf(key) : UNKNOWN_KEY).update(canonical).digest();
    const given = Buffer.from(signature.slice(3), "hex");
    if (!key || expected.length !== given.length || !timingSafeEqual(expected, given)) {
      request.log.debug({ keyId, known: key !== undefined }, "bad request signature");
      throw new SettlenetError("AUTH_BAD_SIGNATURE", "the key id or the request signature is not valid", {});
    }
    if (key.revokedAtMs !== undefined && key.revokedAtMs <= nowMs) throw new SettlenetError("AUTH_KEY_REVOKED", "the API key is revoked", { keyId });
    if (key.expiresAtMs !== undefined && key.expiresAtMs <= nowMs) throw new SettlenetError("AUTH_KEY_EXPIRED", "the API key was rotated out and its overlap window has ended", { keyId });
    const merchant = await modules.storage.merchants.get(key.merchantId);
    if (!merchant || merchant.status !== "active") throw new SettlenetError("AUTH_KEY_REVOKED", "the merchant is suspended", { keyId });

    // A nonce can be reused only once its timestamp could no longer pass the skew check.
    const expiresAtMs = (ts + options.clockSkewSeconds + 1) * 1000;
    if (request.routeOptions.config.nonceWithAnswer === true) {
      const claim = await modules.storage.nonces.reserve(keyId, nonce, expiresAtMs, nowMs);
      if (!claim) throw new SettlenetError("AUTH_NONCE_REUSED", "this nonce was already used", {});
      request.nonceClaim = claim;
    } else if (!(await modules.storage.nonces.claim(keyId, nonce, expiresAtMs, nowMs))) {
      throw new SettlenetError("AUTH_NONCE_REUSED", "this nonce was already used", {});
    }
    request.merchant = merchant;
    request.bodyDigest = digest;
  };
}

/** Decorates the app with `authenticate`; needs the raw body kept by the content-type plugin. */
export const authPlugin = fp<AuthOptions & { modules: AuthModules }>(
  async (app: FastifyInstance, { modules, ...options }) => {
    app.decorateRequest("merchant", null);
    app.decorateRequest("bodyDigest", undefined);
    app.decorateRequest("nonceClaim", undefined);
    app.decorate("authenticate", merchantAuth(options, modules));
  },
  { name: "auth", fastify: "5.x", dependencies: ["content-type"] },
);
