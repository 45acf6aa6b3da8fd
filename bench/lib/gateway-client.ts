/**
 * The load generator's merchant client: the same signed requests as gateway/client (the canonical
 * request and HMAC of signing.ts, an Idempotency-Key on every POST), made cheap because the load
 * generator shares the machine's cores with the system it measures. It sends with undici's `request`
 * over one keep-alive connection pool (fetch builds WHATWG Request, Headers and stream objects per
 * call), keeps the API secret as an opened HMAC key, and draws nonces and Idempotency-Keys from a
 * random per-client prefix and a counter instead of the random source per request.
 */
import { createHmac, createSecretKey, randomBytes, type KeyObject } from "node:crypto";

import { Agent, request } from "undici";

import type { GatewayCredentials } from "../../gateway/client/client.js";
import { AUTH_HEADERS, IDEMPOTENCY_HEADER, canonicalRequest } from "../../gateway/client/signing.js";

export interface BenchResponse<T = unknown> {
  status: number;
  body: T;
}

/** Signs and sends requests to a gateway as one merchant. */
export class BenchGatewayClient {
  private readonly secret: KeyObject;
  /** Unique per client: with the counter it makes every nonce and Idempotency-Key unique. */
  private readonly prefix = randomBytes(12).toString("base64url");
  private counter = 0;

  constructor(
    private readonly baseUrl: string,
    private readonly credentials: GatewayCredentials,
    private readonly agent: Agent,
  ) {
    this.secret = createSecretKey(Buffer.from(credentials.secret, "utf8"));
  }

  /** POST `body` as JSON with a fresh Idempotency-Key; the JSON (or problem+json) answer is parsed. */
  post<T = unknown>(path: string, body: unknown): Promise<BenchResponse<T>> {
    return this.send<T>("POST", path, JSON.stringify(body));
  }

  get<T = unknown>(path: string): Promise<BenchResponse<T>> {
    return this.send<T>("GET", path, undefined);
  }

  private async send<T>(method: string, path: string, text: string | undefined): Promise<BenchResponse<T>> {
    const unique = `${this.prefix}${(this.counter++).toString(36)}`;
    const timestamp = String(Math.floor(Date.now() / 1000));
    const signature = createHmac("sha256", this.secret).update(canonicalRequest(method, path, timestamp, unique, text)).digest("hex");
    const headers: Record<string, string> = {
      [AUTH_HEADERS.keyId]: this.credentials.keyId,
      [AUTH_HEADERS.timestamp]: timestamp,
      [AUTH_HEADERS.nonce]: unique,
      [AUTH_HEADERS.signature]: `v1=${signature}`,
      accept: "application/json, application/problem+json",
    };
    if (text !== undefined) {
      headers["content-type"] = "application/json";
      headers[IDEMPOTENCY_HEADER] = unique;
    }
    const response = await request(`${this.baseUrl}${path}`, { method: method as "GET" | "POST", headers, body: text, dispatcher: this.agent });
    const raw = await response.body.text();
    return { status: response.statusCode, body: (raw ? JSON.parse(raw) : undefined) as T };
  }
}

/** One keep-alive connection pool for the load generator's clients (close it when the network stops). */
export function benchAgent(): Agent {
  return new Agent({ keepAliveTimeout: 30_000, connections: 256 });
}
