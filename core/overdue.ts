/**
 * Alerts for money stuck in an intermediate state, shared by the node (node/overdue/) and the gateway
 * (gateway/jobs/overdue.ts): each check hands the tracker what is overdue now per kind; the tracker
 * raises an alert for what is new (one warn log each, not one per check), clears what moved on (one
 * info log), and keeps per kind a gauge of the count and of the oldest one's age. The open alerts are
 * kept in the process's store (`OverdueAlertStore`, one meta value) whenever they change and read back
 * at the first check, so a restarted process neither logs nor counts again what it had raised already,
 * and clears what moved on while it was down.
 */
import type { Logger } from "pino";
import { Counter, Gauge, type Registry } from "prom-client";
import { z } from "zod";

/** Something waiting too long: its id, since when it waits, and what to log and show with it. */
export interface OverdueCandidate {
  id: string;
  sinceMs: number;
  detail?: Record<string, string | number | boolean>;
}

/** One check's finding for one kind. */
export interface OverdueCheck {
  /** Everything overdue that the check looked at. */
  candidates: OverdueCandidate[];
  /**
   * Whether an open alert not among the candidates may be cleared (default yes): a check that looked
   * at a bounded part of the state says no for what lies outside it.
   */
  judged?: (alert: OpenOverdue) => boolean;
  /** The check looked at fewer items than were overdue: the count is a lower bound. */
  truncated?: boolean;
}

/** An open alert. */
export interface OpenOverdue extends OverdueCandidate {
  kind: string;
  raisedAtMs: number;
  ageSeconds: number;
}

const openOverdueSchema = z.strictObject({
  kind: z.string().min(1),
  id: z.string().min(1),
  sinceMs: z.number(),
  raisedAtMs: z.number(),
  ageSeconds: z.number(),
  detail: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
});
/** The stored set of raised alerts. */
const storedOverdueSchema = z.strictObject({ v: z.literal(1), alerts: z.array(openOverdueSchema) });

/** Where a process keeps its raised alerts (its LevelDB's meta keyspace). */
export interface OverdueAlertStore {
  getMeta<T>(name: string): Promise<T | undefined>;
  putMeta(name: string, value: unknown): Promise<void>;
}

/** The meta key of the raised alerts. */
export const OVERDUE_META = "overdue.raised";

/** Metric names of one process (units in the names; the node's start with settlenet_, the gateway's with gateway_). */
export interface OverdueMetricNames {
  items: string;
  oldestAge: string;
  raised: string;
}

/** Per kind: the threshold, and the figures of the last check. */
export interface OverdueKindSummary {
  kind: string;
  thresholdSeconds: number;
  count: number;
  oldestAgeSeconds: number;
  truncated: boolean;
}

export class OverdueTracker<K extends string> {
  private readonly open = new Map<string, OpenOverdue>();
  private readonly figures = new Map<K, { count: number; oldestAgeSeconds: number; truncated: boolean }>();
  private readonly items: Gauge<"kind">;
  private readonly oldestAge: Gauge<"kind">;
  private readonly raised: Counter<"kind">;
  /** When the last check ended (0: none yet). */
  checkedAtMs = 0;
  private restored = false;
  /** The open alerts' keys as last stored (undefined: not stored yet by this process). */
  private savedKeys: string | undefined;

  constructor(
    private readonly options: { thresholdSeconds: Readonly<Record<K, number>>; metrics: OverdueMetricNames; what: string },
    private readonly modules: { logger: Logger; metrics: Registry },
  ) {
    const registers = [modules.metrics];
    this.items = new Gauge({ name: options.metrics.items, help: `${options.what} overdue at the last check, by kind`, labelNames: ["kind"], registers });
    this.oldestAge = new Gauge({ name: options.metrics.oldestAge, help: `Age of the oldest ${options.what} overdue at the last check, by kind (0 when none)`, labelNames: ["kind"], registers });
    this.raised = new Counter({ name: options.metrics.raised, help: `Overdue alerts raised, by kind`, labelNames: ["kind"], registers });
    for (const kind of this.kinds) {
      this.items.set({ kind }, 0);
      this.oldestAge.set({ kind }, 0);
      this.raised.inc({ kind }, 0);
    }
  }

  get kinds(): K[] {
    return Object.keys(this.options.thresholdSeconds) as K[];
  }

