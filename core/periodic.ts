/**
 * A background job that runs now, then every `intervalMs`, one run at a time (the gateway's keeper,
 * reconciler and overdue check; the node's overdue check and custodian service): an on-demand run
 * (an admin command, a test) joins the timer's run in progress instead of racing it, and `stop`
 * waits for that run to end.
 */
import type { Logger } from "pino";

/** Runs `run` at start and every `intervalMs` (0: only on demand), never two at once. */
export class PeriodicRunner<T> {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<T> | undefined;
  private stopped = true;
  private stopping = false;

  constructor(
    /** Names the job in the log line of a failed run. */
    private readonly name: string,
    private readonly intervalMs: number,
    private readonly run: () => Promise<T>,
    private readonly logger: Logger,
  ) {}

  /** Set by `stop`: a run in progress should end at its next item. */
  get closing(): boolean {
    return this.stopping;
  }

  /** Runs now, then every `intervalMs` (0: only on demand). */
  start(): void {
    this.stopped = false;
    this.loop(0);
  }

  /** Stops the timer and waits for the run in progress, if any. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running?.catch(() => undefined);
  }

  /** One run (joins the one in progress, if any). */
  runOnce(): Promise<T> {
    this.running ??= this.run().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private loop(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.runOnce()
        .catch((error: unknown) => this.logger.warn({ err: error }, `${this.name} run failed`))
        .finally(() => {
          if (this.intervalMs > 0) this.loop(this.intervalMs);
        });
    }, delayMs);
    this.timer.unref();
  }
}
