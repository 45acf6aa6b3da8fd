/**
 * What every Settlenet LevelDB store shares (node, gateway): one classic-level database with a sublevel
 * per keyspace, JSON values, coded errors, a queue that runs read-modify-write sections one at a time,
 * and group commit of their synced batches.
 *
 * Group commit: a section's `commit` does not sync on its own. Its writes join the open group (and an
 * in-memory overlay, so the next sections read them at once); the group is written as ONE synced
 * LevelDB batch while the next sections run, and a section's caller gets its result only after the
 * group holding everything the section wrote or could have read is synced. So a write is still
 * acknowledged only after an fsync of a batch containing it, but concurrent writers share the fsync
 * instead of queueing one fsync each. Reads outside sections never answer from unsynced writes: a
 * point read that finds one waits for its sync, a range read first waits for every pending write.
 */
import { mkdir } from "node:fs/promises";

import { ClassicLevel } from "classic-level";

import { SettlenetError } from "../errors.js";
import { failpoint } from "../failpoints.js";

export type Database = ClassicLevel<string, unknown>;

function openSublevel(db: Database, name: string) {
  return db.sublevel<string, unknown>(name, {
    keyEncoding: "utf8",
    valueEncoding: "json",
  });
}

/** One keyspace: string keys, JSON values. */
export type Sublevel = ReturnType<typeof openSublevel>;

/** One entry of an atomic multi-keyspace batch. */
export type WriteOp = { type: "put"; sublevel: Sublevel; key: string; value: unknown } | { type: "del"; sublevel: Sublevel; key: string };

/** What repositories get from the database: keyspaces, guarded reads/writes and the synced batch. */
export interface StorageContext<K extends string> {
  readonly spaces: Readonly<Record<K, Sublevel>>;
  /** Runs a read; a closed or failing database surfaces as a coded error. */
  read<T>(fn: () => Promise<T>): Promise<T>;
  /**
   * Runs a read-modify-write section exclusively (queued behind the other writes); resolves once
   * everything it wrote (and every pending write it could have read) is synced.
   */
  write<T>(fn: () => Promise<T>): Promise<T>;
  /**
   * Adds writes across keyspaces to the open group, applied atomically in one synced LevelDB batch
   * (call inside `write`: the section's result waits for the sync).
   */
  commit(ops: WriteOp[]): Promise<void>;
}

export interface LevelStore<K extends string> {
  db: Database;
  /** The keyspaces as repositories must see them (reads include pending group writes). */
  spaces: Record<K, Sublevel>;
  /** The plain sublevels, for bulk writes that bypass the write queue (restore into a fresh database). */
  raw: Record<K, Sublevel>;
  ctx: StorageContext<K>;
  /** Synced LevelDB batches written so far and the ops in them (group sizes, and writes by keyspace, as metrics). */
  syncStats(): SyncStats;
  /** Lets queued writes finish and their group sync, then closes the database (idempotent). */
  close(): Promise<void>;
}

export interface SyncStats {
  batches: number;
  ops: number;
  /** The writes (puts and deletes) by keyspace; their sum is `ops` once every write is in a batch. */
  byKeyspace: Record<string, number>;
  /**
   * The length of the keys and JSON values written, by keyspace (string length: bytes for ASCII text,
   * which keys and most values are; counted without encoding anything again).
   */
  bytesByKeyspace: Record<string, number>;
}

/** The `code` of an abstract-level error, if any. */
export function levelCode(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === "string" ? code : undefined;
}

/** Turns abstract-level errors into coded Settlenet errors (SettlenetErrors pass through). */
export function storageError(error: unknown, label: string): SettlenetError {
  if (error instanceof SettlenetError) return error;
  const code = levelCode(error);
  if (code === "LEVEL_DATABASE_NOT_OPEN" || code === "LEVEL_ITERATOR_NOT_OPEN") {
    return new SettlenetError("STORAGE_CLOSED", `the ${label} database is closed`, {}, { cause: error });
  }
  if (code === "LEVEL_DECODE_ERROR") {
    return new SettlenetError("STORAGE_CORRUPT", "a stored value could not be decoded", {}, { cause: error });
  }
  return new SettlenetError("STORAGE_IO_ERROR", `the ${label} database failed`, { levelCode: code }, { cause: error });
}

