/**
 * Payouts, top-ups, transfers and payer actions with their indexes (key layouts: keyspaces.ts). A
 * payout or top-up stays in `moneyOpen` until it reaches a final stage, which is what the gateway
 * resumes after a restart; its bank reference maps back to it in `moneyBankRefs`. Every change is one
 * synced batch, and the merchant events a change causes (payout.paid, payout.failed; the caller makes
 * the event records) join that batch (webhooks.ts `eventWrites`: event record, merchant event log,
 * outbox entry).
 */
import { SettlenetError } from "../../core/errors.js";
import type { Page } from "../../core/records.js";
import { cursorKey, indexPage } from "../../core/storage/pages.js";
import type { EventRecord } from "../domain/events.js";
import type { PayerActionRecord, PayoutRecord, TopupRecord, TransferRecord } from "../domain/money-types.js";
import { SEP, pad, type StorageContext, type WriteOp } from "./keyspaces.js";
import { eventWrites } from "./webhooks.js";

export type MoneyKind = "payout" | "topup" | "transfer";

interface RecordOf {
  payout: PayoutRecord;
  topup: TopupRecord;
  transfer: TransferRecord;
}

const SPACE = { payout: "payouts", topup: "topups", transfer: "moneyTransfers" } as const;

const FINAL: Record<"payout" | "topup", ReadonlySet<string>> = {
  payout: new Set(["paid", "failed"]),
  topup: new Set(["completed", "failed"]),
};

const byMerchant = (kind: MoneyKind, r: { merchantId: string; createdAtMs: number; id: string }) => `${r.merchantId}${SEP}${kind}${SEP}${pad(r.createdAtMs, 16)}${SEP}${r.id}`;

export class LevelMoneyRepository {
  constructor(private readonly ctx: StorageContext) {}

  get<K extends MoneyKind>(kind: K, id: string): Promise<RecordOf[K] | undefined> {
    return this.ctx.read(async () => (await this.ctx.spaces[SPACE[kind]].get(id)) as RecordOf[K] | undefined);
  }

  /** Stores a new payout or top-up (open) or transfer. */
  create<K extends MoneyKind>(kind: K, record: RecordOf[K]): Promise<RecordOf[K]> {
    const s = this.ctx.spaces;
    return this.ctx.write(async () => {
      if (await s[SPACE[kind]].has(record.id)) throw new SettlenetError("INTERNAL", `${kind} id ${record.id} collided`, { id: record.id });
      const writes: WriteOp[] = [
        { type: "put", sublevel: s[SPACE[kind]], key: record.id, value: record },
        { type: "put", sublevel: s.moneyByMerchant, key: byMerchant(kind, record), value: "" },
      ];
      if (kind !== "transfer") writes.push({ type: "put", sublevel: s.moneyOpen, key: `${kind}${SEP}${record.id}`, value: "" });
      await this.ctx.commit(writes);
      return record;
    });
  }

  /** Stores a transfer unless the merchant's reference is taken; then the holder is returned. */
  createTransfer(record: TransferRecord): Promise<{ created: boolean; record: TransferRecord }> {
    const s = this.ctx.spaces;
    const refKey = `${record.merchantId}${SEP}${record.reference}`;
    return this.ctx.write(async () => {
      const holder = (await s.transfersByReference.get(refKey)) as string | undefined;
      if (holder !== undefined) {
        const existing = (await s.moneyTransfers.get(holder)) as TransferRecord | undefined;
        if (!existing) throw new SettlenetError("STORAGE_CORRUPT", `transfer index points at missing transfer ${holder}`, { id: holder });
        return { created: false, record: existing };
      }
      await this.ctx.commit([
        { type: "put", sublevel: s.moneyTransfers, key: record.id, value: record },
        { type: "put", sublevel: s.moneyByMerchant, key: byMerchant("transfer", record), value: "" },
        { type: "put", sublevel: s.transfersByReference, key: refKey, value: record.id },
      ]);
      return { created: true, record };
    });
  }

  /** A merchant's transfer by its own reference. */
  transferByReference(merchantId: string, reference: string): Promise<TransferRecord | undefined> {
    return this.ctx.read(async () => {
      const id = (await this.ctx.spaces.transfersByReference.get(`${merchantId}${SEP}${reference}`)) as string | undefined;
      return id === undefined ? undefined : ((await this.ctx.spaces.moneyTransfers.get(id)) as TransferRecord | undefined);
    });
  }

