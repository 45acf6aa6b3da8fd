/**
 * Webhook delivery (Standard Webhooks 1.0; endpoints: domain/webhooks.ts): every event is POSTed as
 * `{"id","type","timestamp","data"}` with `webhook-id` (the event id, the same on every retry),
 * `webhook-timestamp` (this attempt, unix seconds) and `webhook-signature` (`v1,` + base64
 * HMAC-SHA256 over `id.timestamp.body` keyed with the endpoint secret's decoded bytes).
 *
 * The dispatcher fans outbox entries out to endpoints and sends the deliveries it queued as the
 * fan-out made them, without reading them back (at once, or as slots free up), and due ones from the
 * queue (retries, redeliveries, and what it did not keep in memory), scanning the queue only when
 * something there may be due; it records the attempts that end together in one batch: a 2xx answer is
 * success; anything else (3xx included: redirects are not followed, as the spec advises) is retried
 * with exponential backoff and jitter (a longer Retry-After is honoured) until the retry period
 * (at least 24 h by default) has passed; 410 Gone disables the endpoint. A crash at any point leaves
 * the delivery due, so it is sent again after a restart: delivery is at least once, and receivers
 * deduplicate by `webhook-id`.
 *
 * Every attempt checks the target again (domain/webhook-target.ts) and connects to the checked
 * address, or reuses a kept-alive connection made to an address of the same checked answer
 * (`WebhookConnections`). An attempt without an HTTP answer is recorded as UNREACHABLE whatever the cause
 * (refused, reset, timeout, not HTTP), so the delivery log cannot be used to scan ports; the cause
 * goes to the gateway's log.
 */
import { createHmac, createSecretKey, type KeyObject } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import type { LookupFunction } from "node:net";

import type { Logger } from "pino";
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import { Pool } from "undici";

import { SettlenetError } from "../../core/errors.js";
import type { DeliveryAttempt, EventRecord } from "../domain/events.js";
import type { SecretBox } from "../domain/secrets.js";
import { resolveWebhookTarget, systemResolver, type HostResolver, type ResolvedAddress, type WebhookTargetPolicy } from "../domain/webhook-target.js";
import { webhookSecretContext, type WebhookEndpointOptions } from "../domain/webhooks.js";
import type { GatewayStorage } from "../storage/db.js";
import type { AttemptOutcome, AttemptRecord, DueDelivery } from "../storage/webhooks.js";

/** Header names of the Standard Webhooks specification. */
export const WEBHOOK_HEADERS = { id: "webhook-id", timestamp: "webhook-timestamp", signature: "webhook-signature" } as const;

/** How deliveries are retried and sent, and the endpoint limits (config: `webhooks`). */
export interface WebhookOptions extends WebhookEndpointOptions {
  /** Delay after the first failed attempt; each later one multiplies it by `backoffFactor`. */
  initialDelayMs: number;
  backoffFactor: number;
  maxDelayMs: number;
  /** Failed deliveries are retried until this long after they were first queued (or redelivered). */
  retryForSeconds: number;
  timeoutMs: number;
  pollIntervalMs: number;
  /** Attempts waiting for a receiver's answer at once (recording an attempt does not hold a slot). */
  concurrency: number;
}

/** The `webhook-signature` value for one attempt: `v1,` + base64 HMAC-SHA256(key, id.timestamp.body). */
export function signWebhook(secret: string | KeyObject, id: string, timestampSeconds: number, body: string): string {
  const key = typeof secret === "string" ? webhookSigningKey(secret) : secret;
  return `v1,${createHmac("sha256", key).update(`${id}.${timestampSeconds}.${body}`).digest("base64")}`;
}

/** The HMAC key of a `whsec_` secret (its base64 part, decoded). */
export function webhookSigningKey(secret: string): KeyObject {
  if (!secret.startsWith("whsec_")) throw new SettlenetError("INTERNAL", "webhook secrets start with whsec_");
  return createSecretKey(Buffer.from(secret.slice("whsec_".length), "base64"));
}

/** Most opened signing keys the dispatcher keeps (it forgets them all when full). */
const MAX_SIGNING_KEYS = 1_024;

/** The body every attempt of `event` sends (the same bytes each time). */
export function webhookBody(event: EventRecord): string {
  return JSON.stringify({ id: event.id, type: event.type, timestamp: new Date(event.createdAtMs).toISOString(), data: event.data });
}

