/**
 * Pruning of request records: request nonces and Idempotency-Key records are kept only until they
 * expire (storage/requests.ts indexes them by expiry). Pruned once when the gateway is ready, then
 * every `intervalMs`.
 */
import type { Logger } from "pino";

import type { GatewayStorage } from "../storage/db.js";

export interface PruneOptions {
  /** Time between prunes after the first (0: only the first). */
  intervalMs: number;
}

export interface PruneModules {
  storage: Pick<GatewayStorage, "nonces" | "idempotency">;
  logger: Logger;
  now: () => number;
}

/** Deletes expired request nonces and idempotency records. */
export class RequestRecordPruner {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly options: PruneOptions,
    private readonly modules: PruneModules,
  ) {}

  /** Prunes now, then every `intervalMs`. */
  async start(): Promise<void> {
    await this.prune();
    if (this.options.intervalMs > 0) {
      this.timer = setInterval(() => this.prune().catch((error: unknown) => this.modules.logger.warn({ err: error }, "prune failed")), this.options.intervalMs);
      this.timer.unref();
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Deletes what has expired; returns how many of each. */
  async prune(): Promise<{ nonces: number; idempotencyRecords: number }> {
    const at = this.modules.now();
    const [nonces, idempotencyRecords] = await Promise.all([this.modules.storage.nonces.prune(at), this.modules.storage.idempotency.prune(at)]);
    if (nonces + idempotencyRecords > 0) this.modules.logger.debug({ nonces, idempotencyRecords }, "pruned expired request records");
    return { nonces, idempotencyRecords };
  }
}
