/**
 * The change feed's log (`changes` keyspace): every operation status change and payment state change,
 * numbered in the order the write sections that made them ran. Writers add a change's record to the
 * same synced batch as the change (`append`, inside the section), so the feed holds a change exactly
 * when the database does. Sections run one at a time and their batches are applied in order, and a
 * range read waits for every pending batch, so a reader never sees a number before the ones below it.
 *
 * The feed is derived data: it is neither backed up nor part of the checksum, and its epoch (a random
 * id written when the log is created) makes a cursor of another database's feed, for instance after a
 * restore, recognisably foreign. A bounded number of changes is kept (`prune`).
 */
import { randomBytes } from "node:crypto";

import type { ChangeDraft, Change } from "../../core/api/changes.js";
import { SettlenetError } from "../../core/errors.js";
import { pad, type StorageContext, type WriteOp } from "./keyspaces.js";

const SEQ_WIDTH = 16;
/** Every sequence key sorts within [FIRST_KEY, AFTER_LAST_KEY). */
const FIRST_KEY = pad(0, SEQ_WIDTH);
const AFTER_LAST_KEY = ":";
/** Sorts after every sequence key. */
const EPOCH_KEY = "~epoch";
const PRUNE_CHUNK = 10_000;

const seqKey = (seq: number) => pad(seq, SEQ_WIDTH);

/** A parsed cursor: this feed's epoch and the last sequence number seen. */
export interface FeedPosition {
  epoch: string;
  seq: number;
}

/** One page of the feed. */
export interface FeedPage {
  changes: Change[];
  /** The sequence number to continue after. */
  next: number;
  /** The newest sequence number given out so far. */
  latest: number;
}

/** The change log of one node database; see the module comment. */
export class LevelChangeLog {
  private waiters = new Set<{ after: number; resolve: () => void }>();
  /** The oldest sequence number kept, once read (every page with a cursor checks it; only prune changes it). */
  private oldestKept: number | undefined;
  /** Bumped by each prune deletion, so a read of the oldest that overlapped one is not kept. */
  private prunes = 0;
  private readonly listeners: ((drafts: readonly ChangeDraft[]) => void)[] = [];

  private constructor(
    private readonly ctx: StorageContext,
    /** This feed's id. */
    readonly epoch: string,
    /** The next sequence number to give out. */
    private nextSeq: number,
  ) {}

  /** Opens the log of the database behind `ctx`, creating its epoch on first use. */
  static async open(ctx: StorageContext): Promise<LevelChangeLog> {
    const space = ctx.spaces.changes;
    let epoch = (await ctx.read(() => space.get(EPOCH_KEY))) as string | undefined;
    if (epoch === undefined) {
      const fresh = randomBytes(8).toString("hex");
      await ctx.write(() => ctx.commit([{ type: "put", sublevel: space, key: EPOCH_KEY, value: fresh }]));
      epoch = fresh;
    }
    const [last] = await ctx.read(() => space.keys({ gte: FIRST_KEY, lt: AFTER_LAST_KEY, reverse: true, limit: 1 }).all());
    return new LevelChangeLog(ctx, epoch, last === undefined ? 1 : Number(last) + 1);
  }

  /** The newest sequence number given out (0 before the first change). */
  get latest(): number {
    return this.nextSeq - 1;
  }

  /** The cursor string of sequence number `seq`. */
  cursor(seq: number): string {
    return `${this.epoch}-${seq}`;
  }

  /** The position a cursor string names (FEED_CURSOR_EXPIRED if it is not one of this feed's). */
  position(cursor: string): FeedPosition {
    const [epoch, seq] = cursor.split("-");
    const position = { epoch: epoch ?? "", seq: Number(seq) };
    if (position.epoch !== this.epoch || !Number.isSafeInteger(position.seq) || position.seq < 0) throw this.expired(cursor, "the cursor belongs to another feed (the node's database was restored or replaced)");
    return position;
  }

  /**
   * The writes that record `drafts` as the next changes, numbered in order. Call inside a write
   * section and commit them with the changes they record.
   */
  append(drafts: readonly ChangeDraft[], atMs: number): WriteOp[] {
    for (const listener of this.listeners) listener(drafts);
    const space = this.ctx.spaces.changes;
    return drafts.map((draft) => {
      const seq = this.nextSeq++;
      const change = { seq, atMs, ...draft } as Change;
      return { type: "put", sublevel: space, key: seqKey(seq), value: change };
    });
  }

