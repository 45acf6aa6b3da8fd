/**
 * Events, the webhook outbox, endpoints and deliveries. Key layouts: keyspaces.ts.
 *
 * An event is written with `eventWrites` inside the batch of the change that caused it (orders,
 * payouts; the domain makes the event records): the event record, its place in the merchant's log
 * and an `outbox` entry. The dispatcher
 * then fans each outbox entry out to the merchant's endpoints (one batch: outbox entry gone, one
 * pending delivery per endpoint queued), and records attempts (one batch for those that ended
 * together: each delivery record and its `webhookQueue` key move together). So an event is never lost
 * between its change and delivery.
 */
import { SettlenetError } from "../../core/errors.js";
import type { Page } from "../../core/records.js";
import { cursorKey, keyCursor } from "../../core/storage/pages.js";
import type { DeliveryAttempt, DeliveryRecord, EventRecord, WebhookEndpointRecord } from "../domain/events.js";
import { SEP, pad, prefixRange, type StorageContext, type Sublevel, type WriteOp } from "./keyspaces.js";

/** Merchants whose endpoints are kept in memory at most (all are forgotten when full). */
const MAX_CACHED_MERCHANTS = 10_000;

/** At most this many attempts are kept per delivery (the count goes on). */
const MAX_ATTEMPTS_KEPT = 50;

export const webhookKeys = {
  eventByMerchant: (e: Pick<EventRecord, "merchantId" | "createdAtMs" | "id">) => `${e.merchantId}${SEP}${pad(e.createdAtMs, 16)}${SEP}${e.id}`,
  outbox: (e: Pick<EventRecord, "createdAtMs" | "id">) => `${pad(e.createdAtMs, 16)}${SEP}${e.id}`,
  endpointByMerchant: (merchantId: string, endpointId: string) => `${merchantId}${SEP}${endpointId}`,
  delivery: (endpointId: string, eventId: string) => `${endpointId}${SEP}${eventId}`,
  deliveryByEndpoint: (d: Pick<DeliveryRecord, "endpointId" | "createdAtMs" | "eventId">) => `${d.endpointId}${SEP}${pad(d.createdAtMs, 16)}${SEP}${d.eventId}`,
  queue: (dueAtMs: number, endpointId: string, eventId: string) => `${pad(dueAtMs, 16)}${SEP}${endpointId}${SEP}${eventId}`,
};

/**
 * Per outbox keyspace: a key at or below every outbox entry (the fan-out scans from it). The outbox is
 * a queue, so everything the fan-out deleted lies before its head as LevelDB tombstones until
 * compaction; a scan from the start would step over all of them every pass (thousands after a minute
 * at a few hundred payments a second). An entry's time is taken before its write section runs, so a
 * new entry may sort before the floor: writing it lowers the floor.
 */
const outboxFloors = new WeakMap<Sublevel, { key: string }>();

/**
 * Per outbox keyspace: who wants to know that entries are being written (the dispatcher, so that an
 * event does not wait for its next poll). Told while the writing section runs: a fan-out it starts
 * queues behind that section and so finds the entries.
 */
const outboxWatchers = new WeakMap<Sublevel, Set<() => void>>();

/** The writes that store a new `event`, for the batch of the change that caused it (inside a storage write section). */
export function eventWrites(spaces: StorageContext["spaces"], event: EventRecord): WriteOp[] {
  const outboxKey = webhookKeys.outbox(event);
  const floor = outboxFloors.get(spaces.outbox);
  if (floor && outboxKey < floor.key) floor.key = outboxKey;
  for (const watcher of outboxWatchers.get(spaces.outbox) ?? []) watcher();
  return [
    { type: "put", sublevel: spaces.events, key: event.id, value: event },
    { type: "put", sublevel: spaces.eventsByMerchant, key: webhookKeys.eventByMerchant(event), value: "" },
    { type: "put", sublevel: spaces.outbox, key: outboxKey, value: "" },
  ];
}

/** A delivery that is due, with what the dispatcher needs to send it. */
export interface DueDelivery {
  delivery: DeliveryRecord;
  endpoint: WebhookEndpointRecord;
  event: EventRecord;
}

/** One attempt to record: which delivery, the attempt, and what follows it. */
export interface AttemptRecord {
  endpointId: string;
  eventId: string;
  attempt: DeliveryAttempt;
  outcome: AttemptOutcome;
}

