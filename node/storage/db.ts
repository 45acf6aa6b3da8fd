/**
 * The node's LevelDB store: one classic-level database, one sublevel per keyspace (keyspaces.ts),
 * JSON values, typed repositories on top (operations.ts, payments.ts). Every write that must survive a
 * crash is one synced batch; read-modify-write sections run one at a time so that index moves never
 * interleave.
 */
import { createHash } from "node:crypto";

import { AuditLog, type AuditAction, type AuditEntry } from "../../core/audit/log.js";
import { signedRiskRules, type SignedRiskRules } from "../../core/protocol/risk-rules.js";
import type { PaymentRecord } from "../../core/records.js";
import type { IndexBatch, Storage } from "../services.js";
import { LevelCycleRepository } from "./cycles.js";
import { LevelDisputeRepository, disputeIndexWrites } from "./disputes.js";
import type { ChangeDraft } from "../../core/api/changes.js";
import { LevelChangeLog } from "./changes.js";
import { FEED_KEYSPACES, KEYSPACES, LOCAL_KEYSPACES, OUTBOX_KEYSPACES, type SnapshotRecord, type StorageContext, type WriteOp } from "./keyspaces.js";
import { openLevelStore, type SyncStats } from "../../core/storage/level.js";
import { LevelOperationRepository, operationPatchWrites } from "./operations.js";
import { LevelPaymentRepository, paymentRecordWrites } from "./payments.js";
import { LevelAlertRepository } from "./alerts.js";
import { LevelBalanceRepository } from "./balances.js";
import { LevelTokenRepository, type TokenRepository } from "./tokens.js";
import { LevelUserRepository } from "./users.js";

const CURSOR_META = "indexer.cursor";
const CREDENTIALS_AUDITED_META = "credentials.audited";
const RISK_RULES_META = "riskRules";

/** A credential as the audit log needs it (node/api/credentials.ts). */
export interface CredentialChange {
  id: string;
  name: string;
  role: string;
  createdBy: string;
  revokedAtMs?: number | undefined;
  revokedBy?: string | undefined;
}

export type { SnapshotRecord, StorageContext, Sublevel, WriteOp } from "./keyspaces.js";

/** One stored indexer step, as `onIndexed` listeners get it: blocks (after, cursor] are indexed. */
export interface IndexedStep {
  payments: readonly PaymentRecord[];
  after: number | undefined;
  cursor: number;
}

/** The Storage interface plus what backup/restore checks need. */
export interface NodeStorage extends Storage {
  /** sha256 over every key and value, keyspace by keyspace in key order (one consistent snapshot). */
  checksum(): Promise<string>;
  /** Settlement cycles: state, records, attestations, alerts. */
  cycles: LevelCycleRepository;
  /** Compliance alerts (node/compliance). */
  alerts: LevelAlertRepository;
  /** The token indexer's state (supply, custodians, reserves, frozen accounts, events). */
  tokens: TokenRepository;
  /** The balance mirror (each account's balance and allowance to the escrow, per settlement token). */
  balances: LevelBalanceRepository;
  /** The change feed (GET /v1/changes). */
  changes: LevelChangeLog;
  /**
   * Calls `listener` after each stored indexer step with the step's payment records, the cursor before
   * it (`after`, undefined for the first step) and after it: a reader of newly indexed payments (the AML
   * monitor) takes them from here instead of reading back what was just written.
   */
  onIndexed(listener: (step: IndexedStep) => void): void;
  /** The dispute queue and the merchants' notes on disputes. */
  disputes: LevelDisputeRepository;
  /** The hash-chained log of admin, compliance and backup actions. */
  audit: AuditLog;
  /** People who sign in to the API, and their sessions (local to this machine, never backed up). */
  users: LevelUserRepository;
  /**
   * Logs what changed in the credentials file since the node last looked (issued, revoked), each
   * entry synced with the note that it was logged, so every change is logged once, even across restarts.
   */
  auditCredentialChanges(credentials: readonly CredentialChange[]): Promise<AuditEntry[]>;
  /** The newest signed risk-rules document this node applies (undefined: node.json's rules). */
  riskRules(): Promise<SignedRiskRules | undefined>;
  /**
   * Stores `signed` with its audit entry in one synced batch if its version is above the stored one;
   * otherwise stores nothing and answers the stored version.
   */
  storeRiskRules(signed: SignedRiskRules, action: AuditAction): Promise<{ stored: true; entry: AuditEntry } | { stored: false; current: number }>;
  /**
   * Every record, keyspace by keyspace in key order, from one LevelDB snapshot taken now (writes go
   * on meanwhile); values as their stored JSON text. `checksum()` hashes exactly this sequence.
   */
  exportSnapshot(onRecord: (record: SnapshotRecord) => Promise<void> | void): Promise<void>;
  /** Synced batches written since the database opened and the writes in them. */
  syncStats(): SyncStats;
}

