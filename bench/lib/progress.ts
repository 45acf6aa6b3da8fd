/**
 * Progress of a running benchmark on stderr: one line rewritten in place on a terminal, a line every
 * few seconds otherwise (CI logs), so stdout keeps only the result table.
 */

const tty = process.stderr.isTTY === true;

/** A progress reporter for one benchmark. */
export class Progress {
  private lastLine = 0;
  private readonly started = performance.now();

  constructor(private readonly name: string) {}

  /** Reports `message` (rate-limited off a terminal). */
  update(message: string): void {
    const now = performance.now();
    const text = `[${this.name} ${((now - this.started) / 1000).toFixed(1)}s] ${message}`;
    if (tty) {
      process.stderr.write(`\r\x1b[2K${text}`);
    } else if (now - this.lastLine >= 5_000) {
      process.stderr.write(`${text}\n`);
      this.lastLine = now;
    }
  }

  /** A line that always stays (a phase starts or ends). */
  log(message: string): void {
    const text = `[${this.name} ${((performance.now() - this.started) / 1000).toFixed(1)}s] ${message}`;
    process.stderr.write(tty ? `\r\x1b[2K${text}\n` : `${text}\n`);
  }

  /** Calls `update(render())` every `everyMs` until the returned stop function is called. */
  every(everyMs: number, render: () => string): () => void {
    const timer = setInterval(() => this.update(render()), everyMs);
    timer.unref();
    return () => {
      clearInterval(timer);
      if (tty) process.stderr.write("\r\x1b[2K");
    };
  }
}
