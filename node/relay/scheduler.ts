/**
 * Failover for operations that arrived by gossip. The node whose API accepted an operation relays it
 * at once (the first turn); every other active institution watches it and relays it only if nobody
 * settled it by its own turn: `failoverTimeoutMs` × (1 + its failover position). When its turn comes,
 * the node first brings its index up to the chain head (`catchUp`): the index lags the chain by a poll
 * interval or more, and relaying what the API node already executed costs a whole transaction on a
 * chain that is busy already (under load, that was most failover traffic).
 */
import { failoverDelayMs, failoverPosition } from "../../core/chain/failover.js";
import type { Logger } from "../services.js";
import { describe } from "./sender.js";

export interface FailoverSchedulerOptions {
  /** This node's institution id. */
  institutionId: string;
  /** Wait per failover turn. */
  failoverTimeoutMs: number;
}

export interface FailoverSchedulerModules<T> {
  /** Active institutions (RegistryView.activeInstitutions). */
  activeInstitutions: () => { id: string }[];
  /** Indexes the chain up to its head now (settling what it finds executed); absent: fail over on the index as it is. */
  catchUp?: () => Promise<unknown>;
  /** Called when a watched item's turn came and it is still unsettled. */
  onDue: (id: string, item: T) => void;
  logger: Logger;
}

interface Watched<T> {
  item: T;
  dueAt: number;
  timer?: NodeJS.Timeout;
}

/** Watches gossip operations and hands each to `onDue` when this node's failover turn comes. */
export class FailoverScheduler<T> {
  private readonly watching = new Map<string, Watched<T>>();
  /** The catch-up that turns coming now wait for (one at a time; at most one queued). */
  private catchUpRunning: Promise<void> = Promise.resolve();
  private catchUpQueued: Promise<void> | undefined;
  private running = false;

  constructor(
    private readonly options: FailoverSchedulerOptions,
    private readonly modules: FailoverSchedulerModules<T>,
  ) {}

  /**
   * Watches `id` from `since` (ms); false if this node is no active institution (it never relays it).
   * Timers run only between start() and stop().
   */
  watch(id: string, item: T, since: number): boolean {
    const institutions = this.modules.activeInstitutions().map((institution) => institution.id);
    const position = failoverPosition(id, this.options.institutionId, institutions);
    if (position < 0) return false;
    // The API node that accepted the operation holds the first turn.
    const dueAt = since + failoverDelayMs(position + 1, this.options.failoverTimeoutMs);
    this.watching.set(id, { item, dueAt });
    if (this.running) this.arm(id);
    return true;
  }

  has(id: string): boolean {
    return this.watching.has(id);
  }

  /** Stops watching `id` (settled, or taken over by a stored record). */
  cancel(id: string): void {
    const watched = this.watching.get(id);
    if (!watched) return;
    clearTimeout(watched.timer);
    this.watching.delete(id);
  }

  /** Arms the timers of everything watched. */
  start(): void {
    this.running = true;
    for (const [id, watched] of this.watching) if (!watched.timer) this.arm(id);
  }

  /** Clears every timer and forgets what it watched. */
  stop(): void {
    this.running = false;
    for (const watched of this.watching.values()) clearTimeout(watched.timer);
    this.watching.clear();
  }

  private arm(id: string): void {
    const watched = this.watching.get(id);
    if (!watched) return;
    watched.timer = setTimeout(() => {
      if (this.watching.get(id) !== watched) return;
      // Still watched while the index catches up: cancel() drops it if it was executed meanwhile.
      void this.caughtUp().then(() => {
        if (!this.running || this.watching.get(id) !== watched) return;
        this.watching.delete(id);
        this.modules.logger.info({ id }, "gossip operation not settled in time: relaying it");
        this.modules.onDue(id, watched.item);
      });
    }, Math.max(0, watched.dueAt - Date.now()));
    watched.timer.unref();
  }

  /**
   * Resolves after a catch-up that started after this call (turns coming together share it); never
   * rejects: if the chain cannot be read, the failover goes ahead on the index as it is.
   */
  private caughtUp(): Promise<void> {
    const catchUp = this.modules.catchUp;
    if (!catchUp) return Promise.resolve();
    if (this.catchUpQueued) return this.catchUpQueued;
    const queued = this.catchUpRunning.then(async () => {
      this.catchUpQueued = undefined;
      try {
        await catchUp();
      } catch (error) {
        this.modules.logger.debug({ error: describe(error) }, "could not catch up with the chain before a failover; relaying on the index as it is");
      }
    });
    this.catchUpQueued = queued;
    this.catchUpRunning = queued;
    return queued;
  }
}
