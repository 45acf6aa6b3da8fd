/**
 * Idempotency-Key on every POST: the first request under a key runs and its response (status, body)
 * is recorded durably before it leaves; a repeat with the same request gets that response again, also
 * after a restart; the same key with another request is IDEMPOTENCY_KEY_REUSED (422); a repeat while
 * the first is still running is IDEMPOTENCY_IN_PROGRESS (409). Server errors and rate-limit refusals
 * are not recorded, so they can be retried under the same key. A request in progress is known only to
 * this process (storage/requests.ts): after a crash, a request that never answered runs again. A route
 * whose answer carries a secret (config `idempotencySealed`) has its recorded body sealed under the
 * master key: a replay must still hand the secret over (the first answer may have been lost, and the
 * secret is shown only then), but the database must not hold it in plaintext.
 */
import { createHash } from "node:crypto";

import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import fp from "fastify-plugin";

import { SettlenetError } from "../../../core/errors.js";
import { IDEMPOTENCY_HEADER, bodyDigest } from "../../client/signing.js";
import type { SecretBox } from "../../domain/secrets.js";
import type { GatewayStorage } from "../../storage/db.js";
import type { WriteOp } from "../../storage/keyspaces.js";
import type { NonceClaim } from "../../storage/requests.js";

declare module "fastify" {
  interface FastifyInstance {
    /** The preHandler and onSend hooks the signed scope adds after authentication (routes/index.ts). */
    idempotency: ReturnType<typeof idempotencyHooks>;
  }
  interface FastifyRequest {
    /** Set when this request runs under an Idempotency-Key. */
    idempotencyKey: string | undefined;
  }
  interface FastifyContextConfig {
    /** The route's answer carries a secret: its recorded body is sealed (see above). */
    idempotencySealed?: boolean;
  }
}

export interface IdempotencyOptions {
  ttlSeconds: number;
}

export interface IdempotencyModules {
  storage: GatewayStorage;
  secrets: SecretBox;
  now: () => number;
}

const KEY = /^[\x21-\x7e]{1,255}$/;

/** The content type of a JSON answer, as Fastify sets it for a serialized object (and as replays repeat it). */
export const JSON_ANSWER = "application/json; charset=utf-8";

/** The sealing context of a recorded answer: bound to its merchant and key. */
const sealContext = (merchantId: string, key: string) => `idempotency:${merchantId}:${key}`;