/** Delay before the attempt after `failures` failed ones: exponential, capped, with jitter in [d/2, d]. */
export function backoffDelayMs(options: Pick<WebhookOptions, "initialDelayMs" | "backoffFactor" | "maxDelayMs">, failures: number, random = Math.random): number {
  const exponential = options.initialDelayMs * options.backoffFactor ** Math.max(0, failures - 1);
  const delay = Math.min(options.maxDelayMs, exponential);
  return Math.round(delay / 2 + (random() * delay) / 2);
}

// ----------------------------------------------------------------- dispatcher

/** Outbox entries fanned out per batch (a pass goes on at once while pages are full). */
const FAN_OUT_PAGE = 100;
/** Attempts being recorded may hold this many times `concurrency` delivery keys (a bound if writes lag). */
const RECORDING_SLOTS = 4;
/** Fanned-out deliveries kept in memory for a free slot at most (the rest wait in the queue for its scan). */
const MAX_READY = 1_000;

export interface WebhookDispatcherModules {
  storage: GatewayStorage;
  secrets: SecretBox;
  logger: Logger;
  metrics: Registry;
  now: () => number;
  /** Randomness for jitter (tests may pin it). */
  random?: () => number;
  /** Host name resolution for the target check (the system resolver unless a test pins it). */
  resolve?: HostResolver;
}

/** Delivery metrics, registered once per registry. */
function dispatcherMetrics(registry: Registry, storage: GatewayStorage) {
  // A rebuilt app (tests restart in-process) registers afresh on the same registry.
  for (const name of ["gateway_webhook_attempts_total", "gateway_webhook_deliveries_total", "gateway_webhook_attempt_duration_seconds", "gateway_webhook_events_total", "gateway_webhook_pending_deliveries"]) {
    if (registry.getSingleMetric(name)) registry.removeSingleMetric(name);
  }
  return {
    attempts: new Counter({ name: "gateway_webhook_attempts_total", help: "Webhook delivery attempts by result", labelNames: ["result"] as const, registers: [registry] }),
    deliveries: new Counter({
      name: "gateway_webhook_deliveries_total",
      help: "Webhook deliveries that ended: succeeded, or failed (retry period over, or 410 Gone)",
      labelNames: ["result"] as const,
      registers: [registry],
    }),
    duration: new Histogram({
      name: "gateway_webhook_attempt_duration_seconds",
      help: "Time from sending a webhook to the receiver's answer (or failure)",
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30],
      registers: [registry],
    }),
    events: new Counter({ name: "gateway_webhook_events_total", help: "Events fanned out to endpoints, by type", labelNames: ["type"] as const, registers: [registry] }),
    pending: new Gauge({
      name: "gateway_webhook_pending_deliveries",
      help: "Deliveries waiting for their next attempt",
      registers: [registry],
      async collect() {
        this.set(await storage.webhooks.pendingCount().catch(() => 0));
      },
    }),
  };
}

/** Sends due deliveries in the background; `start` after the app is ready, `stop` before the database closes. */
export class WebhookDispatcher {
  private readonly metrics: ReturnType<typeof dispatcherMetrics>;
  /** Attempts started and not yet recorded, by delivery key (a due scan skips them). */
  private readonly inflight = new Map<string, Promise<void>>();
  /** Attempts waiting for the receiver's answer: at most `concurrency`. */
  private sending = 0;
  /** The last pass left due deliveries for lack of slots: a freed slot starts a pass. */
  private saturated = false;
  /**
   * Deliveries a fan-out queued that no slot was free for, sent as slots free up without reading
   * them back from the queue. Valid while the endpoints are unchanged (`readyEndpoints`): after any
   * endpoint change they are dropped and left to the queue scan, which reads them afresh.
   */
  private ready: DueDelivery[] = [];
  private readyEndpoints = 0;
  /** New outbox entries were written since the last fan-out began (a pass fans out only then, or at the poll interval). */
  private outboxDirty = true;
  private nextFanOutAtMs = 0;
  /**
   * When the queue must be scanned next: at once after a restart, when deliveries were left to it,
   * or when the last scan filled every free slot; at the earliest retry this dispatcher recorded;
   * and at least every poll interval (redeliveries, anything else queued).
   */
  private nextScanAtMs = 0;
  private readonly abort = new AbortController();
  private readonly connections = new WebhookConnections();
  /** Attempts that end while others are being recorded are recorded together, in one batch. */
  private readonly recorder: AttemptRecorder;
  /**
   * Opened signing keys by endpoint and sealed secret (each sealing has its own IV, so a rotated
   * secret is a new entry): the secret is decrypted once, not at every attempt.
   */
  private readonly signingKeys = new Map<string, KeyObject>();
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private ticking: Promise<void> | undefined;
  private again = false;
  private unwatch: (() => void) | undefined;