/** A pending write as the overlay holds it: the JSON text (undefined: deleted) and its group. */
interface Pending {
  json: string | undefined;
  group: number;
}

/**
 * A batch op of the root database with the value already encoded (later mutation of the caller's
 * object cannot leak in) and the key already under its keyspace's prefix: the same bytes a sublevel
 * writes, without a sublevel's per-op key transcoding (a sublevel encodes each key to bytes on the
 * way down; the root takes the string as it is).
 */
type EncodedOp = { type: "put"; key: string; value: string; valueEncoding: "utf8" } | { type: "del"; key: string };

/** A keyspace of the database: its name and the plain sublevel. */
interface KnownSpace {
  name: string;
  raw: Sublevel;
}

interface Waiter {
  group: number;
  resolve: () => void;
  reject: (error: unknown) => void;
}

type ReadOptions = { valueEncoding?: unknown; snapshot?: unknown } | undefined;

function decode(json: string, options: ReadOptions): unknown {
  return options?.valueEncoding === "utf8" ? json : (JSON.parse(json) as unknown);
}

/**
 * The group committer of one database: the open group collects section writes; one group at a time
 * is written as a synced batch; `overlay` holds every write not yet applied to LevelDB.
 */
class GroupCommitter {
  /** Number of the open group (the one collecting writes); groups below it are sealed. */
  private open = 1;
  private ops: EncodedOp[] = [];
  /** Keyspace overlay and key of each op in `ops` (to clear the overlay once applied). */
  private targets: { space: Map<string, Pending>; key: string }[] = [];
  /** Every group ≤ this is settled (synced, or failed). */
  private settled = 0;
  private flushing = false;
  private waiters: Waiter[] = [];
  /** Sublevel name → key → pending write. */
  readonly overlay = new Map<string, Map<string, Pending>>();
  /** Bumped whenever a read answers from the overlay (so ctx.read knows to wait for the sync). */
  overlayReads = 0;
  /** Set when a group failed while a section was running: its further commits must not go through. */
  sectionBroken = false;
  readonly stats: Omit<SyncStats, "byKeyspace" | "bytesByKeyspace"> = { batches: 0, ops: 0 };
  /** Writes handed to the group commit, by keyspace name. */
  readonly byKeyspace = new Map<string, number>();
  /** Their keys' and values' length, by keyspace name. */
  readonly bytesByKeyspace = new Map<string, number>();

  constructor(
    private readonly db: Database,
    private readonly names: Map<Sublevel, KnownSpace>,
    private readonly label: string,
  ) {}

  /** The newest group with writes not yet settled (0 when none). */
  get pendingGroup(): number {
    if (this.ops.length > 0) return this.open;
    return this.open - 1 > this.settled ? this.open - 1 : 0;
  }

  add(writes: WriteOp[]): void {
    for (const op of writes) {
      const known = this.names.get(op.sublevel);
      if (!known) throw new SettlenetError("INTERNAL", "a write names a keyspace of another database", { key: op.key });
      this.byKeyspace.set(known.name, (this.byKeyspace.get(known.name) ?? 0) + 1);
      let space = this.overlay.get(known.name);
      if (!space) this.overlay.set(known.name, (space = new Map()));
      const key = `${known.raw.prefix}${op.key}`;
      if (op.type === "put") {
        const json = JSON.stringify(op.value);
        this.bytesByKeyspace.set(known.name, (this.bytesByKeyspace.get(known.name) ?? 0) + key.length + json.length);
        this.ops.push({ type: "put", key, value: json, valueEncoding: "utf8" });
        space.set(op.key, { json, group: this.open });
      } else {
        this.bytesByKeyspace.set(known.name, (this.bytesByKeyspace.get(known.name) ?? 0) + key.length);
        this.ops.push({ type: "del", key });
        space.set(op.key, { json: undefined, group: this.open });
      }
      this.targets.push({ space, key: op.key });
    }
  }

