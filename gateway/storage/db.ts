/**
 * The gateway's LevelDB store: one classic-level database, one sublevel per keyspace (keyspaces.ts),
 * JSON values, typed repositories on top. Every state change is one synced batch; read-modify-write
 * sections (uniqueness checks, nonce claims, index moves) run one at a time.
 */
import { mkdir } from "node:fs/promises";

import { ClassicLevel } from "classic-level";

import { SettlenetError } from "../../node/errors.js";
import { KEYSPACES, type Keyspace } from "./keyspaces.js";
import { LevelApiKeyRepository, LevelMerchantRepository } from "./merchants.js";
import { LevelOrderRepository } from "./orders.js";
import { LevelIdempotencyStore, LevelNonceStore } from "./requests.js";

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

/** Everything the gateway persists, behind repositories. */
export interface GatewayStorage {
  merchants: LevelMerchantRepository;
  apiKeys: LevelApiKeyRepository;
  nonces: LevelNonceStore;
  idempotency: LevelIdempotencyStore;
  orders: LevelOrderRepository;
  getMeta<T>(name: string): Promise<T | undefined>;
  putMeta(name: string, value: unknown): Promise<void>;
  close(): Promise<void>;
}

const SCHEMA_VERSION = 1;

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
    return new SettlenetError("STORAGE_CLOSED", "the gateway database is closed", {}, { cause: error });
  }
  if (code === "LEVEL_DECODE_ERROR") return new SettlenetError("STORAGE_CORRUPT", "a stored value could not be decoded", {}, { cause: error });
  return new SettlenetError("STORAGE_IO_ERROR", "the gateway database failed", { levelCode: code }, { cause: error });
}

/** Opens (creating if needed) the gateway database in `dir`. */
export async function openGatewayStorage(dir: string): Promise<GatewayStorage> {
  await mkdir(dir, { recursive: true });
  const db = new ClassicLevel<string, unknown>(dir, { keyEncoding: "utf8", valueEncoding: "json" });
  try {
    await db.open();
  } catch (error) {
    const locked = levelCode((error as { cause?: unknown }).cause) === "LEVEL_LOCKED";
    throw new SettlenetError(
      locked ? "STORAGE_LOCKED" : "STORAGE_OPEN_FAILED",
      locked ? "the gateway database is in use by another process (stop the gateway for admin commands)" : "the gateway database could not be opened",
      { dir },
      { cause: error },
    );
  }

  const spaces = Object.fromEntries(KEYSPACES.map((name) => [name, openSublevel(db, name)])) as Record<Keyspace, Sublevel>;
  let closed = false;
  let tail: Promise<unknown> = Promise.resolve();
  const closedError = () => new SettlenetError("STORAGE_CLOSED", "the gateway database is closed");

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
      // Each op names its sublevel, so one batch spans every keyspace atomically.
      await db.batch(ops, { sync: true });
    },
  };

  const version = await ctx.read(() => spaces.meta.get("schema.version"));
  if (version === undefined) {
    await ctx.write(() => ctx.commit([{ type: "put", sublevel: spaces.meta, key: "schema.version", value: SCHEMA_VERSION }]));
  } else if (version !== SCHEMA_VERSION) {
    await db.close();
    throw new SettlenetError("STORAGE_VERSION_UNSUPPORTED", `gateway database schema ${String(version)} is not ${SCHEMA_VERSION}`, { dir });
  }

  return {
    merchants: new LevelMerchantRepository(ctx),
    apiKeys: new LevelApiKeyRepository(ctx),
    nonces: new LevelNonceStore(ctx),
    idempotency: new LevelIdempotencyStore(ctx),
    orders: new LevelOrderRepository(ctx),
    getMeta<T>(name: string) {
      return ctx.read(async () => (await spaces.meta.get(name)) as T | undefined);
    },
    putMeta(name: string, value: unknown) {
      return ctx.write(() => ctx.commit([{ type: "put", sublevel: spaces.meta, key: name, value }]));
    },
    async close() {
      if (closed) return;
      closed = true;
      await tail;
      await db.close();
    },
  };
}