  constructor(
    private readonly options: Omit<WebhookOptions, Exclude<keyof WebhookEndpointOptions, "allowLoopback">>,
    private readonly modules: WebhookDispatcherModules,
  ) {
    this.metrics = dispatcherMetrics(modules.metrics, modules.storage);
    this.recorder = new AttemptRecorder(modules.storage);
  }

  start(): void {
    this.running = true;
    // New events are fanned out and sent at once; the poll is for due retries (and a missed signal).
    this.unwatch ??= this.modules.storage.webhooks.watchOutbox(() => {
      this.outboxDirty = true;
      this.schedule(0);
    });
    this.schedule(0);
  }

  /** Stops sending; attempts in flight are aborted and stay due (they are sent again after a restart). */
  async stop(): Promise<void> {
    this.running = false;
    this.unwatch?.();
    this.unwatch = undefined;
    if (this.timer) clearTimeout(this.timer);
    this.abort.abort();
    await this.ticking;
    await Promise.allSettled([...this.inflight.values()]);
    this.connections.close();
  }

  /** One full pass: fan out new events, start due attempts. Resolves when the attempts have started. */
  async tick(): Promise<void> {
    this.outboxDirty = true;
    this.nextScanAtMs = 0;
    return this.runPass();
  }

  private async runPass(): Promise<void> {
    if (this.ticking) {
      this.again = true;
      return this.ticking;
    }
    this.ticking = this.pass().finally(() => {
      this.ticking = undefined;
    });
    return this.ticking;
  }