/** What happens to a delivery after an attempt. */
export type AttemptOutcome =
  | { status: "pending"; nextAttemptAtMs: number }
  | { status: "succeeded" | "failed"; disableEndpoint?: boolean };

export class LevelWebhookRepository {
  /**
   * A key at or below every queued attempt, where `due` starts its scan: deliveries leave the queue
   * as tombstones a scan from its head would step over (the outbox's reason, see `outboxFloors`).
   * `lowered` counts the writes that put a key below it, so a scan that raced one keeps the floor.
   */
  private readonly queueFloor = { key: "", lowered: 0 };
  /**
   * Each merchant's endpoints as stored, and the same records by id: every fan-out pass needs the
   * endpoints of the merchants of its events, and every due delivery its endpoint. Only this
   * repository writes endpoints, and every write forgets them all (endpoint changes are rare), so
   * the cache never answers anything the database would not. Bounded: forgotten when full.
   */
  private readonly endpointCache = { byMerchant: new Map<string, readonly Readonly<WebhookEndpointRecord>[]>(), byId: new Map<string, Readonly<WebhookEndpointRecord>>(), version: 0 };

  constructor(private readonly ctx: StorageContext) {}

  // ------------------------------------------------------------------ events

  /** Changes whenever an endpoint changes (a delivery read before a change may name an endpoint that is gone or different). */
  endpointsVersion(): number {
    return this.endpointCache.version;
  }

  /** Calls `watcher` whenever a write section adds outbox entries; returns the function that stops it. */
  watchOutbox(watcher: () => void): () => void {
    const outbox = this.ctx.spaces.outbox;
    let watchers = outboxWatchers.get(outbox);
    if (!watchers) outboxWatchers.set(outbox, (watchers = new Set()));
    const own = watchers;
    // A function of its own, so that the same watcher added twice is removed once per stop.
    const entry = () => watcher();
    own.add(entry);
    return () => {
      own.delete(entry);
    };
  }

  getEvent(id: string): Promise<EventRecord | undefined> {
    return this.ctx.read(async () => (await this.ctx.spaces.events.get(id)) as EventRecord | undefined);
  }

  /** A merchant's events, newest first. */
  listEvents(merchantId: string, options: { limit: number; cursor?: string }): Promise<Page<EventRecord>> {
    const s = this.ctx.spaces;
    return this.ctx.read(async () => {
      const keys = await pageKeys(s.eventsByMerchant, `${merchantId}${SEP}`, options);
      const page = keys.slice(0, options.limit);
      const events = ((await s.events.getMany(page.map(lastPart))) as (EventRecord | undefined)[]).filter((e): e is EventRecord => e !== undefined);
      return withCursor(events, keys, page, options.limit);
    });
  }

  // --------------------------------------------------------------- endpoints

  getEndpoint(id: string): Promise<WebhookEndpointRecord | undefined> {
    return this.ctx.read(async () => (await this.ctx.spaces.webhookEndpoints.get(id)) as WebhookEndpointRecord | undefined);
  }

  listEndpoints(merchantId: string): Promise<WebhookEndpointRecord[]> {
    return this.ctx.read(async () => [...(await this.endpointsOf(merchantId))]);
  }

  /** Adds an endpoint; WEBHOOK_ENDPOINT_LIMIT if the merchant has `max` already. */
  createEndpoint(record: WebhookEndpointRecord, max: number): Promise<void> {
    const s = this.ctx.spaces;
    return this.changeEndpoints(async () => {
      const existing = await s.webhookEndpointsByMerchant.keys(prefixRange(`${record.merchantId}${SEP}`)).all();
      if (existing.length >= max) throw new SettlenetError("WEBHOOK_ENDPOINT_LIMIT", `a merchant may have at most ${max} webhook endpoints`, { max });
      await this.ctx.commit([
        { type: "put", sublevel: s.webhookEndpoints, key: record.id, value: record },
        { type: "put", sublevel: s.webhookEndpointsByMerchant, key: webhookKeys.endpointByMerchant(record.merchantId, record.id), value: "" },
      ]);
    });
  }

  /** Replaces the endpoint's sealed signing secret; WEBHOOK_ENDPOINT_NOT_FOUND unless it is the merchant's. */
  replaceSecret(merchantId: string, id: string, secret: WebhookEndpointRecord["secret"]): Promise<WebhookEndpointRecord> {
    const s = this.ctx.spaces;
    return this.changeEndpoints(async () => {
      const endpoint = (await s.webhookEndpoints.get(id)) as WebhookEndpointRecord | undefined;
      if (!endpoint || endpoint.merchantId !== merchantId) throw new SettlenetError("WEBHOOK_ENDPOINT_NOT_FOUND", `no webhook endpoint ${id}`, { id });
      const next = { ...endpoint, secret };
      await this.ctx.commit([{ type: "put", sublevel: s.webhookEndpoints, key: id, value: next }]);
      return next;
    });
  }

