/**
 * The custodian service's LevelDB (`<dataDir>/custody`, apart from the node's database so the
 * custodian's records live and go with the service): one record per bank transfer it acted on, an
 * index of those still minting, and its position in the bank's change feed, which moves in the same
 * synced batch as the records a page of the feed created (a crash re-reads the page; records already
 * made are kept, never made twice).
 *
 * | sublevel  | key           | value          |
 * | --------- | ------------- | -------------- |
 * | transfers | bank bankRef  | CustodyRecord  |
 * | open      | bank bankRef  | "" (minting)   |
 * | meta      | "bank.cursor" | the feed cursor |
 */
import { openLevelStore, type LevelStore, type WriteOp } from "../../core/storage/level.js";
import type { CustodyTransfer } from "../../core/api/custody.js";

const KEYSPACES = ["transfers", "open", "meta"] as const;
type Keyspace = (typeof KEYSPACES)[number];
const CURSOR = "bank.cursor";

/** One mint operation the service signed for a transfer. */
export interface MintAttempt {
  operationId: string;
  /** The signed operation in its wire form (resubmitted as is after a restart). */
  op: Record<string, string>;
  /** Its deadline (chain time, unix seconds): after it, the operation can never execute. */
  deadline: number;
  /** The node accepted it (or already had it). */
  submitted: boolean;
  /** Set once the node reports it failed. */
  error?: { code: string; message: string };
}

/** What the service stores per transfer: the API view plus the attempt in flight. */
export interface CustodyRecord extends CustodyTransfer {
  attempt?: MintAttempt;
}

export class CustodyStore {
  private constructor(private readonly store: LevelStore<Keyspace>) {}

  static async open(dir: string): Promise<CustodyStore> {
    return new CustodyStore(await openLevelStore(dir, KEYSPACES, { label: "custodian", lockedHint: "(is another node running on this dataDir?)" }));
  }

  get(bankRef: string): Promise<CustodyRecord | undefined> {
    return this.store.ctx.read(async () => (await this.store.spaces.transfers.get(bankRef)) as CustodyRecord | undefined);
  }

  cursor(): Promise<string | undefined> {
    return this.store.ctx.read(async () => (await this.store.spaces.meta.get(CURSOR)) as string | undefined);
  }

  /** Stores the records a feed page made (those not stored yet) and the cursor after the page, atomically. */
  addPage(records: CustodyRecord[], cursor: string | undefined): Promise<CustodyRecord[]> {
    const { ctx, spaces } = this.store;
    return ctx.write(async () => {
      const writes: WriteOp[] = [];
      const created: CustodyRecord[] = [];
      for (const record of records) {
        if ((await spaces.transfers.get(record.bankRef)) !== undefined || created.some((c) => c.bankRef === record.bankRef)) continue;
        created.push(record);
        writes.push({ type: "put", sublevel: spaces.transfers, key: record.bankRef, value: record });
        if (record.status === "minting") writes.push({ type: "put", sublevel: spaces.open, key: record.bankRef, value: "" });
      }
      if (cursor !== undefined) writes.push({ type: "put", sublevel: spaces.meta, key: CURSOR, value: cursor });
      await ctx.commit(writes);
      return created;
    });
  }

  /** Changes a record (synced); leaving `minting` takes it out of the open index in the same batch. */
  update(bankRef: string, change: (current: CustodyRecord) => CustodyRecord): Promise<CustodyRecord> {
    const { ctx, spaces } = this.store;
    return ctx.write(async () => {
      const current = (await spaces.transfers.get(bankRef)) as CustodyRecord | undefined;
      if (!current) throw new Error(`no custody record ${bankRef}`);
      const next = change(current);
      const writes: WriteOp[] = [{ type: "put", sublevel: spaces.transfers, key: bankRef, value: next }];
      if (next.status !== "minting") writes.push({ type: "del", sublevel: spaces.open, key: bankRef });
      await ctx.commit(writes);
      return next;
    });
  }

  /** Bank references of the records still minting. */
  open(): Promise<string[]> {
    return this.store.ctx.read(async () => {
      const keys: string[] = [];
      for await (const key of this.store.spaces.open.keys()) keys.push(key);
      return keys;
    });
  }

  /** Up to `limit` records still minting (the overdue monitor's bounded look). */
  minting(limit: number): Promise<CustodyRecord[]> {
    return this.store.ctx.read(async () => {
      const keys = await this.store.spaces.open.keys({ limit }).all();
      const records = (await this.store.spaces.transfers.getMany(keys)) as (CustodyRecord | undefined)[];
      return records.filter((r): r is CustodyRecord => r?.status === "minting");
    });
  }

  close(): Promise<void> {
    return this.store.close();
  }
}
