/**
 * The custodian bank simulator: the bank's HTTP API (wire.ts) over its own LevelDB ledger (store.ts).
 * Every transfer is accepted as `pending` and answered later: after a latency drawn from
 * [latencyMs.min, latencyMs.max] it is confirmed, or rejected with probability `failureRate`. The
 * answer and its time are drawn when the transfer is accepted and stored with it, so a restart
 * completes pending transfers as planned, and a `seed` makes the n-th transfer's answer reproducible.
 * Settled transfers are announced by signed callbacks (wire.ts), kept in an outbox in the same batch as
 * the settlement and retried with exponential backoff until the receiver answers 2xx.
 *
 * Built without `listen` (buildBankSimulator); server.ts runs it as its own process.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";

import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from "fastify";
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from "fastify-type-provider-zod";
import { Counter, type Registry } from "prom-client";
import { z } from "zod";

import type { TlsCredentials } from "../core/http/tls.js";
import { installProblemHandler, PROBLEM_CONTENT_TYPE, problemOf } from "../core/http/problem.js";
import { SettlenetError } from "../core/errors.js";
import type { Logger } from "pino";
import type { RedemptionCheck } from "./redemptions.js";
import { transferWire, type BankStore, type CallbackRecord, type TransferPlan } from "./store.js";
import {
  BANK_CALLBACK_HEADERS,
  BANK_REQUEST_HEADERS,
  signBankRequest,
  reserveSchema,
  signCallback,
  transferListQuerySchema,
  transferPageSchema,
  transferRequestSchema,
  transferSchema,
  wireAccount,
  wireBankRef,
  wireCurrency,
  type BankCallbackEvent,
  type TransferKind,
  type TransferWire,
} from "../core/bank/wire.js";

export interface BankSimulatorOptions {
  /** Time before the bank answers a transfer, drawn uniformly per transfer. */
  latencyMs: { min: number; max: number };
  /** Probability (0..1) that the bank declines a transfer. */
  failureRate: number;
  /** Makes latencies and answers a pure function of (seed, transfer index). */
  seed?: string;
  /** Where settlement callbacks are POSTed (none are sent without it). */
  callbackUrl?: string;
  /** HMAC key of the callback signatures (required with `callbackUrl`). */
  callbackSecret?: string;
  /** Backoff between callback attempts: doubles from `min` up to `max`, with jitter. */
  callbackRetryMs?: { min: number; max: number };
  /** How long one callback attempt may take. */
  callbackTimeoutMs?: number;
  /**
   * Callers and their HMAC secrets (client id → secret): every route but /health then needs a signed
   * request (core/bank/wire.ts BANK_REQUEST_HEADERS); anything else is 401 BANK_AUTH_FAILED and changes
   * nothing. The bank process always has some (server.ts); without them (in-process tests only) the API is open.
   */
  clients?: Record<string, string>;
  /** Largest accepted distance between a request's timestamp and the bank's clock (replay window). */
  requestToleranceSeconds?: number;
  bodyLimit?: number;
  /** Serve HTTPS with this certificate and key (PEM); absent: plain HTTP. */
  tls?: TlsCredentials | undefined;
}

export interface BankSimulatorModules {
  logger: Logger;
  store: BankStore;
  /** Counters are registered here and served at /metrics when given. */
  metrics?: Registry;
  /**
   * Checks each payout against a final on-chain redemption carrying its reference (redemptions.ts).
   * Without it every payout is refused (PAYOUT_UNVERIFIABLE): the bank never pays on its caller's word.
   */
  redemptions?: RedemptionCheck;
}

/** HTTP status of the simulator's own error codes; anything else goes to the shared problem handler. */
const BANK_STATUS: Record<string, number> = {
  REFERENCE_CONFLICT: 409,
  TRANSFER_NOT_FOUND: 404,
  INVALID_CURSOR: 400,
  STORAGE_CLOSED: 503,
  STORAGE_IO_ERROR: 503,
  STORAGE_CORRUPT: 500,
  BANK_AUTH_FAILED: 401,
  REDEMPTION_NOT_FINAL: 409,
  REDEMPTION_MISMATCH: 422,
  PAYOUT_UNVERIFIABLE: 422,
  CHAIN_UNAVAILABLE: 503,
};

/** Settles due transfers (one timer, armed for the earliest) and delivers the callback outbox. */
class BankEngine {
  private readonly logger: Logger;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Number.POSITIVE_INFINITY;
  private running: Promise<void> = Promise.resolve();
  private stopped = false;
  private readonly abort = new AbortController();
  private readonly deliveries = new Map<string, Promise<void>>();
  private readonly transfers?: Counter<"kind" | "status">;
  private readonly callbacks?: Counter<"result">;