  /**
   * Read-modify-write of one record. `change` returns the next record (undefined: leave it) and the
   * events the change causes; record, indexes and events go in one synced batch. A record reaching a
   * final stage leaves the open set.
   */
  update<K extends MoneyKind>(kind: K, id: string, change: (current: RecordOf[K]) => { next: RecordOf[K]; events?: EventRecord[] } | undefined): Promise<RecordOf[K]> {
    const s = this.ctx.spaces;
    return this.ctx.write(async () => {
      const current = (await s[SPACE[kind]].get(id)) as RecordOf[K] | undefined;
      if (!current) throw new SettlenetError("INTERNAL", `no ${kind} ${id}`, { id });
      const proposed = change(current);
      if (!proposed) return current;
      const next = { ...proposed.next, id: current.id, merchantId: current.merchantId, createdAtMs: current.createdAtMs } as RecordOf[K];
      const writes: WriteOp[] = [{ type: "put", sublevel: s[SPACE[kind]], key: id, value: next }];
      if (kind !== "transfer") {
        const stage = (next as PayoutRecord | TopupRecord).stage;
        if (FINAL[kind as "payout" | "topup"].has(stage)) writes.push({ type: "del", sublevel: s.moneyOpen, key: `${kind}${SEP}${id}` });
        const bankRef = (next as PayoutRecord | TopupRecord).bank?.bankRef;
        if (bankRef && bankRef !== (current as PayoutRecord | TopupRecord).bank?.bankRef) {
          writes.push({ type: "put", sublevel: s.moneyBankRefs, key: bankRef, value: `${kind}:${id}` });
        }
      }
      // Events go to the webhook outbox in this same batch: never lost, never sent for a change that did not happen.
      for (const event of proposed.events ?? []) writes.push(...eventWrites(s, event));
      await this.ctx.commit(writes);
      return next;
    });
  }

  /** Ids of the payouts or top-ups not yet final. */
  open(kind: "payout" | "topup"): Promise<string[]> {
    const prefix = `${kind}${SEP}`;
    return this.ctx.read(async () => (await this.ctx.spaces.moneyOpen.keys({ gte: prefix, lt: `${prefix}\uffff` }).all()).map((key) => key.slice(prefix.length)));
  }

  /** Up to `limit` payouts or top-ups not yet final (the overdue check's bounded look). */
  openRecords<K extends "payout" | "topup">(kind: K, limit: number): Promise<RecordOf[K][]> {
    const prefix = `${kind}${SEP}`;
    return this.ctx.read(async () => {
      const keys = await this.ctx.spaces.moneyOpen.keys({ gte: prefix, lt: `${prefix}\uffff`, limit }).all();
      const records = (await this.ctx.spaces[SPACE[kind]].getMany(keys.map((key) => key.slice(prefix.length)))) as (RecordOf[K] | undefined)[];
      return records.filter((r): r is RecordOf[K] => r !== undefined && !FINAL[kind].has(r.stage));
    });
  }

  /** Which payout or top-up a bank transfer belongs to. */
  byBankRef(bankRef: string): Promise<{ kind: "payout" | "topup"; id: string } | undefined> {
    return this.ctx.read(async () => {
      const value = (await this.ctx.spaces.moneyBankRefs.get(bankRef)) as string | undefined;
      if (!value) return undefined;
      const [kind, id] = value.split(":") as ["payout" | "topup", string];
      return { kind, id };
    });
  }

  /** A merchant's records of one kind, newest first. */
  list<K extends MoneyKind>(kind: K, merchantId: string, options: { limit: number; cursor?: string }): Promise<Page<RecordOf[K]>> {
    const s = this.ctx.spaces;
    return this.ctx.read(async () => {
      const prefix = `${merchantId}${SEP}${kind}${SEP}`;
      const lt = options.cursor ? cursorKey(options.cursor, (key) => key.startsWith(prefix), "MALFORMED") : `${prefix}\uffff`;
      return indexPage<RecordOf[K]>(s.moneyByMerchant, s[SPACE[kind]], { gte: prefix, lt, reverse: true }, options.limit, SEP);
    });
  }

  // ---------------------------------------------------------------- payer actions

  getPayerAction(operationId: string): Promise<PayerActionRecord | undefined> {
    return this.ctx.read(async () => (await this.ctx.spaces.payerActions.get(operationId.toLowerCase())) as PayerActionRecord | undefined);
  }

  /** Stores a relayed payer action (open until its order is seen in its final state). */
  putPayerAction(record: PayerActionRecord, open: boolean): Promise<void> {
    const s = this.ctx.spaces;
    const id = record.operationId.toLowerCase();
    return this.ctx.write(() =>
      this.ctx.commit([
        { type: "put", sublevel: s.payerActions, key: id, value: record },
        { type: "put", sublevel: s.payerActionsByOrder, key: `${record.orderId}${SEP}${pad(record.submittedAtMs, 16)}${SEP}${id}`, value: "" },
        open ? { type: "put", sublevel: s.payerActionsOpen, key: id, value: "" } : { type: "del", sublevel: s.payerActionsOpen, key: id },
      ]),
    );
  }

  /** The payer actions relayed for an order, oldest first. */
  payerActionsOf(orderId: string): Promise<PayerActionRecord[]> {
    const s = this.ctx.spaces;
    return this.ctx.read(async () => {
      const prefix = `${orderId}${SEP}`;
      const keys = await s.payerActionsByOrder.keys({ gte: prefix, lt: `${prefix}\uffff` }).all();
      const ids = keys.map((key) => key.slice(key.lastIndexOf(SEP) + 1));
      return ((await s.payerActions.getMany(ids)) as (PayerActionRecord | undefined)[]).filter((r): r is PayerActionRecord => r !== undefined);
    });
  }

  openPayerActions(): Promise<string[]> {
    return this.ctx.read(() => this.ctx.spaces.payerActionsOpen.keys().all());
  }
}