/** Opens (creating if needed) the node database in `dir`. */
export async function openStorage(dir: string): Promise<NodeStorage> {
  const { db, spaces, ctx: store, close, syncStats } = await openLevelStore(dir, [...KEYSPACES, ...FEED_KEYSPACES, ...OUTBOX_KEYSPACES, ...LOCAL_KEYSPACES], { label: "node" });
  const changes = await LevelChangeLog.open(store);
  // Every write section may have recorded changes: once it is durable, the feed's waiting readers look.
  const ctx: StorageContext = {
    ...store,
    write: (fn) => store.write(fn).finally(() => changes.wake()),
  };

  const audit = new AuditLog(ctx, spaces.audit);
  const operations = new LevelOperationRepository(ctx, changes);
  const payments = new LevelPaymentRepository(ctx);
  const disputes = new LevelDisputeRepository(ctx, audit);
  await disputes.rebuildIfMissing();
  const indexedListeners: ((step: IndexedStep) => void)[] = [];

  return {
    operations,
    payments,
    cycles: new LevelCycleRepository(ctx),
    tokens: new LevelTokenRepository(ctx, changes),
    balances: new LevelBalanceRepository(ctx),
    changes,
    audit,
    disputes,
    users: new LevelUserRepository(ctx, audit),

    auditCredentialChanges(credentials) {
      return ctx.write(async () => {
        const logged = { ...(((await spaces.meta.get(CREDENTIALS_AUDITED_META)) as Record<string, "issued" | "revoked"> | undefined) ?? {}) };
        const entries: AuditEntry[] = [];
        for (const c of credentials) {
          const steps: [AuditAction, "issued" | "revoked"][] = [];
          if (logged[c.id] === undefined) steps.push([{ actor: c.createdBy, role: "operator", action: "credential.issue", target: c.id, details: { name: c.name, role: c.role } }, "issued"]);
          if (c.revokedAtMs !== undefined && logged[c.id] !== "revoked") {
            steps.push([{ actor: c.revokedBy ?? "unknown", role: "operator", action: "credential.revoke", target: c.id, details: { name: c.name, role: c.role } }, "revoked"]);
          }
          // One entry per batch: `prepare` chains on the stored head.
          for (const [action, state] of steps) {
            const { entry, writes } = await audit.prepare(action);
            logged[c.id] = state;
            await ctx.commit([...writes, { type: "put", sublevel: spaces.meta, key: CREDENTIALS_AUDITED_META, value: logged }]);
            entries.push(entry);
          }
        }
        return entries;
      });
    },

    riskRules() {
      return ctx.read(async () => {
        const value: unknown = await spaces.meta.get(RISK_RULES_META);
        return value === undefined ? undefined : signedRiskRules.parse(value);
      });
    },

    storeRiskRules(signed, action) {
      return ctx.write(async () => {
        const current = (await spaces.meta.get(RISK_RULES_META)) as SignedRiskRules | undefined;
        const currentVersion = current?.document.version ?? 0;
        if (signed.document.version <= currentVersion) return { stored: false as const, current: currentVersion };
        const { entry, writes } = await audit.prepare(action);
        await ctx.commit([...writes, { type: "put", sublevel: spaces.meta, key: RISK_RULES_META, value: signed }]);
        return { stored: true as const, entry };
      });
    },

    async getCursor() {
      const value = await ctx.read(() => spaces.meta.get(CURSOR_META));
      return typeof value === "number" ? value : undefined;
    },

    async applyIndexBatch(batch: IndexBatch) {
      let after: number | undefined;
      await ctx.write(async () => {
        const previous = await spaces.meta.get(CURSOR_META);
        after = typeof previous === "number" ? previous : undefined;
        const writes: WriteOp[] = [];
        const records = new Map(batch.payments.map((record) => [record.paymentId.toLowerCase(), record]));
        const existing = await spaces.payments.getMany([...records.keys()]);
        const now = Date.now();
        const paymentChanges: ChangeDraft[] = [];
        [...records.values()].forEach((record, i) => {
          const before = existing[i] as PaymentRecord | undefined;
          writes.push(...paymentRecordWrites(spaces, record, before !== undefined), ...disputeIndexWrites(spaces, before, record));
          paymentChanges.push({
            type: "payment",
            paymentId: record.paymentId,
            payer: record.payer,
            merchant: record.merchant,
            status: record.status,
            amount: record.amount,
            refunded: record.refunded,
            deadline: record.deadline,
            blockNumber: record.events.at(-1)?.blockNumber ?? record.paidBlock,
          });
        });
        writes.push(...changes.append(paymentChanges, now));

        const settled = new Map(batch.operations.map((change) => [change.id.toLowerCase(), change]));
        const stored = await operations.getMany([...settled.keys()]);
        for (const current of stored) {
          if (!current) continue; // the indexer only reports stored operations; nothing to move otherwise
          const change = settled.get(current.id.toLowerCase());
          if (!change) continue;
          const { status, execution, error } = change;
          const patch = { status, ...(execution ? { execution } : {}), ...(error ? { error } : {}) };
          writes.push(...operationPatchWrites(spaces, current, patch, now, changes).writes);
        }
        writes.push({ type: "put", sublevel: spaces.meta, key: CURSOR_META, value: batch.cursor });
        await ctx.commit(writes);
      });
      const step: IndexedStep = { payments: batch.payments, after, cursor: batch.cursor };
      for (const listener of indexedListeners) listener(step);
    },

    onIndexed(listener) {
      indexedListeners.push(listener);
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

    alerts: new LevelAlertRepository(ctx, audit),

    exportSnapshot(onRecord) {
      return ctx.read(async () => {
        const snapshot = db.snapshot();
        try {
          for (const name of KEYSPACES) {
            const entries = spaces[name].iterator<string, string>({ snapshot, keyEncoding: "utf8", valueEncoding: "utf8" });
            for await (const [key, value] of entries) await onRecord({ keyspace: name, key, value });
          }
        } finally {
          await snapshot.close();
        }
      });
    },

    syncStats,
    async close() {
      changes.releaseWaiters();
      await close();
    },
  };
}
