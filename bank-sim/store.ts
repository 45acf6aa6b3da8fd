/**
 * The bank simulator's ledger on its own LevelDB (classic-level): transfers, the custodian's reserve
 * per currency, per-account totals and the callback outbox. Every change is one synced batch written
 * by one queued section at a time, so a transfer, its indexes, the balances it moves and the callback
 * it owes are never half-written, and two requests with one reference never create two transfers.
 *
 * Keyspaces (sublevels; string keys, JSON values; amounts as decimal strings):
 *
 * | sublevel   | key                              | value                                       |
 * | ---------- | -------------------------------- | ------------------------------------------- |
 * | transfers  | bankRef                          | StoredTransfer                              |
 * | references | reference                        | bankRef (idempotency index)                 |
 * | changes    | updatedAt(15) ! seq(12)          | bankRef (change feed: one entry per transfer, moved on every change) |
 * | due        | dueAt(15) ! bankRef              | "" (pending transfers by planned completion) |
 * | callbacks  | eventId                          | CallbackRecord (outbox, deleted once acknowledged) |
 * | accounts   | account ! currency               | AccountRecord                               |
 * | reserves   | currency                         | ReserveRecord                               |
 * | meta       | "seq" / "created"                | number                                      |
 */
import { randomBytes } from "node:crypto";

import { SettlenetError } from "../core/errors.js";
import { openLevelStore, type WriteOp } from "../core/storage/level.js";
import type { RejectionReason, ReserveWire, TransferKind, TransferPageWire, TransferWire } from "../core/bank/wire.js";

export const BANK_KEYSPACES = ["transfers", "references", "changes", "due", "callbacks", "accounts", "reserves", "meta"] as const;

const SEP = "!";
const TIME_WIDTH = 15;
const SEQ_WIDTH = 12;
const pad = (value: number, width: number) => value.toString().padStart(width, "0");

/** A transfer with the simulator's private plan: when it completes and how. */
export interface StoredTransfer extends TransferWire {
  /** Its current key in `changes`. */
  changeKey: string;
  /** When the bank answers (Unix ms). */
  dueAt: number;
  /** The answer drawn when the transfer was accepted. */
  outcome: "confirmed" | "rejected";
  outcomeReason?: RejectionReason;
  /** Payouts only: the amount is held on the reserve until the transfer settles. */
  held: boolean;
}

/** A settlement callback waiting for a 2xx from the receiver. */
export interface CallbackRecord {
  eventId: string;
  bankRef: string;
  /** The exact JSON body to sign and send (stable across retries). */
  body: string;
  createdAt: number;
}

export interface AccountRecord {
  account: string;
  currency: string;
  deposited: string;
  paidOut: string;
  updatedAt: number;
}

interface ReserveRecord {
  currency: string;
  balance: string;
  held: string;
}

/** How the bank will answer one new transfer (drawn by the simulator from its index). */
export interface TransferPlan {
  latencyMs: number;
  declined: boolean;
}

export interface NewTransfer {
  kind: TransferKind;
  reference: string;
  account: string;
  amount: bigint;
  currency: string;
}

/** Strips the private plan. */
export function transferWire(stored: StoredTransfer): TransferWire {
  const { bankRef, kind, status, reason, reference, account, amount, currency, createdAt, updatedAt } = stored;
  return { bankRef, kind, status, ...(reason ? { reason } : {}), reference, account, amount, currency, createdAt, updatedAt };
}

function encodeCursor(changeKey: string): string {
  return Buffer.from(changeKey, "utf8").toString("base64url");
}

function decodeCursor(cursor: string): string {
  const key = Buffer.from(cursor, "base64url").toString("utf8");
  if (!new RegExp(`^\\d{${TIME_WIDTH}}${SEP}\\d{${SEQ_WIDTH}}$`).test(key)) {
    throw new SettlenetError("INVALID_CURSOR", "the cursor does not belong to the transfer list", {});
  }
  return key;
}

/** The simulated bank's repository. */
export interface BankStore {
  /** Creates a transfer, or returns the one already made under `reference` (REFERENCE_CONFLICT if it differs). */
  create(request: NewTransfer, now: number, plan: (index: number) => TransferPlan): Promise<{ transfer: StoredTransfer; created: boolean }>;
  get(bankRef: string): Promise<StoredTransfer | undefined>;
  /** True if a transfer was made under `reference`. */
  hasReference(reference: string): Promise<boolean>;
  /** The change feed: transfers last changed at or after `since`, oldest change first. */
  list(options: { since?: number; limit: number; cursor?: string }): Promise<TransferPageWire>;
  /** Pending transfers whose answer is due at `now`, earliest first. */
  due(now: number, limit: number): Promise<string[]>;
  /** The earliest planned completion of a pending transfer. */
  nextDueAt(): Promise<number | undefined>;
  /**
   * Applies the planned answer to a pending transfer (balances and, if `callback` is given, an
   * outbox record in the same batch). Undefined if the transfer is not pending any more.
   */
  settle(bankRef: string, now: number, callback?: (settled: TransferWire) => CallbackRecord): Promise<{ transfer: StoredTransfer; callback?: CallbackRecord } | undefined>;
  outbox(): Promise<CallbackRecord[]>;
  /** Removes an acknowledged callback. */
  acknowledge(eventId: string): Promise<void>;
  reserve(currency: string): Promise<ReserveWire>;
  accounts(account: string): Promise<AccountRecord[]>;
  /** Counts for /health. */
  stats(): Promise<{ pending: number; callbacks: number }>;
  close(): Promise<void>;
}