  /** Removes an endpoint and cancels its pending deliveries (their log goes with it). */
  deleteEndpoint(merchantId: string, id: string): Promise<WebhookEndpointRecord> {
    const s = this.ctx.spaces;
    return this.changeEndpoints(async () => {
      const endpoint = (await s.webhookEndpoints.get(id)) as WebhookEndpointRecord | undefined;
      if (!endpoint || endpoint.merchantId !== merchantId) throw new SettlenetError("WEBHOOK_ENDPOINT_NOT_FOUND", `no webhook endpoint ${id}`, { id });
      const writes: WriteOp[] = [
        { type: "del", sublevel: s.webhookEndpoints, key: id },
        { type: "del", sublevel: s.webhookEndpointsByMerchant, key: webhookKeys.endpointByMerchant(merchantId, id) },
      ];
      const logKeys = await s.webhookDeliveriesByEndpoint.keys(prefixRange(`${id}${SEP}`)).all();
      for (const logKey of logKeys) {
        const key = webhookKeys.delivery(id, lastPart(logKey));
        const delivery = (await s.webhookDeliveries.get(key)) as DeliveryRecord | undefined;
        if (delivery?.nextAttemptAtMs !== undefined) writes.push({ type: "del", sublevel: s.webhookQueue, key: webhookKeys.queue(delivery.nextAttemptAtMs, id, delivery.eventId) });
        writes.push({ type: "del", sublevel: s.webhookDeliveries, key }, { type: "del", sublevel: s.webhookDeliveriesByEndpoint, key: logKey });
      }
      await this.ctx.commit(writes);
      return endpoint;
    });
  }

  // -------------------------------------------------------------- deliveries

  /** Deliveries to an endpoint, newest first. */
  listDeliveries(endpointId: string, options: { limit: number; cursor?: string }): Promise<Page<DeliveryRecord>> {
    const s = this.ctx.spaces;
    return this.ctx.read(async () => {
      const keys = await pageKeys(s.webhookDeliveriesByEndpoint, `${endpointId}${SEP}`, options);
      const page = keys.slice(0, options.limit);
      const records = (await s.webhookDeliveries.getMany(page.map((k) => webhookKeys.delivery(endpointId, lastPart(k))))) as (DeliveryRecord | undefined)[];
      return withCursor(records.filter((d): d is DeliveryRecord => d !== undefined), keys, page, options.limit);
    });
  }

  getDelivery(endpointId: string, eventId: string): Promise<DeliveryRecord | undefined> {
    return this.ctx.read(async () => (await this.ctx.spaces.webhookDeliveries.get(webhookKeys.delivery(endpointId, eventId))) as DeliveryRecord | undefined);
  }

  /**
   * Turns up to `limit` outbox entries into pending deliveries, one per active endpoint of the
   * merchant that takes the event type, due at once. One batch; returns the events fanned out.
   */
  async fanOut(atMs: number, limit: number): Promise<EventRecord[]> {
    return (await this.fanOutDue(atMs, limit)).events;
  }

  /**
   * `fanOut`, also handing back the deliveries it queued with their endpoint and event, due at once:
   * the dispatcher sends them without reading them back from the queue.
   */
  async fanOutDue(atMs: number, limit: number): Promise<{ events: EventRecord[]; deliveries: DueDelivery[] }> {
    const s = this.ctx.spaces;
    let floor = outboxFloors.get(s.outbox);
    if (!floor) outboxFloors.set(s.outbox, (floor = { key: "" }));
    const outboxFloor = floor;
    try {
      return await this.ctx.write(() => this.fanOutFrom(outboxFloor, atMs, limit));
    } catch (error) {
      // The entries this pass meant to delete may still be there: scan from the start next time.
      outboxFloor.key = "";
      throw error;
    }
  }