  /**
   * Calls `listener` with the changes of every write section as it records them, before its batch is
   * durable (the batch may still fail): for in-memory views that may run ahead of storage, not behind.
   */
  onAppend(listener: (drafts: readonly ChangeDraft[]) => void): void {
    this.listeners.push(listener);
  }

  /** Wakes the readers waiting for a change (call once a write section is durable). */
  wake(): void {
    if (this.waiters.size === 0) return;
    for (const waiter of [...this.waiters]) {
      if (this.latest > waiter.after) {
        this.waiters.delete(waiter);
        waiter.resolve();
      }
    }
  }

  /** Resolves once a change after `after` is recorded, or after `ms` (or at once when `signal` aborts). */
  waitAfter(after: number, ms: number, signal?: AbortSignal): Promise<void> {
    if (this.latest > after || ms <= 0 || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const waiter = {
        after,
        resolve: () => {
          clearTimeout(timer);
          signal?.removeEventListener("abort", waiter.resolve);
          this.waiters.delete(waiter);
          resolve();
        },
      };
      const timer = setTimeout(waiter.resolve, ms);
      signal?.addEventListener("abort", waiter.resolve, { once: true });
      this.waiters.add(waiter);
    });
  }

  /** Releases every waiting reader (the database is closing). */
  releaseWaiters(): void {
    for (const waiter of [...this.waiters]) waiter.resolve();
  }

  /**
   * Up to `limit` changes after `after` (undefined: from the oldest kept). FEED_CURSOR_EXPIRED when
   * changes after `after` were pruned, or `after` is beyond the newest change.
   */
  page(after: FeedPosition | undefined, limit: number): Promise<FeedPage> {
    return this.ctx.read(async () => {
      const space = this.ctx.spaces.changes;
      const latest = this.latest;
      if (after && after.seq > latest) throw this.expired(this.cursor(after.seq), "the cursor is beyond the newest change (the node's database was rewound)");
      if (after) {
        const oldest = await this.oldest();
        if (oldest !== undefined && after.seq + 1 < oldest) throw this.expired(this.cursor(after.seq), "the changes after the cursor are no longer kept");
      }
      const entries = (await space.values({ gte: seqKey(after ? after.seq + 1 : 0), lt: AFTER_LAST_KEY, limit }).all()) as Change[];
      const last = entries.at(-1);
      return { changes: entries, next: last?.seq ?? after?.seq ?? latest, latest: Math.max(latest, last?.seq ?? 0) };
    });
  }

  /** Deletes the oldest changes so that at most `keep` remain; returns how many it deleted. */
  async prune(keep: number): Promise<number> {
    if (!Number.isInteger(keep) || keep < 1) throw new SettlenetError("INVALID_ARGUMENT", "keep must be a positive integer", { keep });
    const space = this.ctx.spaces.changes;
    const below = seqKey(Math.max(0, this.latest - keep + 1));
    let deleted = 0;
    for (;;) {
      const keys = await this.ctx.read(() => space.keys({ gte: FIRST_KEY, lt: below, limit: PRUNE_CHUNK }).all());
      if (keys.length === 0) return deleted;
      await this.ctx.write(() => this.ctx.commit(keys.map((key) => ({ type: "del" as const, sublevel: space, key }))));
      this.prunes += 1;
      this.oldestKept = undefined;
      deleted += keys.length;
    }
  }

  /** The oldest sequence number kept, if any. */
  private async oldest(): Promise<number | undefined> {
    if (this.oldestKept !== undefined) return this.oldestKept;
    const prunes = this.prunes;
    const [first] = await this.ctx.spaces.changes.keys({ gte: FIRST_KEY, lt: AFTER_LAST_KEY, limit: 1 }).all();
    const oldest = first === undefined ? undefined : Number(first);
    if (prunes === this.prunes) this.oldestKept = oldest;
    return oldest;
  }

  private expired(cursor: string, why: string): SettlenetError {
    return new SettlenetError("FEED_CURSOR_EXPIRED", why, { cursor, latest: this.cursor(this.latest) });
  }
}
