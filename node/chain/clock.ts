/**
 * The chain's time as this node knows it: the latest block's timestamp, refreshed in the background
 * and read afresh on demand (escrow deadlines go by block time, not by this machine's clock).
 */
import type { Provider } from "ethers";

export class ChainClock {
  private latest: number | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly options: { pollIntervalMs: number },
    private readonly modules: { provider: Pick<Provider, "getBlock"> },
  ) {}

  /** Starts polling (a failed read keeps the last value). */
  start(): void {
    void this.fresh();
    this.timer = setInterval(() => void this.fresh(), this.options.pollIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** The last timestamp read (undefined before the first read). */
  cached(): number | undefined {
    return this.latest;
  }

  /** Reads the latest block now; the last known timestamp if the chain cannot be read. */
  async fresh(): Promise<number | undefined> {
    try {
      const block = await this.modules.provider.getBlock("latest");
      if (block) this.latest = Math.max(this.latest ?? 0, block.timestamp);
    } catch {
      // Unreadable for now: deadlines are judged by the last time known.
    }
    return this.latest;
  }
}