/** preHandler and onSend hooks implementing Idempotency-Key. */
export function idempotencyHooks(options: IdempotencyOptions, modules: IdempotencyModules) {
  const store = modules.storage.idempotency;

  async function preHandler(request: FastifyRequest, reply: FastifyReply) {
    if (request.method !== "POST") return;
    const raw = request.headers[IDEMPOTENCY_HEADER];
    if (raw === undefined) return;
    const key = Array.isArray(raw) ? raw[0] : raw;
    if (key === undefined || !KEY.test(key)) throw new SettlenetError("IDEMPOTENCY_KEY_INVALID", "Idempotency-Key must be 1-255 printable ASCII characters", {});
    const merchant = request.merchant;
    if (!merchant) throw new SettlenetError("INTERNAL", "idempotency before authentication");
    const digest = request.bodyDigest ?? bodyDigest(request.rawBody);
    const fingerprint = createHash("sha256").update(`${request.method}\n${request.raw.url ?? request.url}\n${digest}`).digest("hex");
    const outcome = await store.begin(merchant.id, key, fingerprint, modules.now());
    switch (outcome.state) {
      case "started":
        request.idempotencyKey = key;
        return;
      case "replay": {
        const { response } = outcome;
        const body = response.sealedBody ? modules.secrets.open(response.sealedBody, sealContext(merchant.id, key)) : response.body;
        return reply.status(response.status).type(response.contentType).header("idempotent-replayed", "true").send(body);
      }
      case "mismatch":
        throw new SettlenetError("IDEMPOTENCY_KEY_REUSED", "this Idempotency-Key was used with a different request", {});
      case "in_progress":
        throw new SettlenetError("IDEMPOTENCY_IN_PROGRESS", "a request with this Idempotency-Key is still in progress", {});
    }
  }

  async function onSend(request: FastifyRequest, reply: FastifyReply, payload: unknown) {
    const key = request.idempotencyKey;
    const merchant = request.merchant;
    // A nonce held for the answer (auth.ts) is recorded with the Idempotency-Key record, or alone.
    const nonce = request.nonceClaim;
    request.nonceClaim = undefined;
    if (key === undefined || !merchant) {
      if (nonce) await recordNonce(request, nonce);
      return payload;
    }
    request.idempotencyKey = undefined;
    const status = reply.statusCode;
    try {
      if (status >= 500 || status === 429 || typeof payload !== "string") {
        store.abandon(merchant.id, key);
        if (nonce) await recordNonce(request, nonce);
      } else {
        const contentType = String(reply.getHeader("content-type") ?? "application/json");
        const sealed = request.routeOptions.config.idempotencySealed === true;
        const response = sealed ? { status, contentType, body: "", sealedBody: modules.secrets.seal(payload, sealContext(merchant.id, key)) } : { status, contentType, body: payload };
        await store.complete(merchant.id, key, response, modules.now(), options.ttlSeconds * 1000, nonce?.writes);
        if (nonce) modules.storage.nonces.written(nonce);
      }
    } catch (error) {
      // The response still goes out. The record stays in progress (retries are refused, never re-run)
      // until this process restarts: re-running a refund would be worse than refusing it.
      request.log.error({ err: error, merchantId: merchant.id }, "could not record the idempotent response");
    }
    return payload;
  }

  /**
   * The writes that record `payload` (a JSON answer with `status`) as the request's answer, its
   * Idempotency-Key record and its held nonce, for the batch of the request's own change: answer and
   * change become one synced write. Call `recorded` once that batch is synced (onSend then writes
   * nothing more) and send exactly `payload`; if the batch fails, onSend records what is sent instead.
   */
  function answerWrites(request: FastifyRequest, status: number, payload: string): { writes: WriteOp[]; recorded: () => void } {
    const key = request.idempotencyKey;
    const merchant = request.merchant;
    const nonce = request.nonceClaim;
    const writes: WriteOp[] = [];
    // A sealed answer is sealed in onSend, as always.
    const recordKey = key !== undefined && merchant !== null && request.routeOptions.config.idempotencySealed !== true;
    if (recordKey) writes.push(...(store.completion(merchant.id, key, { status, contentType: JSON_ANSWER, body: payload }, modules.now(), options.ttlSeconds * 1000) ?? []));
    const recordNonce = nonce !== undefined && (recordKey || key === undefined);
    if (recordNonce) writes.push(...nonce.writes);
    return {
      writes,
      recorded: () => {
        if (recordKey) {
          store.completed(merchant.id, key);
          request.idempotencyKey = undefined;
        }
        if (recordNonce) {
          modules.storage.nonces.written(nonce);
          request.nonceClaim = undefined;
        }
      },
    };
  }

  /** Records a held nonce on its own; a failure leaves it held in this process (refused, never reusable here). */
  async function recordNonce(request: FastifyRequest, nonce: NonceClaim): Promise<void> {
    try {
      await modules.storage.nonces.record(nonce);
    } catch (error) {
      request.log.error({ err: error }, "could not record the request nonce");
    }
  }

  return { preHandler, onSend, answerWrites };
}

/** Decorates the app with the Idempotency-Key hooks; they need the authenticated merchant. */
export const idempotencyPlugin = fp<IdempotencyOptions & { modules: IdempotencyModules }>(
  async (app: FastifyInstance, { modules, ...options }) => {
    app.decorateRequest("idempotencyKey", undefined);
    app.decorate("idempotency", idempotencyHooks(options, modules));
  },
  { name: "idempotency", fastify: "5.x", dependencies: ["auth"] },
);
