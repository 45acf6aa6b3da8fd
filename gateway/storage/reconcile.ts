/**
 * The reconciler's repair log. A repair record is written with `repairWrites` in the same batch as
 * the order change it describes (orders.ts), so the log never claims a repair that did not happen.
 */
import type { Page } from "../../core/records.js";
import { cursorKey, entryPage } from "../../core/storage/pages.js";
import type { ReconcileRecord } from "../domain/events.js";
import { SEP, pad, type StorageContext, type WriteOp } from "./keyspaces.js";

/** Key of a repair: time first, so the log reads in order. */
export function reconcileKey(record: Pick<ReconcileRecord, "atMs" | "id">): string {
  return `${pad(record.atMs, 16)}${SEP}${record.id}`;
}

/** The write that logs `record` (for the batch of the order change). */
export function repairWrites(spaces: StorageContext["spaces"], record: ReconcileRecord): WriteOp[] {
  return [{ type: "put", sublevel: spaces.reconcile, key: reconcileKey(record), value: record }];
}

export class LevelReconcileLog {
  constructor(private readonly ctx: StorageContext) {}

  /** Repairs made within [fromMs, toMs], oldest first, `limit` at a time after `cursor`. */
  list(options: { fromMs?: number; toMs?: number; limit: number; cursor?: string }): Promise<Page<ReconcileRecord>> {
    return this.ctx.read(async () => {
      let gt = options.fromMs !== undefined ? pad(options.fromMs, 16) : "";
      if (options.cursor) gt = cursorKey(options.cursor, () => true, "MALFORMED");
      const lt = options.toMs !== undefined ? pad(options.toMs + 1, 16) : "\uffff";
      return entryPage<ReconcileRecord>(this.ctx.spaces.reconcile, { gt, lt, reverse: false }, options.limit);
    });
  }
}
