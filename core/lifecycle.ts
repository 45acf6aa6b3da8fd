/** Start-up and shutdown helpers shared by the long-running processes (node, gateway, bank simulator). */
import type { Logger } from "pino";

/** Collects stop functions as parts start; `stopAll` stops them in reverse order, logging failures. */
export class StopStack {
  private readonly stops: (() => Promise<void>)[] = [];

  constructor(private readonly logger: Logger) {}

  push(stop: () => Promise<void>): void {
    this.stops.push(stop);
  }

  async stopAll(): Promise<void> {
    for (const stop of this.stops.splice(0).reverse()) {
      try {
        await stop();
      } catch (error) {
        this.logger.warn({ err: error }, "error while stopping");
      }
    }
  }
}

/** Stops the component on SIGINT/SIGTERM and exits 0 (1 if stopping fails). */
export function stopOnSignal(logger: Logger, stop: () => Promise<void>): void {
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "stopping");
    stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, "stop failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", () => shutdown("SIGINT"));
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  // Spawned with an IPC channel by the launcher (scripts/lib/launch/part.ts): if the launcher dies, stop too.
  if (process.send) process.once("disconnect", () => shutdown("disconnect"));
}

/** The waits of a background loop between its steps, which `wake()` ends at once (so that stopping the loop never waits out a pause). */
export class Waker {
  private wakeUp: (() => void) | undefined;

  /** Resolves after `ms`, or on wake(). */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wakeUp = done;
    });
  }

  /** Resolves when `event` does, or on wake(). */
  until(event: Promise<void>): Promise<void> {
    return new Promise((resolve) => {
      this.wakeUp = resolve;
      void event.then(resolve);
    });
  }

  /** Ends the wait in progress, if any. */
  wake(): void {
    this.wakeUp?.();
  }
}