  constructor(
    private readonly options: BankSimulatorOptions,
    private readonly modules: BankSimulatorModules,
  ) {
    this.logger = modules.logger.child({ module: "bank" });
    if (modules.metrics) {
      this.transfers = new Counter({ name: "settlenet_bank_transfers_total", help: "Bank transfers by kind and status (pending = accepted)", labelNames: ["kind", "status"], registers: [modules.metrics] });
      this.callbacks = new Counter({ name: "settlenet_bank_callbacks_total", help: "Callback attempts by result (delivered, failed)", labelNames: ["result"], registers: [modules.metrics] });
    }
  }

  /** Resumes what a previous run left: pending transfers and undelivered callbacks. */
  async start(): Promise<void> {
    const outbox = await this.modules.store.outbox();
    if (outbox.length > 0 && !this.options.callbackUrl) this.logger.warn({ callbacks: outbox.length }, "undelivered callbacks but no callbackUrl configured");
    for (const record of outbox) this.dispatch(record);
    const next = await this.modules.store.nextDueAt();
    if (next !== undefined) this.arm(next);
  }

  /** Counts an accepted transfer and makes sure the timer fires by its answer time. */
  accepted(kind: TransferKind, dueAt: number): void {
    this.transfers?.inc({ kind, status: "pending" });
    this.arm(dueAt);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.abort.abort();
    await this.running;
    await Promise.allSettled(this.deliveries.values());
  }

  private arm(at: number): void {
    if (this.stopped || at >= this.timerAt) return;
    clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerAt = Number.POSITIVE_INFINITY;
      this.running = this.running.then(() => this.settleDue());
    }, Math.max(0, at - Date.now()));
  }

  private async settleDue(): Promise<void> {
    const { store } = this.modules;
    try {
      for (;;) {
        if (this.stopped) return;
        const due = await store.due(Date.now(), 100);
        for (const bankRef of due) {
          if (this.stopped) return;
          const settled = await store.settle(bankRef, Date.now(), this.options.callbackUrl ? (transfer) => callbackRecord(transfer) : undefined);
          if (!settled) continue;
          const { transfer } = settled;
          this.transfers?.inc({ kind: transfer.kind, status: transfer.status });
          this.logger.info({ bankRef, kind: transfer.kind, status: transfer.status, reason: transfer.reason }, "transfer settled");
          if (settled.callback) this.dispatch(settled.callback);
        }
        if (due.length < 100) break;
      }
      const next = await store.nextDueAt();
      if (next !== undefined) this.arm(next);
    } catch (error) {
      if (this.stopped) return;
      this.logger.error({ err: error }, "settling transfers failed; retrying in 1 s");
      this.arm(Date.now() + 1_000);
    }
  }

  private dispatch(record: CallbackRecord): void {
    if (this.stopped || !this.options.callbackUrl || this.deliveries.has(record.eventId)) return;
    const delivery = this.deliver(record).finally(() => this.deliveries.delete(record.eventId));
    this.deliveries.set(record.eventId, delivery);
  }

  /** Retries one callback until a 2xx (or the engine stops; the outbox keeps it for the next run). */
  private async deliver(record: CallbackRecord): Promise<void> {
    const retry = this.options.callbackRetryMs ?? { min: 500, max: 60_000 };
    for (let attempt = 1; !this.stopped; attempt += 1) {
      if (await this.attempt(record, attempt)) {
        try {
          await this.modules.store.acknowledge(record.eventId);
        } catch (error) {
          // Still in the outbox: it is sent again after a restart, and receivers deduplicate by event id.
          this.logger.warn({ err: error, eventId: record.eventId }, "could not remove an acknowledged callback");
        }
        return;
      }
      const ceiling = Math.min(retry.max, retry.min * 2 ** Math.min(attempt - 1, 30));
      try {
        await sleep(Math.round(ceiling / 2 + (Math.random() * ceiling) / 2), undefined, { signal: this.abort.signal });
      } catch {
        return; // stopped
      }
    }
  }

  private async attempt(record: CallbackRecord, attempt: number): Promise<boolean> {
    const url = this.options.callbackUrl;
    const secret = this.options.callbackSecret;
    if (!url || !secret) return false;
    const timestamp = Math.floor(Date.now() / 1000);
    try {
      const response = await fetch(url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          [BANK_CALLBACK_HEADERS.id]: record.eventId,
          [BANK_CALLBACK_HEADERS.timestamp]: String(timestamp),
          [BANK_CALLBACK_HEADERS.signature]: signCallback(secret, timestamp, record.body),
        },
        body: record.body,
        signal: AbortSignal.any([this.abort.signal, AbortSignal.timeout(this.options.callbackTimeoutMs ?? 5_000)]),
      });
      await response.body?.cancel();
      if (response.ok) {
        this.callbacks?.inc({ result: "delivered" });
        this.logger.info({ eventId: record.eventId, bankRef: record.bankRef, attempt }, "callback delivered");
        return true;
      }
      this.callbacks?.inc({ result: "failed" });
      this.logger.warn({ eventId: record.eventId, attempt, status: response.status }, "callback refused; will retry");
    } catch (error) {
      if (this.stopped) return false;
      this.callbacks?.inc({ result: "failed" });
      this.logger.warn({ eventId: record.eventId, attempt, error: (error as Error).message }, "callback failed; will retry");
    }
    return false;
  }
}