/** Opens (creating if needed) the bank database in `dir`. */
export async function openBankStore(dir: string): Promise<BankStore> {
  const store = await openLevelStore(dir, BANK_KEYSPACES, { label: "bank" });
  const { spaces } = store;
  const { read, write } = store.ctx;

  let seq = ((await spaces.meta.get("seq")) as number | undefined) ?? 0;
  let created = ((await spaces.meta.get("created")) as number | undefined) ?? 0;
  // The change feed must only grow: a clock stepping back never files a change before an older one.
  const [lastChange] = await spaces.changes.keys({ reverse: true, limit: 1 }).all();
  let lastChangeAt = lastChange ? Number(lastChange.slice(0, TIME_WIDTH)) : 0;

  /** Next change key (call inside `write`; the counter is committed with the batch). */
  function nextChange(now: number): { key: string; at: number } {
    lastChangeAt = Math.max(now, lastChangeAt);
    seq += 1;
    return { key: `${pad(lastChangeAt, TIME_WIDTH)}${SEP}${pad(seq, SEQ_WIDTH)}`, at: lastChangeAt };
  }

  async function loadReserve(currency: string): Promise<ReserveRecord> {
    return ((await spaces.reserves.get(currency)) as ReserveRecord | undefined) ?? { currency, balance: "0", held: "0" };
  }

  const reserveWire = (r: ReserveRecord): ReserveWire => ({ currency: r.currency, balance: r.balance, held: r.held, available: (BigInt(r.balance) - BigInt(r.held)).toString() });

  async function commit(ops: WriteOp[]): Promise<void> {
    ops.push({ type: "put", sublevel: spaces.meta, key: "seq", value: seq }, { type: "put", sublevel: spaces.meta, key: "created", value: created });
    await store.ctx.commit(ops);
  }

  return {
    create(request, now, plan) {
      return write(async () => {
        const existingRef = (await spaces.references.get(request.reference)) as string | undefined;
        if (existingRef !== undefined) {
          const existing = (await spaces.transfers.get(existingRef)) as StoredTransfer | undefined;
          if (!existing) throw new SettlenetError("STORAGE_CORRUPT", "a reference points at a missing transfer", { reference: request.reference });
          const same = existing.kind === request.kind && existing.account === request.account && existing.amount === request.amount.toString() && existing.currency === request.currency;
          if (!same) {
            throw new SettlenetError("REFERENCE_CONFLICT", "this reference was already used for a different transfer", { reference: request.reference, bankRef: existing.bankRef });
          }
          return { transfer: existing, created: false };
        }

        const drawn = plan(created);
        const ops: WriteOp[] = [];
        let outcome: StoredTransfer["outcome"] = drawn.declined ? "rejected" : "confirmed";
        let outcomeReason: RejectionReason | undefined = drawn.declined ? "declined" : undefined;
        let held = false;
        if (request.kind === "payout") {
          const reserve = await loadReserve(request.currency);
          if (BigInt(reserve.balance) - BigInt(reserve.held) >= request.amount) {
            held = true;
            ops.push({ type: "put", sublevel: spaces.reserves, key: request.currency, value: { ...reserve, held: (BigInt(reserve.held) + request.amount).toString() } });
          } else {
            outcome = "rejected";
            outcomeReason = "insufficient_funds";
          }
        }
        created += 1;
        const change = nextChange(now);
        const transfer: StoredTransfer = {
          bankRef: `bt_${randomBytes(12).toString("hex")}`,
          kind: request.kind,
          status: "pending",
          reference: request.reference,
          account: request.account,
          amount: request.amount.toString(),
          currency: request.currency,
          createdAt: change.at,
          updatedAt: change.at,
          changeKey: change.key,
          dueAt: change.at + drawn.latencyMs,
          outcome,
          ...(outcomeReason ? { outcomeReason } : {}),
          held,
        };
        ops.push(
          { type: "put", sublevel: spaces.transfers, key: transfer.bankRef, value: transfer },
          { type: "put", sublevel: spaces.references, key: transfer.reference, value: transfer.bankRef },
          { type: "put", sublevel: spaces.changes, key: change.key, value: transfer.bankRef },
          { type: "put", sublevel: spaces.due, key: `${pad(transfer.dueAt, TIME_WIDTH)}${SEP}${transfer.bankRef}`, value: "" },
        );
        await commit(ops);
        return { transfer, created: true };
      });
    },

    get(bankRef) {
      return read(async () => (await spaces.transfers.get(bankRef)) as StoredTransfer | undefined);
    },
    hasReference(reference) {
      return read(async () => (await spaces.references.get(reference)) !== undefined);
    },

    list({ since, limit, cursor }) {
      return read(async () => {
        const from = pad(since ?? 0, TIME_WIDTH);
        const after = cursor !== undefined ? decodeCursor(cursor) : undefined;
        const range = after !== undefined && after >= from ? { gt: after } : { gte: from };
        const entries = await spaces.changes.iterator({ ...range, limit: limit + 1 }).all();
        const page = entries.slice(0, limit);
        const refs = page.map(([, bankRef]) => bankRef as string);
        const transfers = refs.length === 0 ? [] : ((await spaces.transfers.getMany(refs)) as (StoredTransfer | undefined)[]);
        const last = page.at(-1);
        return {
          transfers: transfers.filter((t): t is StoredTransfer => t !== undefined).map(transferWire),
          nextCursor: last ? encodeCursor(last[0]) : null,
          hasMore: entries.length > limit,
        };
      });
    },

    due(now, limit) {
      return read(async () => {
        const keys = await spaces.due.keys({ lt: `${pad(now + 1, TIME_WIDTH)}`, limit }).all();
        return keys.map((key) => key.slice(TIME_WIDTH + 1));
      });
    },

    nextDueAt() {
      return read(async () => {
        const [first] = await spaces.due.keys({ limit: 1 }).all();
        return first === undefined ? undefined : Number(first.slice(0, TIME_WIDTH));
      });
    },

    settle(bankRef, now, callback) {
      return write(async () => {
        const current = (await spaces.transfers.get(bankRef)) as StoredTransfer | undefined;
        if (!current || current.status !== "pending") return undefined;
        const amount = BigInt(current.amount);
        const ops: WriteOp[] = [];
        const confirmed = current.outcome === "confirmed";

        const reserve = await loadReserve(current.currency);
        let balance = BigInt(reserve.balance);
        let heldTotal = BigInt(reserve.held);
        if (current.kind === "deposit" && confirmed) balance += amount;
        if (current.kind === "payout" && current.held) {
          heldTotal -= amount;
          if (confirmed) balance -= amount;
        }
        ops.push({ type: "put", sublevel: spaces.reserves, key: current.currency, value: { currency: current.currency, balance: balance.toString(), held: heldTotal.toString() } });

        if (confirmed) {
          const accountKey = `${current.account}${SEP}${current.currency}`;
          const account = ((await spaces.accounts.get(accountKey)) as AccountRecord | undefined) ?? { account: current.account, currency: current.currency, deposited: "0", paidOut: "0", updatedAt: now };
          const next: AccountRecord =
            current.kind === "deposit"
              ? { ...account, deposited: (BigInt(account.deposited) + amount).toString(), updatedAt: now }
              : { ...account, paidOut: (BigInt(account.paidOut) + amount).toString(), updatedAt: now };
          ops.push({ type: "put", sublevel: spaces.accounts, key: accountKey, value: next });
        }

        const change = nextChange(now);
        const transfer: StoredTransfer = {
          ...current,
          status: current.outcome,
          ...(current.outcomeReason ? { reason: current.outcomeReason } : {}),
          updatedAt: change.at,
          changeKey: change.key,
        };
        ops.push(
          { type: "put", sublevel: spaces.transfers, key: bankRef, value: transfer },
          { type: "del", sublevel: spaces.changes, key: current.changeKey },
          { type: "put", sublevel: spaces.changes, key: change.key, value: bankRef },
          { type: "del", sublevel: spaces.due, key: `${pad(current.dueAt, TIME_WIDTH)}${SEP}${bankRef}` },
        );
        const record = callback?.(transferWire(transfer));
        if (record) ops.push({ type: "put", sublevel: spaces.callbacks, key: record.eventId, value: record });
        await commit(ops);
        return record ? { transfer, callback: record } : { transfer };
      });
    },

    outbox() {
      return read(async () => (await spaces.callbacks.values().all()) as CallbackRecord[]);
    },

    acknowledge(eventId) {
      return write(() => store.ctx.commit([{ type: "del", sublevel: spaces.callbacks, key: eventId }]));
    },

    reserve(currency) {
      return read(async () => reserveWire(await loadReserve(currency)));
    },

    accounts(account) {
      return read(async () => (await spaces.accounts.values({ gt: `${account}${SEP}`, lt: `${account}${SEP}~` }).all()) as AccountRecord[]);
    },

    stats() {
      return read(async () => ({
        pending: (await spaces.due.keys().all()).length,
        callbacks: (await spaces.callbacks.keys().all()).length,
      }));
    },

    close: store.close,
  };
}