  /** Resolves once group `group` (and every group before it) is settled; rejects if it failed. */
  durable(group: number): Promise<void> {
    if (group <= this.settled) return Promise.resolve();
    const promise = new Promise<void>((resolve, reject) => this.waiters.push({ group, resolve, reject }));
    this.flush();
    return promise;
  }

  /** Waits for every write pending now. */
  drain(): Promise<void> {
    return this.durable(this.pendingGroup);
  }

  /** Starts writing the open group unless a write is already under way (it loops on when done). */
  flush(): void {
    if (this.flushing || this.ops.length === 0) return;
    this.flushing = true;
    const group = this.open;
    const ops = this.ops;
    const targets = this.targets;
    this.open += 1;
    this.ops = [];
    this.targets = [];
    this.stats.batches += 1;
    this.stats.ops += ops.length;
    const written = this.db.batch(ops as never, { sync: true });
    failpoint("mid-group-commit");
    written.then(
      () => {
        // Applied: the database now answers these keys (unless a later group rewrote them).
        for (const { space, key } of targets) if (space.get(key)?.group === group) space.delete(key);
        this.settle(group);
      },
      (error: unknown) => {
        // Later groups may build on this one's writes: they fail with it, and the overlay is dropped.
        const failed = this.open - 1 + (this.ops.length > 0 ? 1 : 0);
        this.ops = [];
        this.targets = [];
        this.open = failed + 1;
        this.overlay.clear();
        this.sectionBroken = true;
        this.settle(failed, storageError(error, this.label));
      },
    );
  }

  private settle(group: number, error?: SettlenetError): void {
    this.settled = Math.max(this.settled, group);
    this.flushing = false;
    const done = this.waiters.filter((w) => w.group <= this.settled);
    this.waiters = this.waiters.filter((w) => w.group > this.settled);
    for (const w of done) {
      if (error) w.reject(error);
      else w.resolve();
    }
    this.flush();
  }

  lookup(sublevel: Sublevel, key: string): Pending | undefined {
    const name = this.names.get(sublevel)?.name;
    if (name === undefined) return undefined;
    return this.overlay.get(name)?.get(key);
  }

  get empty(): boolean {
    return this.pendingGroup === 0;
  }
}

/** The parts of an abstract-level iterator that repositories use. */
interface LevelIterator<T> extends AsyncIterable<T> {
  next(): Promise<T | undefined>;
  nextv(size: number): Promise<T[]>;
  all(): Promise<T[]>;
  close(): Promise<void>;
}

/**
 * An iterator with abstract-level semantics (`next()` resolves to the entry or undefined, `for await`
 * closes it) that opens the real iterator only once the pending writes are applied.
 */
function deferredIterator<T>(ready: Promise<void>, open: () => LevelIterator<T>): LevelIterator<T> {
  let real: LevelIterator<T> | undefined;
  // The failure surfaces on first use; an iterator never used must not leave an unhandled rejection.
  ready.catch(() => undefined);
  const get = async () => {
    if (!real) {
      await ready;
      real = open();
    }
    return real;
  };
  return {
    async next() {
      return (await get()).next();
    },
    async nextv(size: number) {
      return (await get()).nextv(size);
    },
    async all() {
      return (await get()).all();
    },
    async close() {
      if (real) await real.close();
    },
    async *[Symbol.asyncIterator]() {
      yield* await get();
    },
  };
}

/**
 * Largest getMany answered with synchronous point reads. A getMany through LevelDB's thread pool costs
 * a round trip of about 45 µs of CPU at the concurrency of a request handler, on top of 3–6 µs a key;
 * a getSync costs 3–8 µs a key, so in place is cheaper at every size (`tsx bench/point-reads.ts`). The
 * bound keeps a large read (an indexer catching up) from holding the event loop for more than a few
 * milliseconds.
 */
export const SYNC_GET_MANY = 512;

