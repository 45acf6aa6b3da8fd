/**
 * The loop both chain indexers run: one sync step at a time, each time the node's head poll
 * (`heads`) sees a new block (without it: every poll interval), with exponential backoff while the
 * RPC fails, and a bounded wait on stop (the RPC may hang).
 */
import type { Logger } from "pino";

import { SettlenetError } from "../../core/errors.js";
import { Waker } from "../../core/lifecycle.js";
import { Serial } from "../../core/serial.js";
import type { ChainHeads } from "../chain/heads.js";

const BACKOFF_START_MS = 250;
const BACKOFF_CAP_MS = 5_000;
/** How long stop() waits for a step still blocked on the RPC. */
const STOP_WAIT_MS = 5_000;

export interface FollowerOptions {
  /** Names the indexer in its log lines ("indexer", "token indexer"). */
  name: string;
  pollIntervalMs: number;
}

/**
 * An indexer's catch-up: steps from `cursor` to `head` in block ranges of at most `maxBlocksPerStep`,
 * each stored by `step` with its cursor, then tells `stored` (a listener that throws is logged, not
 * retried: the step is stored). Returns the new cursor.
 */
export async function stepUpTo<T>(
  range: { cursor: number; head: number; maxBlocksPerStep: number },
  step: (from: number, to: number) => Promise<T>,
  stored: (result: T, to: number) => void,
  logger: Logger,
): Promise<number> {
  let { cursor } = range;
  while (cursor < range.head) {
    const to = Math.min(range.head, cursor + range.maxBlocksPerStep);
    const result = await step(cursor + 1, to);
    cursor = to;
    try {
      stored(result, to);
    } catch (error) {
      logger.error({ err: error }, "a listener of an indexed step failed");
    }
  }
  return cursor;
}

/** Runs `sync` (indexes up to the head, returns the new cursor) in the background until stopped. */
export class ChainFollower {
  private readonly serial = new Serial();
  private loop: Promise<void> | undefined;
  private stopped = true;
  private readonly waker = new Waker();

  constructor(
    private readonly options: FollowerOptions,
    private readonly modules: { logger: Logger; sync: (head?: number) => Promise<number>; heads?: ChainHeads },
  ) {}

  /** Starts following the chain in the background. */
  start(): void {
    if (this.loop) return;
    this.stopped = false;
    this.loop = this.run();
  }

  /** Stops following; waits for the step in progress (bounded, in case the RPC hangs). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.waker.wake();
    const loop = this.loop;
    this.loop = undefined;
    if (!loop) return;
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = await Promise.race([
      loop.then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), STOP_WAIT_MS))),
    ]);
    clearTimeout(timer);
    if (gaveUp) this.modules.logger.warn({ waitedMs: STOP_WAIT_MS }, `${this.options.name} stopped while a step was still waiting for the RPC`);
  }

  /** Indexes every block up to the head (`head` if given, else read from the chain); returns the new cursor. Calls run one at a time. */
  syncOnce(head?: number): Promise<number> {
    return this.serial.run(() => this.modules.sync(head));
  }

  private async run(): Promise<void> {
    const { logger } = this.modules;
    const { name } = this.options;
    let failures = 0;
    // The head the head poll woke this loop for: no need to ask the chain for it again.
    let head: number | undefined;
    while (!this.stopped) {
      let delay = this.options.pollIntervalMs;
      try {
        const seen = this.modules.heads?.seen;
        await this.syncOnce(head);
        head = undefined;
        if (failures > 0) logger.info({ failures }, `${name} caught up again after RPC errors`);
        failures = 0;
        if (seen !== undefined && this.modules.heads) {
          await this.untilStopped(this.modules.heads.changed(seen));
          head = this.modules.heads.latest;
          continue;
        }
      } catch (error) {
        if (this.stopped) break;
        if (error instanceof SettlenetError && error.code === "STORAGE_CLOSED") {
          logger.error({ err: error }, `${name} stopped: storage is closed`);
          break;
        }
        failures += 1;
        head = undefined;
        delay = Math.min(BACKOFF_CAP_MS, BACKOFF_START_MS * 2 ** (failures - 1));
        logger.warn({ err: error, failures, retryInMs: delay }, `${name} step failed; retrying`);
      }
      await this.sleep(delay);
    }
  }

  /** Waits for `event`, or for stop(). */
  private untilStopped(event: Promise<void>): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return this.waker.until(event);
  }

  private sleep(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return this.waker.sleep(ms);
  }
}

/** An indexer a ChainFollower runs: starting, stopping and catching up are the follower's. */
export abstract class FollowedIndexer {
  protected abstract readonly follower: ChainFollower;

  /** Starts following the chain in the background. */
  start(): void {
    this.follower.start();
  }

  /** Stops following; waits for the step in progress (bounded, in case the RPC hangs). */
  stop(): Promise<void> {
    return this.follower.stop();
  }

  /** Indexes every block up to the head (less confirmations); returns the new cursor. Calls run one at a time. */
  syncOnce(): Promise<number> {
    return this.follower.syncOnce();
  }
}