function callbackRecord(transfer: TransferWire): CallbackRecord {
  const createdAt = transfer.updatedAt;
  const event: BankCallbackEvent = {
    id: `evt_${randomBytes(12).toString("hex")}`,
    type: transfer.status === "confirmed" ? "transfer.confirmed" : "transfer.rejected",
    createdAt,
    transfer,
  };
  return { eventId: event.id, bankRef: transfer.bankRef, body: JSON.stringify(event), createdAt };
}

/** The draw for the n-th transfer: latency and answer, from the seed (or a per-run random one). */
export function transferPlanner(options: Pick<BankSimulatorOptions, "latencyMs" | "failureRate" | "seed">): (index: number) => TransferPlan {
  const seed = options.seed ?? randomBytes(32).toString("hex");
  const uniform = (index: number, purpose: string) => createHmac("sha256", seed).update(`${index}:${purpose}`).digest().readUIntBE(0, 6) / 2 ** 48;
  const { min, max } = options.latencyMs;
  return (index) => ({
    latencyMs: min + Math.floor(uniform(index, "latency") * (max - min + 1)),
    declined: uniform(index, "answer") < options.failureRate,
  });
}

function checkOptions(options: BankSimulatorOptions): void {
  const { latencyMs, failureRate, callbackUrl, callbackSecret } = options;
  const bad = (field: string, message: string) => new SettlenetError("CONFIG_INVALID", `invalid bank simulator options: ${field}: ${message}`, { fields: [field] });
  if (!Number.isInteger(latencyMs.min) || !Number.isInteger(latencyMs.max) || latencyMs.min < 0 || latencyMs.max < latencyMs.min) throw bad("latencyMs", "expected integers 0 <= min <= max");
  if (!(failureRate >= 0 && failureRate <= 1)) throw bad("failureRate", "expected a number in 0..1");
  if (callbackUrl && !callbackSecret) throw bad("callbackSecret", "required with callbackUrl");
}

