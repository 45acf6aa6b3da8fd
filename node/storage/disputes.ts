/**
 * Disputes: the queue of open disputes and the decided ones (`disputes`), kept by the indexer in the
 * same batch that stores the payment's new state, so the arbiter's queue never depends on how many
 * payments came after a dispute; and the merchants' signed notes on them (`disputeNotes`). Key
 * layouts: keyspaces.ts.
 */
import { SettlenetError } from "../../core/errors.js";
import { cursorKey, indexPage } from "../../core/storage/pages.js";
import type { DisputeNote } from "../../core/protocol/dispute-note.js";
import type { Page, PaymentRecord } from "../../core/records.js";
import type { AuditLog } from "../../core/audit/log.js";
import { SEP, pad, prefixRange, type Keyspace, type StorageContext, type Sublevel, type WriteOp } from "./keyspaces.js";
import { MAX_PAGE_SIZE } from "./payments.js";

type Spaces = Readonly<Record<Keyspace, Sublevel>>;

/** open: disputed, waiting for an arbiter; resolved: no longer disputed (decided). */
export type DisputeState = "open" | "resolved";

/** A merchant's note as a node stores it. */
export interface StoredDisputeNote {
  id: string;
  note: DisputeNote;
  /** The merchant whose key signed it (the payment's merchant). */
  merchant: string;
  /** Where this node got it: its API (from the merchant's gateway) or gossip. */
  origin: "api" | "gossip";
  receivedAtMs: number;
}

const TIME_WIDTH = 12;
const NOTE_TIME_WIDTH = 16;
const REBUILT_META = "disputes.indexed";

const eventTime = (record: PaymentRecord, event: string) => record.events.findLast((e) => e.event === event)?.timestamp;
const keyOf = (state: DisputeState, at: number, paymentId: string) => `${state}${SEP}${pad(at, TIME_WIDTH)}${SEP}${paymentId.toLowerCase()}`;
/** Where a payment sits in the dispute index, if anywhere. */
function indexKey(record: PaymentRecord): string | undefined {
  const disputedAt = eventTime(record, "PaymentDisputed");
  if (disputedAt === undefined) return undefined;
  if (record.status === "disputed") return keyOf("open", disputedAt, record.paymentId);
  return keyOf("resolved", eventTime(record, "PaymentResolved") ?? record.updatedAt, record.paymentId);
}

/** Writes that move a payment within the dispute index as its record goes from `before` to `after`. */
export function disputeIndexWrites(spaces: Spaces, before: PaymentRecord | undefined, after: PaymentRecord): WriteOp[] {
  const was = before ? indexKey(before) : undefined;
  const now = indexKey(after);
  if (was === now) return [];
  const writes: WriteOp[] = [];
  if (was !== undefined) writes.push({ type: "del", sublevel: spaces.disputes, key: was });
  if (now !== undefined) writes.push({ type: "put", sublevel: spaces.disputes, key: now, value: "" });
  return writes;
}

function decodeCursor(cursor: string, state: DisputeState): string {
  const shape = new RegExp(`^${state}${SEP}\\d{${TIME_WIDTH}}${SEP}0x[0-9a-f]{64}$`);
  return cursorKey(cursor, (key) => shape.test(key), "INVALID_CURSOR");
}

/** Disputes and merchants' notes on LevelDB. */
export class LevelDisputeRepository {
  constructor(
    private readonly ctx: StorageContext,
    private readonly audit: AuditLog,
  ) {}

  /**
   * Open disputes oldest first (the queue), resolved ones newest first; each page continues after the
   * cursor's key.
   */
  list(state: DisputeState, options: { limit: number; cursor?: string }): Promise<Page<PaymentRecord>> {
    return this.ctx.read(async () => {
      const { limit, cursor } = options;
      if (!Number.isInteger(limit) || limit < 1) throw new SettlenetError("INVALID_ARGUMENT", "limit must be a positive integer", { limit });
      const size = Math.min(limit, MAX_PAGE_SIZE);
      const range = prefixRange(`${state}${SEP}`);
      const oldestFirst = state === "open";
      const after = cursor === undefined ? undefined : decodeCursor(cursor, state);
      const bounds = after === undefined ? range : oldestFirst ? { gt: after, lt: range.lt } : { gte: range.gte, lt: after };
      return indexPage<PaymentRecord>(this.ctx.spaces.disputes, this.ctx.spaces.payments, { ...bounds, reverse: !oldestFirst }, size, SEP);
    });
  }

  /**
   * Indexes every stored dispute once (a node whose payments were indexed before this index existed,
   * or restored from such a backup); later the indexer keeps it.
   */
  rebuildIfMissing(): Promise<number> {
    return this.ctx.write(async () => {
      if ((await this.ctx.spaces.meta.get(REBUILT_META)) !== undefined) return 0;
      const writes: WriteOp[] = [];
      for await (const value of this.ctx.spaces.payments.values()) {
        const key = indexKey(value as PaymentRecord);
        if (key !== undefined) writes.push({ type: "put", sublevel: this.ctx.spaces.disputes, key, value: "" });
      }
      writes.push({ type: "put", sublevel: this.ctx.spaces.meta, key: REBUILT_META, value: true });
      await this.ctx.commit(writes);
      return writes.length - 1;
    });
  }

  /**
   * Stores a note, with an entry in the node's audit log, in one synced batch; a note already stored
   * (same id) is left as it is. Answers the stored note and whether it is new.
   */
  addNote(note: StoredDisputeNote): Promise<{ stored: StoredDisputeNote; created: boolean }> {
    return this.ctx.write(async () => {
      const key = `${note.note.paymentId.toLowerCase()}${SEP}${pad(note.note.createdAtMs, NOTE_TIME_WIDTH)}${SEP}${note.id}`;
      const existing = (await this.ctx.spaces.disputeNotes.get(key)) as StoredDisputeNote | undefined;
      if (existing) return { stored: existing, created: false };
      const { writes } = await this.audit.prepare({
        actor: note.merchant,
        role: "merchant",
        action: "dispute.note",
        target: note.note.paymentId.toLowerCase(),
        details: { noteId: note.id, origin: note.origin },
      });
      await this.ctx.commit([...writes, { type: "put", sublevel: this.ctx.spaces.disputeNotes, key, value: note }]);
      return { stored: note, created: true };
    });
  }

  /** The notes on a payment, oldest first. */
  notesOf(paymentId: string): Promise<StoredDisputeNote[]> {
    return this.ctx.read(async () => (await this.ctx.spaces.disputeNotes.values(prefixRange(`${paymentId.toLowerCase()}${SEP}`)).all()) as StoredDisputeNote[]);
  }
}