/** The sublevel as repositories see it: point reads include pending writes, range reads wait for them. */
function overlaid(raw: Sublevel, group: GroupCommitter): Sublevel {
  const bound = new Map<PropertyKey, unknown>();
  /** The value of a write not yet applied; counted, so that `ctx.read` waits for its sync. */
  const pendingValue = (pending: Pending, options: ReadOptions) => {
    group.overlayReads += 1;
    return pending.json === undefined ? undefined : decode(pending.json, options);
  };
  const overrides: Record<string, unknown> = {
    async get(key: string, options?: ReadOptions) {
      if (options?.snapshot) return raw.get(key, options as never);
      const pending = group.lookup(proxy, key);
      // A point read is a memtable/block-cache lookup: done in place, it spares the section queue a
      // thread-pool round trip (and an event-loop turn) per read.
      if (!pending) return raw.status === "open" ? raw.getSync(key, options as never) : raw.get(key, options as never);
      return pendingValue(pending, options);
    },
    async getMany(keys: string[], options?: ReadOptions) {
      if (options?.snapshot) return raw.getMany(keys, options as never);
      if (raw.status === "open" && keys.length <= SYNC_GET_MANY) {
        // Done in place like `get`: a thread-pool round trip costs more CPU than the lookups themselves.
        return keys.map((key) => {
          const pending = group.lookup(proxy, key);
          return pending ? pendingValue(pending, options) : raw.getSync(key, options as never);
        });
      }
      if (group.empty) return raw.getMany(keys, options as never);
      const pending = keys.map((key) => group.lookup(proxy, key));
      const missing = keys.filter((_, i) => pending[i] === undefined);
      const stored = missing.length > 0 ? await raw.getMany(missing, options as never) : [];
      let next = 0;
      return keys.map((_, i) => {
        const p = pending[i];
        return p === undefined ? stored[next++] : pendingValue(p, options);
      });
    },
    async has(key: string, options?: ReadOptions) {
      if (options?.snapshot) return raw.has(key, options as never);
      const pending = group.lookup(proxy, key);
      if (!pending) return raw.status === "open" ? raw.getSync(key, { valueEncoding: "utf8" }) !== undefined : raw.has(key, options as never);
      group.overlayReads += 1;
      return pending.json !== undefined;
    },
    async hasMany(keys: string[], options?: ReadOptions) {
      return Promise.all(keys.map((key) => (overrides["has"] as (k: string, o?: ReadOptions) => Promise<boolean>)(key, options)));
    },
    iterator(options?: ReadOptions) {
      if (options?.snapshot || group.empty) return raw.iterator(options as never);
      return deferredIterator(group.drain(), () => raw.iterator(options as never) as never);
    },
    keys(options?: ReadOptions) {
      if (options?.snapshot || group.empty) return raw.keys(options as never);
      return deferredIterator(group.drain(), () => raw.keys(options as never) as never);
    },
    values(options?: ReadOptions) {
      if (options?.snapshot || group.empty) return raw.values(options as never);
      return deferredIterator(group.drain(), () => raw.values(options as never) as never);
    },
  };
  const proxy: Sublevel = new Proxy(raw, {
    get(target, prop) {
      if (typeof prop === "string" && Object.hasOwn(overrides, prop)) return overrides[prop];
      if (bound.has(prop)) return bound.get(prop);
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== "function") return value;
      const fn = (value as (...args: unknown[]) => unknown).bind(target);
      bound.set(prop, fn);
      return fn;
    },
  });
  return proxy;
}

/**
 * LevelDB's write buffer (memtable) size. With its default, 4 MiB, a node writing a few KB per payment
 * flushed a level-0 file every few seconds, and every fourth flush started a compaction that rewrote
 * all of level 1 (payment and operation ids are random, so each new file overlaps all of it). In
 * 180 s end-to-end runs that background work grew to more CPU than a node's main thread (docs/scaling.md);
 * with 64 MiB the same bytes are compacted in far fewer, larger steps. The memory is taken as it is
 * written (an idle database holds almost none), at most twice this while a full buffer is flushed,
 * and the log replayed at a start after a crash is at most this long.
 */
export const WRITE_BUFFER_BYTES = 64 * 1024 * 1024;

