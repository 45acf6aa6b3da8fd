/** Closed-loop load: `concurrency` workers each run `task` back to back until the duration ends. */

export interface LoadOptions {
  concurrency: number;
  durationMs: number;
}

export interface LoadResult {
  started: number;
  completed: number;
  failed: number;
  elapsedMs: number;
  /** First few failure messages, for the results file. */
  errors: string[];
}

/** Runs the load; a task that throws counts as failed (and its message is kept), never stops the run. */
export async function closedLoop(options: LoadOptions, task: (seq: number) => Promise<void>, onTick?: (r: LoadResult) => void): Promise<LoadResult> {
  const result: LoadResult = { started: 0, completed: 0, failed: 0, elapsedMs: 0, errors: [] };
  const start = performance.now();
  const end = start + options.durationMs;
  const tick = onTick ? setInterval(() => onTick({ ...result, elapsedMs: performance.now() - start }), 500) : undefined;
  const worker = async () => {
    while (performance.now() < end) {
      const seq = result.started++;
      try {
        await task(seq);
        result.completed += 1;
      } catch (error) {
        result.failed += 1;
        if (result.errors.length < 10) result.errors.push((error as Error).message);
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  if (tick) clearInterval(tick);
  result.elapsedMs = performance.now() - start;
  return result;
}
