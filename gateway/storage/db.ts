/**
 * The gateway's LevelDB store: one classic-level database, one sublevel per keyspace (keyspaces.ts),
 * JSON values, typed repositories on top. Every state change is one synced batch; read-modify-write
 * sections (uniqueness checks, nonce claims, index moves) run one at a time.
 */
import { AuditLog } from "../../core/audit/log.js";
import { SettlenetError } from "../../core/errors.js";
import { openLevelStore } from "../../core/storage/level.js";
import { KEYSPACES, type StorageContext, type Sublevel } from "./keyspaces.js";
import { LevelApiKeyRepository, LevelMerchantRepository } from "./merchants.js";
import type { OrderRecord } from "../domain/records.js";
import type { WriteOp } from "./keyspaces.js";
import { LevelOrderRepository, orderIndexWrites } from "./orders.js";
import { LevelMoneyRepository } from "./money.js";
import { LevelReconcileLog } from "./reconcile.js";
import { LevelIdempotencyStore, LevelNonceStore } from "./requests.js";
import { LevelUserRepository } from "./users.js";
import { LevelWebhookRepository } from "./webhooks.js";

/** Everything the gateway persists, behind repositories. */
export interface GatewayStorage {
  merchants: LevelMerchantRepository;
  apiKeys: LevelApiKeyRepository;
  nonces: LevelNonceStore;
  idempotency: LevelIdempotencyStore;
  orders: LevelOrderRepository;
  money: LevelMoneyRepository;
  /** Events, the webhook outbox, endpoints and deliveries. */
  webhooks: LevelWebhookRepository;
  /** The reconciler's repair log. */
  reconcile: LevelReconcileLog;
  /** Dashboard users, sessions and invitations. */
  users: LevelUserRepository;
  /** The hash-chained log of admin actions (each lands in the batch of the change it made). */
  audit: AuditLog;
  getMeta<T>(name: string): Promise<T | undefined>;
  putMeta(name: string, value: unknown): Promise<void>;
  /** The write of a meta value, to join another change's batch (the feed cursor with the changes it applied). */
  metaWrite(name: string, value: unknown): WriteOp;
  /** How much storage work the gateway did since it opened the database (counts only; served as metrics). */
  readonly work: StorageWork;
  close(): Promise<void>;
}

/** Storage work since the database was opened. */
export interface StorageWork {
  /** Read-modify-write sections (each answers after a synced group commit holding its writes). */
  writeSections: number;
  /** Writes (put or delete of one key) handed to the group commit. */
  writtenKeys: number;
  /** The same writes by keyspace (as the group commit counts them). */
  readonly writtenByKeyspace: Map<string, number>;
  /** The length of their keys and JSON values by keyspace (bytes for ASCII text). */
  readonly writtenBytesByKeyspace: Map<string, number>;
  /** Point reads (get, has), multi-key reads (getMany: one per call) and range scans (iterators). */
  pointReads: number;
  multiReads: number;
  rangeReads: number;
}

/**
 * `ctx` with its work counted: each keyspace's read methods count the reads repositories make
 * through them (an increment each; the database work itself is unchanged).
 */
function countedContext(ctx: StorageContext, work: StorageWork): StorageContext {
  // The group commit knows keyspaces by identity: writes naming a counted keyspace go down as the keyspace itself.
  const originals = new Map<Sublevel, Sublevel>();
  const spaces = Object.fromEntries(
    Object.entries<Sublevel>(ctx.spaces).map(([name, space]) => {
      // The keyspace with its read methods counted as own properties (everything else from the keyspace itself).
      const counted = Object.create(space) as Sublevel & Record<string, unknown>;
      const count = (method: string, tally: () => void) => {
        const call = (space as unknown as Record<string, (...args: unknown[]) => unknown>)[method];
        if (typeof call !== "function") return;
        counted[method] = (...args: unknown[]) => {
          tally();
          return call.apply(space, args);
        };
      };
      for (const method of ["get", "has"]) count(method, () => (work.pointReads += 1));
      for (const method of ["getMany", "hasMany"]) count(method, () => (work.multiReads += 1));
      for (const method of ["keys", "values", "iterator"]) count(method, () => (work.rangeReads += 1));
      originals.set(counted, space);
      return [name, counted];
    }),
  ) as unknown as StorageContext["spaces"];
  return {
    spaces,
    read: (fn) => ctx.read(fn),
    write(fn) {
      work.writeSections += 1;
      return ctx.write(fn);
    },
    commit(ops) {
      work.writtenKeys += ops.length;
      for (const op of ops) op.sublevel = originals.get(op.sublevel) ?? op.sublevel;
      return ctx.commit(ops);
    },
  };
}

/** 2: the reconciler's and the keeper's order indexes (ordersCheck, ordersRelease). */
const SCHEMA_VERSION = 2;

/** Opens (creating if needed) the gateway database in `dir`. */
export async function openGatewayStorage(dir: string): Promise<GatewayStorage> {
  const store = await openLevelStore(dir, KEYSPACES, {
    label: "gateway",
    lockedHint: "(stop the gateway for admin commands)",
  });
  const { db, close } = store;
  const work: StorageWork = {
    writeSections: 0,
    writtenKeys: 0,
    // The group commit counts every write under its keyspace already.
    get writtenByKeyspace() {
      return new Map(Object.entries(store.syncStats().byKeyspace));
    },
    get writtenBytesByKeyspace() {
      return new Map(Object.entries(store.syncStats().bytesByKeyspace));
    },
    pointReads: 0,
    multiReads: 0,
    rangeReads: 0,
  };
  const ctx = countedContext(store.ctx, work);
  const spaces = ctx.spaces;

  const version = await ctx.read(() => spaces.meta.get("schema.version"));
  if (version === undefined) {
    await ctx.write(() => ctx.commit([{ type: "put", sublevel: spaces.meta, key: "schema.version", value: SCHEMA_VERSION }]));
  } else if (version === 1) {
    // Version 1 had no ordersCheck and ordersRelease: index every order once, in one batch.
    await ctx.write(async () => {
      const writes: WriteOp[] = [];
      for await (const value of spaces.orders.values()) writes.push(...orderIndexWrites(spaces, value as OrderRecord));
      writes.push({ type: "put", sublevel: spaces.meta, key: "schema.version", value: SCHEMA_VERSION });
      await ctx.commit(writes);
    });
  } else if (version !== SCHEMA_VERSION) {
    await db.close();
    throw new SettlenetError("STORAGE_VERSION_UNSUPPORTED", `gateway database schema ${String(version)} is not ${SCHEMA_VERSION}`, { dir });
  }

  const audit = new AuditLog(ctx, spaces.audit);
  return {
    merchants: new LevelMerchantRepository(ctx, audit),
    apiKeys: new LevelApiKeyRepository(ctx, audit),
    nonces: new LevelNonceStore(ctx),
    idempotency: new LevelIdempotencyStore(ctx),
    orders: new LevelOrderRepository(ctx),
    money: new LevelMoneyRepository(ctx),
    webhooks: new LevelWebhookRepository(ctx),
    reconcile: new LevelReconcileLog(ctx),
    users: new LevelUserRepository(ctx, audit),
    audit,
    getMeta<T>(name: string) {
      return ctx.read(async () => (await spaces.meta.get(name)) as T | undefined);
    },
    putMeta(name: string, value: unknown) {
      return ctx.write(() => ctx.commit([{ type: "put", sublevel: spaces.meta, key: name, value }]));
    },
    metaWrite(name: string, value: unknown): WriteOp {
      return { type: "put", sublevel: spaces.meta, key: name, value };
    },
    work,
    close,
  };
}
