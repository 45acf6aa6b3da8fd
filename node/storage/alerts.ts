/**
 * Compliance alert repository: alert records (`alerts`) and their index by chain time
 * (`alertsByTime`), plus the ascending scan of indexed payments the AML monitor evaluates. Alerts are
 * stored together with the monitor's progress (a `meta` entry) in one synced batch, so an alert is
 * never lost nor raised twice across a crash. Key layouts: keyspaces.ts.
 */
import type { AuditLog } from "../../core/audit/log.js";
import { SettlenetError } from "../../core/errors.js";
import { cursorKey, keyCursor } from "../../core/storage/pages.js";
import type { Alert, AlertRecord, AlertRule } from "../compliance/alert.js";
import type { PaymentRecord, Page } from "../../core/records.js";
import type { StorageContext, WriteOp } from "./keyspaces.js";
import { SEP, pad } from "./keyspaces.js";

const TIME_WIDTH = 12;
/** Largest page an alert list returns. */
export const MAX_ALERT_PAGE = 500;
/** Index entries an alert list looks at per call at most (filters are applied while scanning). */
const MAX_SCAN = 20_000;

/** Filters of an alert list; all optional, combined with AND. */
export interface AlertFilter {
  rule?: AlertRule;
  category?: "aml" | "reserves";
  account?: string;
  status?: "open" | "acknowledged";
  /** Inclusive range on the alert's chain time (unix seconds). */
  from?: number;
  to?: number;
  limit: number;
  cursor?: string;
}

/** How a batch of alerts reached this node. */
export interface AlertSource {
  origin: "local" | "gossip";
  /** Operator id to add to `reportedBy`. */
  reporter?: string;
  nowMs: number;
  /** Meta entries written in the same batch (e.g. the monitor's cursor). */
  meta?: Record<string, unknown>;
}

const timeKey = (at: number, id: string) => `${pad(at, TIME_WIDTH)}${SEP}${id.toLowerCase()}`;

/** Alert storage on LevelDB (see the module comment). */
export class LevelAlertRepository {
  constructor(
    private readonly ctx: StorageContext,
    /** Acknowledgements are logged here, in the same batch. */
    private readonly audit: AuditLog,
  ) {}

  get(id: string): Promise<AlertRecord | undefined> {
    return this.ctx.read(async () => (await this.ctx.spaces.alerts.get(id.toLowerCase())) as AlertRecord | undefined);
  }

  /**
   * Stores alerts, atomically with `source.meta`: a new alert is created; one already stored only
   * gains the reporter (its acknowledgement and first origin stay). Returns the alerts that were new.
   */
  record(alerts: Alert[], source: AlertSource): Promise<AlertRecord[]> {
    return this.ctx.write(async () => {
      const { spaces } = this.ctx;
      const unique = [...new Map(alerts.map((alert) => [alert.id.toLowerCase(), alert])).values()];
      const existing = unique.length === 0 ? [] : ((await spaces.alerts.getMany(unique.map((a) => a.id.toLowerCase()))) as (AlertRecord | undefined)[]);
      const writes: WriteOp[] = [];
      const created: AlertRecord[] = [];
      unique.forEach((alert, i) => {
        const current = existing[i];
        if (current) {
          if (source.reporter === undefined || current.reportedBy.includes(source.reporter)) return;
          writes.push({ type: "put", sublevel: spaces.alerts, key: alert.id.toLowerCase(), value: { ...current, reportedBy: [...current.reportedBy, source.reporter] } });
          return;
        }
        const record: AlertRecord = { ...alert, raisedAtMs: source.nowMs, origin: source.origin, reportedBy: source.reporter ? [source.reporter] : [] };
        created.push(record);
        writes.push(
          { type: "put", sublevel: spaces.alerts, key: alert.id.toLowerCase(), value: record },
          { type: "put", sublevel: spaces.alertsByTime, key: timeKey(alert.at, alert.id), value: "" },
        );
      });
      for (const [name, value] of Object.entries(source.meta ?? {})) writes.push({ type: "put", sublevel: spaces.meta, key: name, value });
      await this.ctx.commit(writes);
      return created;
    });
  }

