/**
 * The chain's time as this node knows it: the latest block's timestamp, as the node's head poll reads
 * it (or a poll of its own where there is none), and read afresh on demand. Escrow and token deadlines go by block time, so the node judges them by
 * this clock, never by the machine's own: a node whose clock is minutes off still refuses exactly
 * what the contracts would.
 */
import type { Provider } from "ethers";
import { Gauge, type Registry } from "prom-client";

import type { PolledTime } from "./heads.js";

export class ChainClock {
  private latest: number | undefined;
  /** When (monotonic ms, this process) `latest` was first read. */
  private latestSeenAt = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly options: { pollIntervalMs: number },
    private readonly modules: { provider: Pick<Provider, "getBlock">; metrics?: Registry; heads?: { readonly latestTime: PolledTime | undefined } },
  ) {
    if (!modules.metrics) return;
    const registers = [modules.metrics];
    const now = () => this.now();
    new Gauge({
      name: "settlenet_chain_time_seconds",
      help: "The chain's present time as this node judges deadlines by (latest block timestamp plus the time since it was read)",
      registers,
      collect() {
        const chain = now();
        if (chain !== undefined) this.set(chain);
      },
    });
    new Gauge({
      name: "settlenet_clock_offset_seconds",
      help: "This machine's clock minus the chain's time: a large value means a skewed clock or a stalled chain (deadlines go by chain time either way)",
      registers,
      collect() {
        const chain = now();
        if (chain !== undefined) this.set(Date.now() / 1000 - chain);
      },
    });
  }

  /** Starts polling (a failed read keeps the last value); with the node's head poll, that poll is enough. */
  start(): void {
    void this.fresh();
    if (this.modules.heads) return;
    this.timer = setInterval(() => void this.fresh(), this.options.pollIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** The last timestamp read (undefined before the first read). */
  cached(): number | undefined {
    this.takePolled();
    return this.latest;
  }

  /**
   * The chain's present time: the latest block's timestamp plus the seconds elapsed since it was read
   * (a monotonic interval of this machine, so an offset of its clock does not matter). That is at
   * most what the next block will carry whether the chain mines at intervals or on demand, so a
   * deadline judged passed by it has passed for the contracts too. Undefined before the first read.
   */
  now(): number | undefined {
    this.takePolled();
    if (this.latest === undefined) return undefined;
    return this.latest + Math.floor((performance.now() - this.latestSeenAt) / 1000);
  }

  /** Reads the latest block now; the last known timestamp if the chain cannot be read. */
  async fresh(): Promise<number | undefined> {
    try {
      const block = await this.modules.provider.getBlock("latest");
      if (block) this.observe(block.timestamp, performance.now());
    } catch {
      // Unreadable for now: deadlines are judged by the last time known.
    }
    this.takePolled();
    return this.latest;
  }

  /** The head poll's newest block, if newer than the one known. */
  private takePolled(): void {
    const polled = this.modules.heads?.latestTime;
    if (polled) this.observe(polled.timestamp, polled.seenAtMs);
  }

  private observe(timestamp: number, seenAtMs: number): void {
    if (timestamp > (this.latest ?? -1)) {
      this.latest = timestamp;
      this.latestSeenAt = seenAtMs;
    }
  }
}