  /** The fan-out pass inside its write section, scanning the outbox from `floor`. */
  private async fanOutFrom(floor: { key: string }, atMs: number, limit: number): Promise<{ events: EventRecord[]; deliveries: DueDelivery[] }> {
    const s = this.ctx.spaces;
    const keys = await s.outbox.keys({ gte: floor.key, limit }).all();
    if (keys.length === 0) return { events: [], deliveries: [] };
    // Every entry before the last one scanned is fanned out in this batch; later writes lower the floor again.
    floor.key = keys[keys.length - 1] as string;
    const events = (await s.events.getMany(keys.map(lastPart))) as (EventRecord | undefined)[];
    const writes: WriteOp[] = keys.map((key) => ({ type: "del", sublevel: s.outbox, key }));
    const fanned: EventRecord[] = [];
    const deliveries: DueDelivery[] = [];
    for (const event of events) {
      if (!event) continue;
      fanned.push(event);
      for (const endpoint of await this.endpointsOf(event.merchantId)) {
        if (endpoint.status !== "active" || !endpoint.eventTypes.includes(event.type)) continue;
        const delivery = newDelivery(endpoint.id, event, atMs);
        writes.push(...this.deliveryWrites(delivery, undefined), { type: "put", sublevel: s.webhookDeliveriesByEndpoint, key: webhookKeys.deliveryByEndpoint(delivery), value: "" });
        deliveries.push({ delivery, endpoint, event });
      }
    }
    await this.ctx.commit(writes);
    return { events: fanned, deliveries };
  }

  /** Pending deliveries due at `atMs`, earliest first, skipping those in `busy` (delivery keys). */
  async due(atMs: number, limit: number, busy: ReadonlySet<string>): Promise<DueDelivery[]> {
    const s = this.ctx.spaces;
    const orphans: string[] = [];
    const floor = this.queueFloor;
    const lowered = floor.lowered;
    const found = this.ctx.read(async () => {
      const keys = await s.webhookQueue.keys({ gte: floor.key, lt: `${pad(atMs + 1, 16)}`, limit: limit + busy.size }).all();
      // Nothing was queued before the first key found (or before atMs + 1 when none was), unless a write meanwhile put it there.
      if (floor.lowered === lowered) floor.key = keys[0] ?? pad(atMs + 1, 16);
      const out: DueDelivery[] = [];
      for (const key of keys) {
        if (out.length >= limit) break;
        const [, endpointId, eventId] = key.split(SEP) as [string, string, string];
        const deliveryKey = webhookKeys.delivery(endpointId, eventId);
        if (busy.has(deliveryKey)) continue;
        const [delivery, endpoint, event] = await Promise.all([
          s.webhookDeliveries.get(deliveryKey) as Promise<DeliveryRecord | undefined>,
          this.endpointById(endpointId),
          s.events.get(eventId) as Promise<EventRecord | undefined>,
        ]);
        // A queue key without its delivery, endpoint or event is left over from a deletion.
        if (!delivery || !endpoint || !event) {
          orphans.push(key);
          continue;
        }
        out.push({ delivery, endpoint, event });
      }
      return out;
    });
    const out = await found;
    if (orphans.length > 0) await this.ctx.write(() => this.ctx.commit(orphans.map((key) => ({ type: "del", sublevel: s.webhookQueue, key }))));
    return out;
  }

  /**
   * Up to `limit` pending deliveries, latest due first: a delivery retried for long waits longest
   * between attempts, so it sorts towards the end of the queue (and the end holds no tombstones).
   */
  pendingDeliveries(limit: number): Promise<DeliveryRecord[]> {
    const s = this.ctx.spaces;
    return this.ctx.read(async () => {
      const keys = await s.webhookQueue.keys({ reverse: true, limit }).all();
      const ids = keys.map((key) => {
        const [, endpointId, eventId] = key.split(SEP) as [string, string, string];
        return webhookKeys.delivery(endpointId, eventId);
      });
      const records = (await s.webhookDeliveries.getMany(ids)) as (DeliveryRecord | undefined)[];
      return records.filter((r): r is DeliveryRecord => r?.status === "pending");
    });
  }

  /** Pending deliveries in total (the queue's size). */
  pendingCount(): Promise<number> {
    return this.ctx.read(async () => (await this.ctx.spaces.webhookQueue.keys().all()).length);
  }

  /**
   * Records an attempt and what follows it (retry at a time, success, or giving up) in one batch. If
   * the delivery changed meanwhile (redelivered, endpoint deleted), only the attempt is recorded.
   */
  recordAttempt(endpointId: string, eventId: string, attempt: DeliveryAttempt, outcome: AttemptOutcome): Promise<DeliveryRecord | undefined> {
    return this.recordAttempts([{ endpointId, eventId, attempt, outcome }]).then((records) => records[0]);
  }

