/**
 * A small merchant-side client: signs each request with the merchant's API key as an external
 * merchant would (see signing.ts), over HTTP or HTTPS (a private CA is trusted through
 * NODE_EXTRA_CA_CERTS, as fetch does). Tests and the demo use it.
 */
import { randomUUID } from "node:crypto";

import { signRequest } from "./signing.js";

export interface GatewayCredentials {
  keyId: string;
  secret: string;
}

export interface GatewayResponse<T = unknown> {
  status: number;
  headers: Headers;
  body: T;
}

export interface RequestOptions {
  /** Sent as `Idempotency-Key` (POST only). */
  idempotencyKey?: string;
}

/** Signs and sends requests to a gateway as one merchant. */
export class GatewayClient {
  constructor(
    readonly baseUrl: string,
    private readonly credentials: GatewayCredentials,
  ) {}

  /** Sends one signed request; the JSON (or problem+json) answer is parsed. */
  async request<T = unknown>(method: string, path: string, body?: unknown, options: RequestOptions = {}): Promise<GatewayResponse<T>> {
    const text = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string> = {
      ...signRequest({ ...this.credentials, method, path, ...(text !== undefined ? { body: text } : {}) }),
      accept: "application/json, application/problem+json",
    };
    if (text !== undefined) headers["content-type"] = "application/json";
    if (options.idempotencyKey !== undefined) headers["idempotency-key"] = options.idempotencyKey;
    const response = await fetch(new URL(path, this.baseUrl), { method, headers, ...(text !== undefined ? { body: text } : {}) });
    const raw = await response.text();
    return { status: response.status, headers: response.headers, body: (raw ? JSON.parse(raw) : undefined) as T };
  }

  get<T = unknown>(path: string): Promise<GatewayResponse<T>> {
    return this.request<T>("GET", path);
  }

  /** POST with a fresh Idempotency-Key unless one is given. */
  post<T = unknown>(path: string, body: unknown = {}, options: RequestOptions = {}): Promise<GatewayResponse<T>> {
    return this.request<T>("POST", path, body, { idempotencyKey: options.idempotencyKey ?? randomUUID() });
  }
}
