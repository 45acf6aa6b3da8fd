/**
 * Durable request bookkeeping: request nonces (replay protection within the clock-skew window) and
 * Idempotency-Key records (the response to replay). Both survive a restart; each record has an
 * entry in an expiry index so pruning reads only what has expired.
 */
import type { IdempotencyRecord } from "../domain/records.js";
import { SEP, pad, type StorageContext, type Sublevel, type WriteOp } from "./keyspaces.js";

const expiryKey = (expiresAtMs: number, id: string) => `${pad(expiresAtMs, 16)}${SEP}${id}`;

/** Writes that store `value` under `id` and move its expiry index entry from `previous` (if any). */
function putWithExpiry(records: Sublevel, byExpiry: Sublevel, id: string, value: { expiresAtMs: number }, previous?: { expiresAtMs: number }): WriteOp[] {
  const writes: WriteOp[] = [];
  if (previous && previous.expiresAtMs !== value.expiresAtMs) writes.push({ type: "del", sublevel: byExpiry, key: expiryKey(previous.expiresAtMs, id) });
  writes.push({ type: "put", sublevel: records, key: id, value }, { type: "put", sublevel: byExpiry, key: expiryKey(value.expiresAtMs, id), value: "" });
  return writes;
}

/** Deletes every record whose expiry is before `nowMs`, through the expiry index; returns how many. */
function pruneExpired(ctx: StorageContext, records: Sublevel, byExpiry: Sublevel, nowMs: number): Promise<number> {
  return ctx.write(async () => {
    const expired = await byExpiry.keys({ lt: pad(nowMs, 16) }).all();
    const writes: WriteOp[] = [];
    for (const key of expired) {
      const id = key.slice(17);
      writes.push({ type: "del", sublevel: byExpiry, key });
      // The record may have been renewed with a later expiry: only delete it if this entry is its own.
      const current = (await records.get(id)) as { expiresAtMs: number } | undefined;
      if (current && current.expiresAtMs < nowMs) writes.push({ type: "del", sublevel: records, key: id });
    }
    await ctx.commit(writes);
    return expired.length;
  });
}

/** A nonce held by a request in this process, and the writes that record it (with the request's answer). */
export interface NonceClaim {
  id: string;
  writes: WriteOp[];
}

/** Request nonces per API key. */
export class LevelNonceStore {
  /**
   * Nonces reserved by requests of this process whose record is not written yet (id → expiry): a
   * second request with one is refused as if it were recorded.
   */
  private readonly reserved = new Map<string, number>();

  constructor(private readonly ctx: StorageContext) {}

  /**
   * Holds the nonce for a request unless it is recorded or held and unexpired (then undefined),
   * without writing: the caller writes `writes` in the batch of the request's answer and then calls
   * `written`. For requests whose repeat after a crash before that write is harmless by construction.
   */
  async reserve(keyId: string, nonce: string, expiresAtMs: number, nowMs: number): Promise<NonceClaim | undefined> {
    const { nonces, noncesByExpiry } = this.ctx.spaces;
    const id = `${keyId}${SEP}${nonce}`;
    const held = this.reserved.get(id);
    if (held !== undefined && held >= nowMs) return undefined;
    // Held before the read: a second request with the nonce while this one reads is refused.
    this.reserved.set(id, expiresAtMs);
    let seen: { expiresAtMs: number } | undefined;
    try {
      seen = await this.ctx.read(async () => (await nonces.get(id)) as { expiresAtMs: number } | undefined);
    } catch (error) {
      this.reserved.delete(id);
      throw error;
    }
    if (seen && seen.expiresAtMs >= nowMs) {
      this.reserved.delete(id);
      return undefined;
    }
    return { id, writes: putWithExpiry(nonces, noncesByExpiry, id, { expiresAtMs }, seen) };
  }

  /** The claim's writes are synced: the database refuses the nonce from now on. */
  written(claim: NonceClaim): void {
    this.reserved.delete(claim.id);
  }

  /** Writes a claim on its own (a request that ended without another write). */
  async record(claim: NonceClaim): Promise<void> {
    await this.ctx.write(() => this.ctx.commit(claim.writes));
    this.written(claim);
  }

  /** Records the nonce unless it is already recorded and unexpired; true if it was fresh. */
  claim(keyId: string, nonce: string, expiresAtMs: number, nowMs: number): Promise<boolean> {
    const { nonces, noncesByExpiry } = this.ctx.spaces;
    const id = `${keyId}${SEP}${nonce}`;
    return this.ctx.write(async () => {
      const seen = (await nonces.get(id)) as { expiresAtMs: number } | undefined;
      if (seen && seen.expiresAtMs >= nowMs) return false;
      await this.ctx.commit(putWithExpiry(nonces, noncesByExpiry, id, { expiresAtMs }, seen));
      return true;
    });
  }

