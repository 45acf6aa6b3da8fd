/**
 * Alerts for money stuck in an intermediate state, shared by the node (node/overdue/) and the gateway
 * (gateway/jobs/overdue.ts): each check hands the tracker what is overdue now per kind; the tracker
 * raises an alert for what is new (one warn log each, not one per check), clears what moved on (one
 * info log), and keeps per kind a gauge of the count and of the oldest one's age. Open alerts live in
 * memory: they are derived from stored state on every check, so a restarted process raises (and logs)
 * the ones still overdue once more.
 */
import type { Logger } from "pino";
import { Counter, Gauge, type Registry } from "prom-client";

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

  /** Whether `id` of `kind` is overdue now. */
  isOpen(kind: K, id: string): boolean {
    return this.open.has(`${kind}:${id}`);
  }

  summary(): OverdueKindSummary[] {
    return this.kinds.map((kind) => ({ kind, thresholdSeconds: this.options.thresholdSeconds[kind], ...(this.figures.get(kind) ?? { count: 0, oldestAgeSeconds: 0, truncated: false }) }));
  }
}
