/**
 * What every Settlenet LevelDB store shares (node, gateway): one classic-level database with a sublevel
 * per keyspace, JSON values, coded errors, a queue that runs read-modify-write sections one at a time,
 * and one synced batch per state change.
 */
import { mkdir } from "node:fs/promises";

import { ClassicLevel } from "classic-level";

import { SettlenetError } from "../errors.js";

export type Database = ClassicLevel<string, unknown>;

function openSublevel(db: Database, name: string) {
  return db.sublevel<string, unknown>(name, { keyEncoding: "utf8", valueEncoding: "json" });
}

/** One keyspace: string keys, JSON values. */
export type Sublevel = ReturnType<typeof openSublevel>;

/** One entry of an atomic multi-keyspace batch. */
export type WriteOp =
  | { type: "put"; sublevel: Sublevel; key: string; value: unknown }
  | { type: "del"; sublevel: Sublevel; key: string };

/** What repositories get from the database: keyspaces, guarded reads/writes and the synced batch. */
export interface StorageContext<K extends string> {
  readonly spaces: Readonly<Record<K, Sublevel>>;
  /** Runs a read; a closed or failing database surfaces as a coded error. */
  read<T>(fn: () => Promise<T>): Promise<T>;
  /** Runs a read-modify-write section exclusively (queued behind the other writes). */
  write<T>(fn: () => Promise<T>): Promise<T>;
  /** Commits writes across keyspaces in one synced LevelDB batch (call inside `write`). */
  commit(ops: WriteOp[]): Promise<void>;
}

export interface LevelStore<K extends string> {
  db: Database;
  spaces: Record<K, Sublevel>;
  ctx: StorageContext<K>;
  /** Lets queued writes finish, then closes the database (idempotent). */
  close(): Promise<void>;
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

/** Opens (creating if needed) the database in `dir` with one sublevel per keyspace. */
export async function openLevelStore<K extends string>(
  dir: string,
  keyspaces: readonly K[],
  options: { label: string; lockedHint?: string },
): Promise<LevelStore<K>> {
  const { label } = options;
  await mkdir(dir, { recursive: true });
  const db: Database = new ClassicLevel<string, unknown>(dir, { keyEncoding: "utf8", valueEncoding: "json" });
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
  const spaces = Object.fromEntries(keyspaces.map((name) => [name, openSublevel(db, name)])) as Record<K, Sublevel>;
  let closed = false;
  // Tail of the write queue: read-modify-write sections run strictly one after another.
  let tail: Promise<unknown> = Promise.resolve();
  const closedError = () => new SettlenetError("STORAGE_CLOSED", `the ${label} database is closed`);
  const ctx: StorageContext<K> = {
    spaces,
    async read(fn) {
      if (closed) throw closedError();
      try {
        return await fn();
      } catch (error) {
        throw storageError(error, label);
      }
    },
    write(fn) {
      if (closed) return Promise.reject(closedError());
      const run = tail.then(fn, fn).catch((error: unknown) => {
        throw storageError(error, label);
      });
      tail = run.catch(() => undefined);
      return run;
    },
    async commit(ops) {
      if (ops.length === 0) return;
      // Each op names its sublevel, so one batch spans every keyspace atomically.
      await db.batch(ops, { sync: true });
    },
  };
  return {
    db,
    spaces,
    ctx,
    async close() {
      if (closed) return;
      closed = true;
      await tail;
      await db.close();
    },
  };
}