  prune(nowMs: number): Promise<number> {
    return pruneExpired(this.ctx, this.ctx.spaces.nonces, this.ctx.spaces.noncesByExpiry, nowMs);
  }
}

/** What `begin` found for an Idempotency-Key. */
export type IdempotencyBegin =
  | { state: "started" }
  | { state: "replay"; response: NonNullable<IdempotencyRecord["response"]> }
  | { state: "mismatch" }
  | { state: "in_progress" };

/**
 * Idempotency-Key records per merchant. A request under a key is in progress only in this process's
 * memory: only one process can hold the database, so a request in progress is never seen by another,
 * and one left unfinished by a crash must run again. The durable record is written once, with the
 * response, before that response leaves.
 */
export class LevelIdempotencyStore {
  /**
   * merchant ! key → the request running under it: its fingerprint, and the expiry of the stale
   * record `begin` found (its index entry goes when the response is recorded; no second read).
   */
  private readonly running = new Map<string, { fingerprint: string; staleExpiresAtMs?: number }>();

  constructor(private readonly ctx: StorageContext) {}

  /**
   * Starts a request under an Idempotency-Key, or says why not: a recorded response to replay, a
   * different request under the same key, or the same key still in flight. A record left in progress
   * by an earlier gateway version is disregarded (that process is gone; its request never finished).
   */
  async begin(merchantId: string, key: string, fingerprint: string, nowMs: number): Promise<IdempotencyBegin> {
    const id = `${merchantId}${SEP}${key}`;
    const running = this.running.get(id);
    if (running !== undefined) return running.fingerprint === fingerprint ? { state: "in_progress" } : { state: "mismatch" };
    // Claimed before the read: a second request under the key while this one reads is in progress.
    const claim: { fingerprint: string; staleExpiresAtMs?: number } = { fingerprint };
    this.running.set(id, claim);
    let current: IdempotencyRecord | undefined;
    try {
      current = await this.ctx.read(async () => (await this.ctx.spaces.idempotency.get(id)) as IdempotencyRecord | undefined);
    } catch (error) {
      this.running.delete(id);
      throw error;
    }
    if (current && current.expiresAtMs >= nowMs && current.state === "complete" && current.response) {
      this.running.delete(id);
      if (current.fingerprint !== fingerprint) return { state: "mismatch" };
      return { state: "replay", response: current.response };
    }
    if (current) claim.staleExpiresAtMs = current.expiresAtMs;
    return { state: "started" };
  }

  /**
   * Records the response of a started request (synced before the response leaves), with `extra`
   * writes of the request in the same batch (its nonce). If recording fails the key stays in progress
   * in this process: retries are refused, never run again.
   */
  async complete(merchantId: string, key: string, response: NonNullable<IdempotencyRecord["response"]>, nowMs: number, ttlMs: number, extra: WriteOp[] = []): Promise<void> {
    const writes = this.completion(merchantId, key, response, nowMs, ttlMs);
    if (!writes) return;
    await this.ctx.write(() => this.ctx.commit([...writes, ...extra]));
    this.completed(merchantId, key);
  }

  /**
   * The writes that record the response of a started request (undefined if none runs under the key),
   * for the caller to put in the batch of the request's own change; once synced, call `completed`.
   */
  completion(merchantId: string, key: string, response: NonNullable<IdempotencyRecord["response"]>, nowMs: number, ttlMs: number): WriteOp[] | undefined {
    const { idempotency, idempotencyByExpiry } = this.ctx.spaces;
    const id = `${merchantId}${SEP}${key}`;
    const claim = this.running.get(id);
    if (claim === undefined) return undefined;
    const record: IdempotencyRecord = { merchantId, key, fingerprint: claim.fingerprint, state: "complete", createdAtMs: nowMs, expiresAtMs: nowMs + ttlMs, response };
    // Nothing else writes this key while it runs here (pruning the stale record meanwhile only makes the delete a no-op).
    const previous = claim.staleExpiresAtMs === undefined ? undefined : { expiresAtMs: claim.staleExpiresAtMs };
    return putWithExpiry(idempotency, idempotencyByExpiry, id, record, previous);
  }

  /** The response of the request under the key is recorded (synced): it is no longer in progress here. */
  completed(merchantId: string, key: string): void {
    this.running.delete(`${merchantId}${SEP}${key}`);
  }

  /** Forgets a started request whose outcome must not be replayed (server error, rate limit). */
  abandon(merchantId: string, key: string): void {
    this.running.delete(`${merchantId}${SEP}${key}`);
  }

  prune(nowMs: number): Promise<number> {
    return pruneExpired(this.ctx, this.ctx.spaces.idempotency, this.ctx.spaces.idempotencyByExpiry, nowMs);
  }
}