  private schedule(delayMs: number): void {
    if (!this.running) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.loop();
    }, delayMs);
    this.timer.unref();
  }

  private async loop(): Promise<void> {
    this.again = false;
    try {
      await this.runPass();
    } catch (error) {
      this.modules.logger.warn({ err: error }, "webhook dispatch pass failed");
    }
    this.schedule(this.again ? 0 : this.options.pollIntervalMs);
  }

  private async pass(): Promise<void> {
    const storage = this.modules.storage.webhooks;
    const { pollIntervalMs } = this.options;
    if (this.outboxDirty || !pending(this.modules.now(), this.nextFanOutAtMs, pollIntervalMs)) {
      this.outboxDirty = false;
      const atMs = this.modules.now();
      this.nextFanOutAtMs = atMs + pollIntervalMs;
      const endpoints = storage.endpointsVersion();
      const fanned = await storage.fanOutDue(atMs, FAN_OUT_PAGE);
      for (const event of fanned.events) this.metrics.events.inc({ type: event.type });
      if (fanned.events.length === FAN_OUT_PAGE) {
        this.outboxDirty = true;
        this.again = true;
      }
      if (!this.running) return;
      // The deliveries just queued go out as they are (no read back from the queue): at once while
      // slots are free, the rest from `ready` as slots free up (beyond its bound, the queue scan finds them).
      this.takeReady();
      const fresh = fanned.deliveries.filter((item) => !this.inflight.has(deliveryKey(item)));
      const direct = fresh.slice(0, Math.max(0, this.freeSlots()));
      this.send(direct);
      const rest = fresh.slice(direct.length);
      if (rest.length > 0) {
        if (this.ready.length === 0) this.readyEndpoints = endpoints;
        const room = this.readyEndpoints === endpoints ? Math.max(0, MAX_READY - this.ready.length) : 0;
        this.ready.push(...rest.slice(0, room));
        if (rest.length > room) this.nextScanAtMs = 0;
      }
    }
    if (!this.running) return;
    this.takeReady();
    // A slot is taken from sending until the receiver answers; recording the attempt (a synced write)
    // holds only its delivery key, up to RECORDING_SLOTS × concurrency attempts in all.
    const free = this.freeSlots();
    if (free <= 0) {
      this.saturated = true;
      return;
    }
    if (this.ready.length > 0) return;
    // The queue is read only when something there may be due that this process does not hold.
    const nowMs = this.modules.now();
    if (pending(nowMs, this.nextScanAtMs, pollIntervalMs)) {
      this.saturated = false;
      return;
    }
    this.nextScanAtMs = nowMs + pollIntervalMs;
    const due = await storage.due(nowMs, free, new Set(this.inflight.keys()));
    this.saturated = due.length === free;
    if (this.saturated) this.nextScanAtMs = 0;
    this.send(due);
  }

  /** Sends ready deliveries while slots are free; drops them all (the queue scan reads them afresh) if an endpoint changed since. */
  private takeReady(): void {
    if (this.ready.length === 0) return;
    if (this.modules.storage.webhooks.endpointsVersion() !== this.readyEndpoints) {
      this.ready = [];
      this.nextScanAtMs = 0;
      this.schedule(0);
      return;
    }
    const take = Math.max(0, this.freeSlots());
    if (take === 0) return;
    const items = this.ready.slice(0, take).filter((item) => !this.inflight.has(deliveryKey(item)));
    this.ready = this.ready.slice(take);
    this.send(items);
  }

  /** Slots free for new attempts now. */
  private freeSlots(): number {
    return Math.min(this.options.concurrency - this.sending, RECORDING_SLOTS * this.options.concurrency - this.inflight.size);
  }

  /** Starts an attempt of each delivery (each holds a slot until its receiver answers). */
  private send(items: readonly DueDelivery[]): void {
    for (const item of items) {
      const key = deliveryKey(item);
      this.sending += 1;
      let sent = false;
      const release = () => {
        if (sent) return;
        sent = true;
        this.sending -= 1;
        // Ready or due deliveries may be waiting for this slot (new events wake the dispatcher on their own).
        if (!this.running) return;
        if (this.ready.length > 0) this.takeReady();
        else if (this.saturated) this.schedule(0);
      };
      const attempt = this.attempt(item, release)
        .catch((error: unknown) => {
          // The delivery stays queued as it was (due): the next pass scans the queue for it.
          this.nextScanAtMs = 0;
          this.modules.logger.warn({ err: error, endpointId: item.endpoint.id, eventId: item.event.id }, "recording a webhook attempt failed");
        })
        .finally(() => {
          release();
          this.inflight.delete(key);
          if (this.running && this.saturated) this.schedule(0);
        });
      this.inflight.set(key, attempt);
    }
  }

  private signingKeyOf(endpoint: DueDelivery["endpoint"]): KeyObject {
    const id = `${endpoint.id}:${endpoint.secret.iv}`;
    let key = this.signingKeys.get(id);
    if (!key) {
      key = webhookSigningKey(this.modules.secrets.open(endpoint.secret, webhookSecretContext(endpoint.id)));
      if (this.signingKeys.size >= MAX_SIGNING_KEYS) this.signingKeys.clear();
      this.signingKeys.set(id, key);
    }
    return key;
  }

  /** Sends one attempt (`sent` once the receiver answered or failed) and records it. */
  private async attempt({ delivery, endpoint, event }: DueDelivery, sent: () => void): Promise<void> {
    const startedMs = this.modules.now();
    const timestamp = Math.floor(startedMs / 1000);
    const body = webhookBody(event);
    const secret = this.signingKeyOf(endpoint);
    let statusCode: number | undefined;
    let error: string | undefined;
    let retryAfterMs: number | undefined;
    const started = performance.now();
    try {
      const response = await postWebhook(
        new URL(endpoint.url),
        {
          "content-type": "application/json",
          "user-agent": "Settlenet-Webhooks/1",
          [WEBHOOK_HEADERS.id]: event.id,
          [WEBHOOK_HEADERS.timestamp]: String(timestamp),
          [WEBHOOK_HEADERS.signature]: signWebhook(secret, event.id, timestamp, body),
        },
        body,
        { allowLoopback: this.options.allowLoopback },
        {
          resolve: this.modules.resolve ?? systemResolver,
          signal: this.abort.signal,
          timeoutMs: this.options.timeoutMs,
          connections: this.connections,
        },
      );
      statusCode = response.statusCode;
      const retryAfter = Number(response.headers["retry-after"]);
      if (Number.isFinite(retryAfter) && retryAfter > 0) retryAfterMs = retryAfter * 1000;
    } catch (caught) {
      sent();
      // Shutting down: the delivery stays due and is sent after the restart.
      if (this.abort.signal.aborted) return;
      error = caught instanceof SettlenetError && caught.code === "WEBHOOK_URL_FORBIDDEN" ? "ADDRESS_FORBIDDEN" : "UNREACHABLE";
      this.modules.logger.debug({ endpointId: endpoint.id, eventId: event.id, cause: failureCode(caught) }, "webhook attempt got no answer");
    }
    sent();
    const durationMs = Math.round(performance.now() - started);
    this.metrics.duration.observe(durationMs / 1000);
    const succeeded = statusCode !== undefined && statusCode >= 200 && statusCode < 300;
    const attempt: DeliveryAttempt = { atMs: startedMs, durationMs, succeeded, ...(statusCode !== undefined ? { statusCode } : {}), ...(error ? { error } : {}) };
    this.metrics.attempts.inc({ result: succeeded ? "succeeded" : "failed" });
    const log = { endpointId: endpoint.id, eventId: event.id, type: event.type, statusCode, error, attempt: delivery.attemptCount + 1 };
    const record = (outcome: AttemptOutcome) => this.recorder.record({ endpointId: endpoint.id, eventId: event.id, attempt, outcome });
    if (succeeded) {
      await record({ status: "succeeded" });
      this.metrics.deliveries.inc({ result: "succeeded" });
      this.modules.logger.debug(log, "webhook delivered");
      return;
    }
    if (statusCode === 410) {
      await record({ status: "failed", disableEndpoint: true });
      this.metrics.deliveries.inc({ result: "failed" });
      this.modules.logger.warn(log, "webhook endpoint answered 410 Gone: disabled");
      return;
    }
    const nowMs = this.modules.now();
    if (nowMs >= delivery.retryFromMs + this.options.retryForSeconds * 1000) {
      await record({ status: "failed" });
      this.metrics.deliveries.inc({ result: "failed" });
      this.modules.logger.warn(log, "webhook delivery failed for the whole retry period: given up");
      return;
    }
    let delay = backoffDelayMs(this.options, delivery.attemptCount + 1, this.modules.random);
    if (retryAfterMs !== undefined) delay = Math.min(this.options.maxDelayMs, Math.max(delay, retryAfterMs));
    this.nextScanAtMs = Math.min(this.nextScanAtMs, nowMs + delay);
    await record({ status: "pending", nextAttemptAtMs: nowMs + delay });
    this.modules.logger.info({ ...log, retryInMs: delay }, "webhook attempt failed; will retry");
  }
}

