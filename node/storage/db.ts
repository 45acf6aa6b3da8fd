/**
 * The node's LevelDB store: one classic-level database, one sublevel per keyspace (keyspaces.ts),
 * JSON values, typed repositories on top (operations.ts, payments.ts). Every write that must survive a
 * crash is one synced batch; read-modify-write sections run one at a time so that index moves never
 * interleave.
 */
import { createHash } from "node:crypto";
import { mkdir } from "node:fs/promises";

import { ClassicLevel } from "classic-level";

import { SettlenetError } from "../errors.js";
import type { IndexBatch, Storage } from "../services.js";
import { KEYSPACES, type Keyspace } from "./keyspaces.js";
import { LevelOperationRepository, operationPatchWrites } from "./operations.js";
import { LevelPaymentRepository, paymentRecordWrites } from "./payments.js";

const CURSOR_META = "indexer.cursor";

function openSublevel(db: ClassicLevel<string, unknown>, name: Keyspace) {
  return db.sublevel<string, unknown>(name, { keyEncoding: "utf8", valueEncoding: "json" });
}

/** One keyspace: string keys, JSON values. */
export type Sublevel = ReturnType<typeof openSublevel>;

/** One entry of an atomic multi-keyspace batch. */
export type WriteOp =
  | { type: "put"; sublevel: Sublevel; key: string; value: unknown }
  | { type: "del"; sublevel: Sublevel; key: string };

/** What repositories get from the database: keyspaces, guarded reads/writes and the synced batch. */
export interface StorageContext {
  readonly spaces: Readonly<Record<Keyspace, Sublevel>>;
  /** Runs a read; a closed or failing database surfaces as a coded error. */
  read<T>(fn: () => Promise<T>): Promise<T>;
  /** Runs a read-modify-write section exclusively (queued behind the other writes). */
  write<T>(fn: () => Promise<T>): Promise<T>;
  /** Commits writes across keyspaces in one synced LevelDB batch (call inside `write`). */
  commit(ops: WriteOp[]): Promise<void>;
}

/** The Storage interface plus what backup/restore checks need. */
export interface NodeStorage extends Storage {
  /** sha256 over every key and value, keyspace by keyspace in key order (one consistent snapshot). */
  checksum(): Promise<string>;
}

function levelCode(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === "string" ? code : undefined;
}

/** Turns abstract-level errors into coded Settlenet errors (SettlenetErrors pass through). */
function storageError(error: unknown): SettlenetError {
  if (error instanceof SettlenetError) return error;
  const code = levelCode(error);
  if (code === "LEVEL_DATABASE_NOT_OPEN" || code === "LEVEL_ITERATOR_NOT_OPEN") {
    return new SettlenetError("STORAGE_CLOSED", "the node database is closed", {}, { cause: error });
  }
  if (code === "LEVEL_DECODE_ERROR") {
    return new SettlenetError("STORAGE_CORRUPT", "a stored value could not be decoded", {}, { cause: error });
  }
  return new SettlenetError("STORAGE_IO_ERROR", "the node database failed", { levelCode: code }, { cause: error });
}

/** Opens (creating if needed) the node database in `dir`. */
export async function openStorage(dir: string): Promise<NodeStorage> {
  await mkdir(dir, { recursive: true });
  const db = new ClassicLevel<string, unknown>(dir, { keyEncoding: "utf8", valueEncoding: "json" });
  try {
    await db.open();
  } catch (error) {
    const locked = levelCode((error as { cause?: unknown }).cause) === "LEVEL_LOCKED";
    throw new SettlenetError(
      locked ? "STORAGE_LOCKED" : "STORAGE_OPEN_FAILED",
      locked ? "the node database is in use by another process" : "the node database could not be opened",
      { dir },
      { cause: error },
    );
  }

  const spaces = Object.fromEntries(KEYSPACES.map((name) => [name, openSublevel(db, name)])) as Record<Keyspace, Sublevel>;
  let closed = false;
  // Tail of the write queue: read-modify-write sections run strictly one after another.
  let tail: Promise<unknown> = Promise.resolve();

  const closedError = () => new SettlenetError("STORAGE_CLOSED", "the node database is closed");
  const ctx: StorageContext = {
    spaces,
    async read(fn) {
      if (closed) throw closedError();
      try {
        return await fn();
      } catch (error) {
        throw storageError(error);
      }
    },
    write(fn) {
      if (closed) return Promise.reject(closedError());
      const run = tail.then(fn, fn).catch((error: unknown) => {
        throw storageError(error);
      });
      tail = run.catch(() => undefined);
      return run;
    },
    async commit(ops) {
      if (ops.length === 0) return;
      // The sublevel property prefixes each key, so one batch spans every keyspace atomically.
      await db.batch(ops, { sync: true });
    },
  };

  const operations = new LevelOperationRepository(ctx);
  const payments = new LevelPaymentRepository(ctx);

  return {
    operations,
    payments,

    async getCursor() {
      const value = await ctx.read(() => spaces.meta.get(CURSOR_META));
      return typeof value === "number" ? value : undefined;
    },

    applyIndexBatch(batch: IndexBatch) {
      return ctx.write(async () => {
        const writes: WriteOp[] = [];
        const records = new Map(batch.payments.map((record) => [record.paymentId.toLowerCase(), record]));
        const existing = await spaces.payments.getMany([...records.keys()]);
        [...records.values()].forEach((record, i) => writes.push(...paymentRecordWrites(spaces, record, existing[i] !== undefined)));

        const changes = new Map(batch.operations.map((change) => [change.id.toLowerCase(), change]));
        const stored = await operations.getMany([...changes.keys()]);
        const now = Date.now();
        for (const current of stored) {
          if (!current) continue; // the indexer only reports stored operations; nothing to move otherwise
          const change = changes.get(current.id.toLowerCase());
          if (!change) continue;
          const { status, execution, error } = change;
          const patch = { status, ...(execution ? { execution } : {}), ...(error ? { error } : {}) };
          writes.push(...operationPatchWrites(spaces, current, patch, now).writes);
        }
        writes.push({ type: "put", sublevel: spaces.meta, key: CURSOR_META, value: batch.cursor });
        await ctx.commit(writes);
      });
    },

    getMeta<T>(name: string) {
      return ctx.read(async () => (await spaces.meta.get(name)) as T | undefined);
    },

    putMeta(name: string, value: unknown) {
      return ctx.write(() => ctx.commit([{ type: "put", sublevel: spaces.meta, key: name, value }]));
    },

    checksum() {
      return ctx.read(async () => {
        const hash = createHash("sha256");
        const snapshot = db.snapshot();
        try {
          for (const name of KEYSPACES) {
            hash.update(`${name}\n`);
            const entries = spaces[name].iterator<string, string>({ snapshot, keyEncoding: "utf8", valueEncoding: "utf8" });
            for await (const [key, value] of entries) {
              // Length prefixes keep (key, value) boundaries unambiguous.
              hash.update(`${Buffer.byteLength(key)}:${key}${Buffer.byteLength(value)}:${value}\n`);
            }
          }
        } finally {
          await snapshot.close();
        }
        return hash.digest("hex");
      });
    },

    async close() {
      if (closed) return;
      closed = true;
      // Let queued writes finish before the database goes away.
      await tail;
      await db.close();
    },
  };
}