/** Builds the bank simulator (settlement engine started, not listening); closing the app stops the engine, not the store. */
export async function buildBankSimulator(options: BankSimulatorOptions, modules: BankSimulatorModules): Promise<FastifyInstance> {
  checkOptions(options);
  const { store } = modules;
  const plan = transferPlanner(options);
  const engine = new BankEngine(options, modules);

  // The instance's server type differs with TLS; the routes do not care which it is.
  const app = Fastify({
    https: options.tls ?? null,
    loggerInstance: modules.logger as FastifyBaseLogger,
    bodyLimit: options.bodyLimit ?? 64 * 1024,
    logController: new LogController({ disableRequestLogging: true }),
    // Keep-alive connections that were busy when close began would otherwise hold close() open forever;
    // a request cut off here is safe to repeat (references are idempotent).
    forceCloseConnections: true,
  }) as unknown as FastifyInstance;
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  installProblemHandler(app);
  app.addHook("onClose", () => engine.stop());

  await app.register(async (scope) => {
    // The bank's own codes get their statuses here; everything else falls through to the shared handler.
    scope.setErrorHandler((error, request, reply) => {
      // Fastify 5 reports an unparsable JSON body with this code (the shared handler expects a SyntaxError).
      if ((error as { code?: unknown }).code === "FST_ERR_CTP_INVALID_JSON_BODY") {
        return reply.status(400).type(PROBLEM_CONTENT_TYPE).send({ type: "https://settlenet.dev/problems/malformed", title: "The body is not valid JSON", status: 400, code: "MALFORMED", instance: request.url });
      }
      const status = error instanceof SettlenetError ? BANK_STATUS[error.code] : undefined;
      if (status === undefined) throw error;
      return reply
        .status(status)
        .type(PROBLEM_CONTENT_TYPE)
        .send({ ...problemOf(error, request.url), status });
    });
    const clients = options.clients;
    if (clients) {
      // The signature covers the body as sent: keep its text.
      scope.addContentTypeParser("application/json", { parseAs: "string" }, (request, body, done) => {
        (request as unknown as { rawBody: string }).rawBody = body as string;
        try {
          done(null, (body as string).length === 0 ? undefined : JSON.parse(body as string));
        } catch (error) {
          done(error as Error, undefined);
        }
      });
      const tolerance = options.requestToleranceSeconds ?? 300;
      scope.addHook("preValidation", async (request) => {
        if (request.url === "/health") return;
        const one = (name: string) => {
          const value = request.headers[name];
          return Array.isArray(value) ? value[0] : value;
        };
        const client = one(BANK_REQUEST_HEADERS.client);
        const timestamp = one(BANK_REQUEST_HEADERS.timestamp);
        const signature = one(BANK_REQUEST_HEADERS.signature) ?? "";
        const secret = client !== undefined && Object.hasOwn(clients, client) ? clients[client] : undefined;
        const ts = timestamp !== undefined && /^[0-9]{1,12}$/.test(timestamp) ? Number(timestamp) : undefined;
        const fresh = ts !== undefined && Math.abs(Math.floor(Date.now() / 1000) - ts) <= tolerance;
        const expected = Buffer.from(signBankRequest(secret ?? "unknown client", request.method, request.url, ts ?? 0, (request as unknown as { rawBody?: string }).rawBody ?? ""));
        const given = Buffer.from(signature);
        const matches = expected.length === given.length && timingSafeEqual(expected, given);
        if (!secret || !fresh || !matches) {
          modules.logger.warn({ client, route: request.routeOptions.url, fresh }, "unauthenticated bank request refused");
          throw new SettlenetError("BANK_AUTH_FAILED", "the request is not signed by a known client within the replay window", {});
        }
      });
    }
    const api = scope.withTypeProvider<ZodTypeProvider>();

    for (const kind of ["deposit", "payout"] as const) {
      api.post(`/v1/${kind}s`, { schema: { body: transferRequestSchema, response: { 200: transferSchema, 201: transferSchema } } }, async (request, reply) => {
        const { reference, account, amount, currency } = request.body;
        // A new payout is paid only against a final redemption of its reference that the bank read on-chain
        // itself; a repeated reference finds what was made (or is named a conflict) as for a deposit.
        if (kind === "payout" && !(await store.hasReference(reference))) {
          if (!modules.redemptions) throw new SettlenetError("PAYOUT_UNVERIFIABLE", "this bank reads no chain, so it cannot see the redemption a payout needs", { reference });
          await modules.redemptions.verify({ reference, account, amount: BigInt(amount), currency });
        }
        const { transfer, created } = await store.create({ kind, reference, account, amount: BigInt(amount), currency }, Date.now(), plan);
        if (created) engine.accepted(kind, transfer.dueAt);
        return reply.status(created ? 201 : 200).send(transferWire(transfer));
      });
    }

    api.get("/v1/transfers/:bankRef", { schema: { params: z.strictObject({ bankRef: wireBankRef }), response: { 200: transferSchema } } }, async (request) => {
      const transfer = await store.get(request.params.bankRef);
      if (!transfer) throw new SettlenetError("TRANSFER_NOT_FOUND", "no such transfer", { bankRef: request.params.bankRef });
      return transferWire(transfer);
    });

    api.get("/v1/transfers", { schema: { querystring: transferListQuerySchema, response: { 200: transferPageSchema } } }, async (request) => {
      const { since, limit, cursor } = request.query;
      return store.list({ limit, ...(since !== undefined ? { since } : {}), ...(cursor !== undefined ? { cursor } : {}) });
    });

    api.get("/v1/reserves/:currency", { schema: { params: z.strictObject({ currency: wireCurrency }), response: { 200: reserveSchema } } }, async (request) => store.reserve(request.params.currency));

    api.get("/v1/accounts/:account", { schema: { params: z.strictObject({ account: wireAccount }) } }, async (request) => {
      const balances = await store.accounts(request.params.account);
      return { account: request.params.account, balances: balances.map(({ currency, deposited, paidOut }) => ({ currency, deposited, paidOut })) };
    });

    api.get("/health", async () => ({ status: "ok" as const, ...(await store.stats()) }));

    if (modules.metrics) {
      const registry = modules.metrics;
      api.get("/metrics", async (_request, reply) => reply.type(registry.contentType).send(await registry.metrics()));
    }
  });

  await engine.start();
  return app;
}