/**
 * Whether `atMs` (set at most `intervalMs` ahead of the clock) is still to come: a clock that went
 * back since then counts as having reached it, so nothing waits longer than the interval.
 */
function pending(nowMs: number, atMs: number, intervalMs: number): boolean {
  return nowMs < atMs && atMs - nowMs <= intervalMs;
}

/** The key the dispatcher knows a delivery by while an attempt of it is under way. */
function deliveryKey(item: DueDelivery): string {
  return `${item.delivery.endpointId}!${item.delivery.eventId}`;
}

interface WaitingRecord extends AttemptRecord {
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * Records attempts in groups: one written alone when nothing is being written, and every attempt
 * that ends meanwhile in the next batch (answers to one fan-out's deliveries arrive together). Each
 * caller resolves once its attempt is synced.
 */
class AttemptRecorder {
  private waiting: WaitingRecord[] = [];
  private writing = false;

  constructor(private readonly storage: GatewayStorage) {}

  record(item: AttemptRecord): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ ...item, resolve, reject });
      if (!this.writing) void this.write();
    });
  }

  private async write(): Promise<void> {
    this.writing = true;
    while (this.waiting.length > 0) {
      const group = this.waiting;
      this.waiting = [];
      try {
        await this.storage.webhooks.recordAttempts(group);
        for (const item of group) item.resolve();
      } catch (error) {
        for (const item of group) item.reject(error);
      }
    }
    this.writing = false;
  }
}

/** Most targets whose idle connections are kept; the least recently used one's are closed first. */
const MAX_POOLED_TARGETS = 64;
/** How long an idle connection is kept (less when the receiver announces a shorter Keep-Alive timeout: undici follows the hint). */
const IDLE_CONNECTION_MS = 4_000;

/** The socket lookup of a pool: answers with the checked addresses, so nothing resolves the name again. */
function checkedLookup(addresses: readonly ResolvedAddress[]): LookupFunction {
  return (_hostname, lookupOptions, callback) => {
    if (lookupOptions.all) {
      callback(null, addresses as ResolvedAddress[]);
      return;
    }
    const first = addresses[0];
    if (first) callback(null, first.address, first.family);
    else callback(new Error("no address"), "", 4);
  };
}

/** A connection pool to `url`'s origin that connects only to `addresses`. */
function checkedPool(url: URL, addresses: readonly ResolvedAddress[]): Pool {
  return new Pool(url.origin, { connect: { lookup: checkedLookup(addresses) }, keepAliveTimeout: IDLE_CONNECTION_MS, keepAliveMaxTimeout: IDLE_CONNECTION_MS });
}