  /**
   * `recordAttempt` for several attempts in one batch (the dispatcher records the attempts that
   * ended together so); the records in order, undefined where the delivery is gone.
   */
  recordAttempts(items: readonly AttemptRecord[]): Promise<(DeliveryRecord | undefined)[]> {
    const s = this.ctx.spaces;
    // An attempt that disables its endpoint (410 Gone) changes the endpoints the cache holds.
    const write = items.some((item) => item.outcome.status !== "pending" && item.outcome.disableEndpoint) ? this.changeEndpoints.bind(this) : this.ctx.write.bind(this.ctx);
    return write(async () => {
      const stored = (await s.webhookDeliveries.getMany(items.map((item) => webhookKeys.delivery(item.endpointId, item.eventId)))) as (DeliveryRecord | undefined)[];
      // Two attempts of one delivery in a batch: the second builds on the first.
      const latest = new Map<string, DeliveryRecord>();
      const writes: WriteOp[] = [];
      const out: (DeliveryRecord | undefined)[] = [];
      for (const [i, { endpointId, eventId, attempt, outcome }] of items.entries()) {
        const key = webhookKeys.delivery(endpointId, eventId);
        const current = latest.get(key) ?? stored[i];
        if (!current) {
          out.push(undefined);
          continue;
        }
        const next = afterAttempt(current, attempt, outcome);
        latest.set(key, next);
        writes.push(...this.deliveryWrites(next, current));
        if (outcome.status !== "pending" && outcome.disableEndpoint) {
          const endpoint = (await s.webhookEndpoints.get(endpointId)) as WebhookEndpointRecord | undefined;
          if (endpoint) writes.push({ type: "put", sublevel: s.webhookEndpoints, key: endpointId, value: { ...endpoint, status: "disabled" } });
        }
        out.push(next);
      }
      await this.ctx.commit(writes);
      return out;
    });
  }

  /**
   * Queues `eventId` again (due at once, a fresh retry period) for each of the merchant's endpoints
   * in `endpointIds` that takes its type. A delivery that was never made is created.
   */
  redeliver(event: EventRecord, endpointIds: string[], atMs: number): Promise<DeliveryRecord[]> {
    const s = this.ctx.spaces;
    return this.ctx.write(async () => {
      const writes: WriteOp[] = [];
      const out: DeliveryRecord[] = [];
      for (const endpointId of endpointIds) {
        const current = (await s.webhookDeliveries.get(webhookKeys.delivery(endpointId, event.id))) as DeliveryRecord | undefined;
        const next: DeliveryRecord = current
          ? { ...current, status: "pending", nextAttemptAtMs: atMs, retryFromMs: atMs, updatedAtMs: atMs }
          : newDelivery(endpointId, event, atMs);
        writes.push(...this.deliveryWrites(next, current));
        if (!current) writes.push({ type: "put", sublevel: s.webhookDeliveriesByEndpoint, key: webhookKeys.deliveryByEndpoint(next), value: "" });
        out.push(next);
      }
      await this.ctx.commit(writes);
      return out;
    });
  }

  // --------------------------------------------------------------- internals

  /** The merchant's endpoints, oldest first (frozen records, shared by every caller). */
  private async endpointsOf(merchantId: string): Promise<readonly Readonly<WebhookEndpointRecord>[]> {
    const cache = this.endpointCache;
    const cached = cache.byMerchant.get(merchantId);
    if (cached) return cached;
    const version = cache.version;
    const s = this.ctx.spaces;
    const keys = await s.webhookEndpointsByMerchant.keys(prefixRange(`${merchantId}${SEP}`)).all();
    const records = (await s.webhookEndpoints.getMany(keys.map(lastPart))) as (WebhookEndpointRecord | undefined)[];
    const endpoints = Object.freeze(
      records
        .filter((e): e is WebhookEndpointRecord => e !== undefined)
        .sort((a, b) => a.createdAtMs - b.createdAtMs)
        .map((e) => Object.freeze({ ...e, eventTypes: Object.freeze([...e.eventTypes]), secret: Object.freeze({ ...e.secret }) }) as Readonly<WebhookEndpointRecord>),
    );
    // A change that began meanwhile may not be in what was read: keep it only if none did.
    if (version === cache.version) {
      if (cache.byMerchant.size >= MAX_CACHED_MERCHANTS) this.forgetEndpoints();
      cache.byMerchant.set(merchantId, endpoints);
      for (const endpoint of endpoints) cache.byId.set(endpoint.id, endpoint);
    }
    return endpoints;
  }