/** Opens (creating if needed) the database in `dir` with one sublevel per keyspace. */
export async function openLevelStore<K extends string>(dir: string, keyspaces: readonly K[], options: { label: string; lockedHint?: string }): Promise<LevelStore<K>> {
  const { label } = options;
  await mkdir(dir, { recursive: true });
  const db: Database = new ClassicLevel<string, unknown>(dir, {
    keyEncoding: "utf8",
    valueEncoding: "json",
    writeBufferSize: WRITE_BUFFER_BYTES,
  });
  try {
    await db.open();
  } catch (error) {
    const locked = levelCode((error as { cause?: unknown }).cause) === "LEVEL_LOCKED";
    throw new SettlenetError(
      locked ? "STORAGE_LOCKED" : "STORAGE_OPEN_FAILED",
      locked ? `the ${label} database is in use by another process${options.lockedHint ? ` ${options.lockedHint}` : ""}` : `the ${label} database could not be opened`,
      { dir },
      { cause: error },
    );
  }
  const raw = Object.fromEntries(keyspaces.map((name) => [name, openSublevel(db, name)])) as Record<K, Sublevel>;
  // Sublevels finish opening after the database: point reads are synchronous, so wait for them here.
  await Promise.all(Object.values<Sublevel>(raw).map((sublevel) => sublevel.open()));
  const names = new Map<Sublevel, KnownSpace>();
  const group = new GroupCommitter(db, names, label);
  const spaces = Object.fromEntries(
    keyspaces.map((name) => {
      const proxy = overlaid(raw[name], group);
      names.set(proxy, { name, raw: raw[name] });
      names.set(raw[name], { name, raw: raw[name] });
      return [name, proxy];
    }),
  ) as Record<K, Sublevel>;
  let closed = false;
  // Tail of the write queue: read-modify-write sections run strictly one after another.
  let tail: Promise<unknown> = Promise.resolve();
  // True while a section runs (sections are exclusive): commits outside one wait for their own sync.
  let inSection = false;
  const closedError = () => new SettlenetError("STORAGE_CLOSED", `the ${label} database is closed`);
  const ctx: StorageContext<K> = {
    spaces,
    async read(fn) {
      if (closed) throw closedError();
      const before = group.overlayReads;
      let result;
      try {
        result = await fn();
      } catch (error) {
        throw storageError(error, label);
      }
      // Something answered from a write whose sync is under way: do not let it out before the sync.
      if (group.overlayReads !== before) await group.drain();
      return result;
    },
    write(fn) {
      if (closed) return Promise.reject(closedError());
      const section = async () => {
        inSection = true;
        group.sectionBroken = false;
        try {
          const value = await fn();
          // A group holding this section's earlier writes failed meanwhile: its outcome is not durable.
          if (group.sectionBroken) throw new SettlenetError("STORAGE_IO_ERROR", `the ${label} database failed to sync this section's writes`, {});
          return { value, until: group.pendingGroup };
        } catch (error) {
          return { error, until: group.pendingGroup };
        } finally {
          inSection = false;
          group.flush();
        }
      };
      const run = tail.then(section, section);
      tail = run;
      return run.then(async (outcome) => {
        // The answer leaves only once everything the section wrote or saw is synced.
        await group.durable(outcome.until).catch((error: unknown) => {
          if (!("error" in outcome)) throw storageError(error, label);
        });
        if ("error" in outcome) throw storageError(outcome.error, label);
        return outcome.value;
      });
    },
    async commit(ops) {
      if (ops.length === 0) return;
      if (inSection && group.sectionBroken) throw new SettlenetError("STORAGE_IO_ERROR", `the ${label} database failed to sync an earlier write of this section`, {});
      // Each op names its sublevel, so one batch spans every keyspace atomically.
      group.add(ops);
      if (!inSection) await group.drain();
    },
  };
  return {
    db,
    spaces,
    raw,
    ctx,
    syncStats: () => ({ ...group.stats, byKeyspace: Object.fromEntries(group.byKeyspace), bytesByKeyspace: Object.fromEntries(group.bytesByKeyspace) }),
    async close() {
      if (closed) return;
      closed = true;
      await tail;
      await group.drain().catch(() => undefined);
      await db.close();
    },
  };
}
