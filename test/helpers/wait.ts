/**
 * The one way tests wait for something to happen: poll a condition with a generous deadline (never a
 * fixed sleep, never a wall-clock limit on how fast the thing must be).
 */

/** The first pause of waitFor: most conditions hold within a few tens of milliseconds. */
const FIRST_POLL_MS = 10;

/**
 * Polls `check` until it returns a truthy value or `timeoutMs` passes. The pause between checks starts
 * short and doubles up to `everyMs`: a condition that holds soon is seen soon, and a long wait costs
 * no more checks than polling every `everyMs` would.
 */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 30_000, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  let pauseMs = Math.min(FIRST_POLL_MS, everyMs);
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${lastError ? `: ${(lastError as Error).message}` : ""}`);
    await new Promise((r) => setTimeout(r, pauseMs));
    pauseMs = Math.min(pauseMs * 2, everyMs);
  }
}