  /** The endpoint (from the cache when its merchant's endpoints were read since the last change). */
  private async endpointById(id: string): Promise<Readonly<WebhookEndpointRecord> | undefined> {
    return this.endpointCache.byId.get(id) ?? ((await this.ctx.spaces.webhookEndpoints.get(id)) as WebhookEndpointRecord | undefined);
  }

  /** Forgets every cached endpoint: called before and after each write section that changes endpoints. */
  private forgetEndpoints(): void {
    this.endpointCache.version += 1;
    this.endpointCache.byMerchant.clear();
    this.endpointCache.byId.clear();
  }

  /** Runs a write section that changes endpoints, with the cache forgotten around it (also if it fails). */
  private changeEndpoints<T>(fn: () => Promise<T>): Promise<T> {
    return this.ctx
      .write(async () => {
        this.forgetEndpoints();
        try {
          return await fn();
        } finally {
          this.forgetEndpoints();
        }
      })
      .finally(() => this.forgetEndpoints());
  }

  /** The delivery record and its queue key (moved from `previous`'s due time). */
  private deliveryWrites(next: DeliveryRecord, previous: DeliveryRecord | undefined): WriteOp[] {
    const s = this.ctx.spaces;
    const writes: WriteOp[] = [{ type: "put", sublevel: s.webhookDeliveries, key: webhookKeys.delivery(next.endpointId, next.eventId), value: next }];
    if (previous?.nextAttemptAtMs !== undefined && previous.nextAttemptAtMs !== next.nextAttemptAtMs) {
      writes.push({ type: "del", sublevel: s.webhookQueue, key: webhookKeys.queue(previous.nextAttemptAtMs, next.endpointId, next.eventId) });
    }
    if (next.nextAttemptAtMs !== undefined) {
      const key = webhookKeys.queue(next.nextAttemptAtMs, next.endpointId, next.eventId);
      if (key < this.queueFloor.key) {
        this.queueFloor.key = key;
        this.queueFloor.lowered += 1;
      }
      writes.push({ type: "put", sublevel: s.webhookQueue, key, value: "" });
    }
    return writes;
  }
}

/** The delivery after an attempt: retry at a time, success or giving up; a redelivery requested during the attempt stands. */
function afterAttempt(current: DeliveryRecord, attempt: DeliveryAttempt, outcome: AttemptOutcome): DeliveryRecord {
  const attempts = [...current.attempts, attempt].slice(-MAX_ATTEMPTS_KEPT);
  const base = { ...current, attempts, attemptCount: current.attemptCount + 1, updatedAtMs: attempt.atMs };
  // A redelivery request during the attempt moved the due time before this attempt started: keep it.
  const redelivered = current.status === "pending" && current.nextAttemptAtMs !== undefined && current.nextAttemptAtMs > attempt.atMs;
  if (redelivered) return base;
  const { nextAttemptAtMs: _drop, ...rest } = base;
  return outcome.status === "pending" ? { ...rest, status: "pending", nextAttemptAtMs: outcome.nextAttemptAtMs } : { ...rest, status: outcome.status };
}

/** A delivery of `event` to `endpointId` never attempted yet, due at once (fan-out and redelivery create the same). */
function newDelivery(endpointId: string, event: EventRecord, atMs: number): DeliveryRecord {
  return {
    endpointId,
    eventId: event.id,
    eventType: event.type,
    merchantId: event.merchantId,
    status: "pending",
    createdAtMs: atMs,
    updatedAtMs: atMs,
    retryFromMs: atMs,
    nextAttemptAtMs: atMs,
    attemptCount: 0,
    attempts: [],
  };
}

function lastPart(key: string): string {
  return key.slice(key.lastIndexOf(SEP) + 1);
}

/** Up to limit + 1 index keys under `prefix`, newest first, after the cursor. */
async function pageKeys(index: Sublevel, prefix: string, options: { limit: number; cursor?: string }): Promise<string[]> {
  const lt = options.cursor ? cursorKey(options.cursor, (key) => key.startsWith(prefix), "MALFORMED") : `${prefix}\uffff`;
  return index.keys({ gte: prefix, lt, reverse: true, limit: options.limit + 1 }).all();
}

function withCursor<T>(items: T[], keys: string[], page: string[], limit: number): Page<T> {
  const last = page[page.length - 1];
  return { items, ...(keys.length > limit && last ? { next: keyCursor(last) } : {}) };
}