  /**
   * Records who acknowledged an alert (`by`: the authenticated caller; `role` its role) and logs it
   * in the audit log in the same synced batch; ALERT_NOT_FOUND, ALERT_ALREADY_ACKNOWLEDGED.
   */
  acknowledge(id: string, ack: { by: string; role: string; note: string; statedBy?: string | undefined }, nowMs: number): Promise<AlertRecord> {
    return this.ctx.write(async () => {
      const key = id.toLowerCase();
      const current = (await this.ctx.spaces.alerts.get(key)) as AlertRecord | undefined;
      if (!current) throw new SettlenetError("ALERT_NOT_FOUND", `no alert ${id}`, { id });
      if (current.ack) throw new SettlenetError("ALERT_ALREADY_ACKNOWLEDGED", `alert ${id} was acknowledged by ${current.ack.by}`, { id, ack: current.ack });
      const next: AlertRecord = { ...current, ack: { by: ack.by, atMs: nowMs, note: ack.note, ...(ack.statedBy === undefined ? {} : { statedBy: ack.statedBy }) } };
      const logged = await this.audit.prepare({
        actor: ack.by,
        role: ack.role,
        action: "alert.acknowledge",
        target: key,
        details: { rule: current.rule, account: current.account, note: ack.note, ...(ack.statedBy === undefined ? {} : { statedBy: ack.statedBy }) },
      });
      await this.ctx.commit([{ type: "put", sublevel: this.ctx.spaces.alerts, key, value: next }, ...logged.writes]);
      return next;
    });
  }

  /** Alerts newest first (by chain time), filtered, with an opaque cursor. */
  list(filter: AlertFilter): Promise<Page<AlertRecord>> {
    return this.ctx.read(async () => {
      const { limit, cursor, from, to } = filter;
      if (!Number.isInteger(limit) || limit < 1) throw new SettlenetError("INVALID_ARGUMENT", "limit must be a positive integer", { limit });
      const size = Math.min(limit, MAX_ALERT_PAGE);
      const gte = pad(from ?? 0, TIME_WIDTH);
      let lt = `${pad(to ?? 10 ** TIME_WIDTH - 1, TIME_WIDTH)}${String.fromCharCode(SEP.charCodeAt(0) + 1)}`;
      if (cursor !== undefined) {
        const shape = new RegExp(`^\\d{${TIME_WIDTH}}${SEP}0x[0-9a-f]{64}$`);
        const key = cursorKey(cursor, (k) => shape.test(k), "INVALID_CURSOR");
        if (key < lt) lt = key;
      }
      const items: AlertRecord[] = [];
      let last: string | undefined;
      let scanned = 0;
      let more = false;
      const account = filter.account?.toLowerCase();
      for await (const key of this.ctx.spaces.alertsByTime.keys({ gte, lt, reverse: true })) {
        if (items.length === size || scanned === MAX_SCAN) {
          more = true;
          break;
        }
        scanned += 1;
        last = key;
        const record = (await this.ctx.spaces.alerts.get(key.slice(key.lastIndexOf(SEP) + 1))) as AlertRecord | undefined;
        if (!record) continue;
        if (filter.rule && record.rule !== filter.rule) continue;
        if (filter.category && record.category !== filter.category) continue;
        if (account && record.account.toLowerCase() !== account) continue;
        if (filter.status === "open" && record.ack) continue;
        if (filter.status === "acknowledged" && !record.ack) continue;
        items.push(record);
      }
      return more && last !== undefined ? { items, next: keyCursor(last) } : { items };
    });
  }

  /** Number of stored alerts per rule and acknowledgement state (for metrics). */
  counts(): Promise<{ rule: AlertRule; open: number; acknowledged: number }[]> {
    return this.ctx.read(async () => {
      const counts = new Map<AlertRule, { open: number; acknowledged: number }>();
      for await (const value of this.ctx.spaces.alerts.values()) {
        const record = value as AlertRecord;
        const entry = counts.get(record.rule) ?? { open: 0, acknowledged: 0 };
        if (record.ack) entry.acknowledged += 1;
        else entry.open += 1;
        counts.set(record.rule, entry);
      }
      return [...counts].map(([rule, c]) => ({ rule, ...c }));
    });
  }

  /**
   * Indexed payments in time order (paidAt, then payment id) from `fromPaidAt`, or strictly after
   * payment `after` when given, at most `max` (the AML monitor's backlog; it filters by block itself).
   */
  paymentsPaidSince(fromPaidAt: number, max: number, after?: { paidAt: number; paymentId: string }): Promise<PaymentRecord[]> {
    return this.ctx.read(async () => {
      const range = after ? { gt: timeKey(after.paidAt, after.paymentId) } : { gte: pad(fromPaidAt, TIME_WIDTH) };
      const keys = await this.ctx.spaces.byTime.keys({ ...range, limit: max }).all();
      if (keys.length === 0) return [];
      const records = (await this.ctx.spaces.payments.getMany(keys.map((key) => key.slice(key.lastIndexOf(SEP) + 1)))) as (PaymentRecord | undefined)[];
      return records.filter((record): record is PaymentRecord => record !== undefined);
    });
  }
}
