/**
 * One poll of the chain's head for every follower in the node (the payment indexer, the token indexer,
 * the registry view) and for its clock: each of them used to ask for the block number or the latest
 * block on a timer of its own, so a quiet node sent several requests a second that the chain had to
 * answer, all to learn that nothing happened. Followers wait for a new head instead and then read what
 * they need; the clock reads the time of the latest block polled.
 */
import type { Logger } from "pino";

const BACKOFF_CAP_MS = 5_000;

export interface ChainHeadsOptions {
  pollIntervalMs: number;
}

export interface ChainHeadsModules {
  provider: { getBlock(tag: "latest"): Promise<{ number: number; timestamp: number } | null> };
  logger: Logger;
}

/** The latest block a poll read: its timestamp, and when (this process's `performance.now()`, ms) it was read. */
export interface PolledTime {
  timestamp: number;
  seenAtMs: number;
}

/** Polls the chain's latest block and tells waiters when its number changes. */
export class ChainHeads {
  private version = 0;
  private head: number | undefined;
  private time: PolledTime | undefined;
  private readonly waiters = new Set<() => void>();
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private failures = 0;

  constructor(
    private readonly options: ChainHeadsOptions,
    private readonly modules: ChainHeadsModules,
  ) {}

  /** Changes whenever a new head is seen: read it before catching up, then wait with `changed`. */
  get seen(): number {
    return this.version;
  }

  /** The last head read (undefined before the first read): what a follower woken by `changed` catches up to. */
  get latest(): number | undefined {
    return this.head;
  }

  /** The timestamp of the newest block a poll read, and when (undefined before the first read). */
  get latestTime(): PolledTime | undefined {
    return this.time;
  }

  /** Starts polling. */
  start(): void {
    if (this.running) return;
    this.running = true;
    void this.poll();
  }

  /** Stops polling and releases every waiter. */
  stop(): void {
    this.running = false;
    clearTimeout(this.timer);
    this.release();
  }

  /**
   * A block this node knows was mined without polling (its relayer's receipt): followers hear of it now
   * rather than at the next poll, so the indexer records a relayed batch's payments close behind the
   * relayer's outcome (the change feed then carries both in one page). An older or known block changes nothing.
   */
  saw(blockNumber: number): void {
    if (!this.running || (this.head !== undefined && blockNumber <= this.head)) return;
    this.head = blockNumber;
    this.version++;
    this.release();
  }

  /** Resolves once a head newer than the one `seen` was read at has been seen (at once if it has), or on stop. */
  changed(seen: number): Promise<void> {
    if (!this.running || this.version !== seen) return Promise.resolve();
    return new Promise((resolve) => this.waiters.add(resolve));
  }

  private async poll(): Promise<void> {
    try {
      const block = await this.modules.provider.getBlock("latest");
      if (!block) throw new Error("the chain has no latest block");
      this.failures = 0;
      const head = block.number;
      if (block.timestamp > (this.time?.timestamp ?? -1)) this.time = { timestamp: block.timestamp, seenAtMs: performance.now() };
      if (head !== this.head) {
        this.head = head;
        this.version++;
        this.release();
      }
    } catch (error) {
      this.failures++;
      // The followers' own reads fail and log too; this only slows the polling down.
      this.modules.logger.debug({ err: error, failures: this.failures }, "reading the chain's head failed");
    } finally {
      if (this.running) {
        const delay = this.failures === 0 ? this.options.pollIntervalMs : Math.min(BACKOFF_CAP_MS, this.options.pollIntervalMs * 2 ** this.failures);
        this.timer = setTimeout(() => void this.poll(), delay);
        this.timer.unref();
      }
    }
  }

  private release(): void {
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const resolve of waiters) resolve();
  }
}