/**
 * Kept-alive connections to webhook receivers, one pool per target: the URL's scheme, host and port
 * with the addresses its check answered. A connection is reused only for an attempt whose own check
 * gave the same addresses, so every attempt still goes to an address checked for it; a new DNS
 * answer gets a pool of its own. This spares the gateway (and the receiver) a TCP and TLS
 * handshake per delivery. The pools are undici's: an attempt costs the gateway about half the CPU of
 * the same attempt through Node's http client (`tsx bench/webhook-post.ts`: 37 against 67 µs).
 */
export class WebhookConnections {
  private readonly pools = new Map<string, Pool>();

  /** The pool for `url` resolved to `addresses` (created on first use). */
  poolFor(url: URL, addresses: readonly ResolvedAddress[]): Pool {
    const key = `${url.protocol}//${url.host}|${addresses.map((a) => a.address).join(",")}`;
    let pool = this.pools.get(key);
    if (pool) {
      // Most recently used last, so the first key is the one to close when there are too many.
      this.pools.delete(key);
    } else {
      pool = checkedPool(url, addresses);
      if (this.pools.size >= MAX_POOLED_TARGETS) {
        const [oldest, least] = this.pools.entries().next().value as [string, Pool];
        this.pools.delete(oldest);
        // Attempts under way on it still end; its connections close after them.
        least.close().catch(() => undefined);
      }
    }
    this.pools.set(key, pool);
    return pool;
  }

  /** Closes every connection (the dispatcher has stopped). */
  close(): void {
    for (const pool of this.pools.values()) pool.destroy().catch(() => undefined);
    this.pools.clear();
  }
}

/**
 * POSTs one webhook: the host is resolved and every address checked (WEBHOOK_URL_FORBIDDEN otherwise),
 * then the connection goes to a checked address (the socket's lookup is answered with them, so nothing
 * resolves the name again), or one kept alive in `connections` for the same checked answer is reused;
 * TLS still verifies the certificate against the host name. Redirects are not followed; the answer's
 * body is discarded. `timeoutMs` bounds the attempt: no answer by then is a TimeoutError, and an
 * answer whose body has not ended by then loses its connection. `signal` (the dispatcher stopping)
 * ends it at once. It resolves with the answer's status and headers (the caller's slot is free then,
 * whatever the body does); `ended` resolves once the body is read or given up and the connection is
 * back in its pool.
 */
export async function postWebhook(
  url: URL,
  headers: Record<string, string>,
  body: string,
  policy: WebhookTargetPolicy,
  options: { resolve: HostResolver; signal: AbortSignal; timeoutMs?: number; connections: WebhookConnections },
): Promise<{ statusCode: number; headers: IncomingHttpHeaders; ended: Promise<void> }> {
  const addresses = await resolveWebhookTarget(url, policy, options.resolve);
  const { connections, signal, timeoutMs } = options;
  const pool = connections.poolFor(url, addresses);
  // One controller for both ends of an attempt: the timer and the dispatcher's own signal.
  const controller = new AbortController();
  const stop = () => controller.abort(signal.reason);
  if (signal.aborted) stop();
  else signal.addEventListener("abort", stop, { once: true });
  const timer = timeoutMs === undefined ? undefined : setTimeout(() => controller.abort(new DOMException(`no answer within ${timeoutMs} ms`, "TimeoutError")), timeoutMs);
  const done = () => {
    clearTimeout(timer);
    signal.removeEventListener("abort", stop);
  };
  try {
    const answer = await pool.request({ path: `${url.pathname}${url.search}`, method: "POST", headers, body, signal: controller.signal });
    // The body is discarded; the timer still bounds it, and its end (or failure) ends the attempt.
    const ended = new Promise<void>((resolveEnded) =>
      answer.body.once("close", () => {
        done();
        resolveEnded();
      }),
    );
    answer.body.on("error", () => undefined);
    answer.body.resume();
    return { statusCode: answer.statusCode, headers: answer.headers as IncomingHttpHeaders, ended };
  } catch (error) {
    done();
    throw error;
  }
}

/** A short code for a failed request without an HTTP answer (for the gateway's log only). */
function failureCode(error: unknown): string {
  const e = error as { name?: string; code?: string; cause?: { code?: string; name?: string } };
  if (e.name === "TimeoutError" || e.cause?.name === "TimeoutError") return "TIMEOUT";
  return e.cause?.code ?? e.code ?? e.name ?? "REQUEST_FAILED";
}