  /** The cut-off of `kind` at `nowMs`: what waits since before it is overdue. */
  cutoffMs(kind: K, nowMs: number): number {
    return nowMs - this.options.thresholdSeconds[kind] * 1000;
  }

  /** Applies one check of `kind`: raises the new alerts, clears those that moved on; returns both. */
  update(kind: K, check: OverdueCheck, nowMs: number): { raised: OpenOverdue[]; cleared: OpenOverdue[] } {
    const log = this.modules.logger;
    const thresholdSeconds = this.options.thresholdSeconds[kind];
    const raised: OpenOverdue[] = [];
    const cleared: OpenOverdue[] = [];
    const present = new Set<string>();
    let oldest = nowMs;
    for (const candidate of check.candidates) {
      const key = `${kind}:${candidate.id}`;
      present.add(key);
      oldest = Math.min(oldest, candidate.sinceMs);
      const ageSeconds = Math.max(0, Math.floor((nowMs - candidate.sinceMs) / 1000));
      const known = this.open.get(key);
      if (known) {
        known.ageSeconds = ageSeconds;
        continue;
      }
      const alert: OpenOverdue = { ...candidate, kind, raisedAtMs: nowMs, ageSeconds };
      this.open.set(key, alert);
      raised.push(alert);
      this.raised.inc({ kind });
      log.warn({ kind, id: candidate.id, ageSeconds, thresholdSeconds, ...candidate.detail }, `${this.options.what} overdue`);
    }
    for (const [key, alert] of this.open) {
      if (alert.kind !== kind || present.has(key) || (check.judged && !check.judged(alert))) continue;
      this.open.delete(key);
      cleared.push(alert);
      log.info({ kind, id: alert.id, waitedSeconds: Math.floor((nowMs - alert.sinceMs) / 1000) }, `${this.options.what} no longer overdue`);
    }
    const figures = { count: check.candidates.length, oldestAgeSeconds: Math.max(0, Math.floor((nowMs - oldest) / 1000)), truncated: check.truncated ?? false };
    this.figures.set(kind, figures);
    this.items.set({ kind }, figures.count);
    this.oldestAge.set({ kind }, figures.oldestAgeSeconds);
    return { raised, cleared };
  }

  /** Open alerts, oldest wait first (of one kind, or of every kind). */
  alerts(kind?: K): OpenOverdue[] {
    return [...this.open.values()].filter((a) => kind === undefined || a.kind === kind).sort((a, b) => a.sinceMs - b.sinceMs || a.id.localeCompare(b.id));
  }

  /**
   * Reads back the alerts raised before a restart (once; later calls do nothing): they stay open without
   * a new log or count, and the next update of their kind clears those that moved on. A stored value
   * that does not parse is logged and dropped (the alerts still overdue are raised again).
   */
  async restore(store: OverdueAlertStore): Promise<void> {
    if (this.restored) return;
    const stored = await store.getMeta<unknown>(OVERDUE_META);
    this.restored = true;
    this.savedKeys = "";
    if (stored === undefined) return;
    const parsed = storedOverdueSchema.safeParse(stored);
    if (!parsed.success) {
      this.modules.logger.warn({ issues: parsed.error.issues.length }, `stored ${this.options.what} overdue alerts unreadable; raising anew`);
      return;
    }
    const kinds = new Set<string>(this.kinds);
    for (const alert of parsed.data.alerts) {
      if (kinds.has(alert.kind)) this.open.set(`${alert.kind}:${alert.id}`, alert);
    }
    this.savedKeys = [...this.open.keys()].sort().join("\n");
  }

  /** Stores the open alerts (durably, before the next check) if they changed since the last save. */
  async save(store: OverdueAlertStore): Promise<void> {
    const keys = [...this.open.keys()].sort().join("\n");
    if (keys === this.savedKeys) return;
    await store.putMeta(OVERDUE_META, { v: 1, alerts: [...this.open.values()] });
    this.savedKeys = keys;
  }

  /** Whether `id` of `kind` is overdue now. */
  isOpen(kind: K, id: string): boolean {
    return this.open.has(`${kind}:${id}`);
  }

  summary(): OverdueKindSummary[] {
    return this.kinds.map((kind) => ({ kind, thresholdSeconds: this.options.thresholdSeconds[kind], ...(this.figures.get(kind) ?? { count: 0, oldestAgeSeconds: 0, truncated: false }) }));
  }
}
