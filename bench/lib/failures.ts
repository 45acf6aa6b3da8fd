/**
 * Failures of a benchmark, counted by code: every request that did not end as the benchmark expects is
 * one failure, and a row with any failure is never "met". The code is the one the system answered
 * with (a problem document's `code`, the node's code behind a 5xx), or what the client saw when there
 * was no answer (TIMEOUT, ECONNRESET, ...).
 */
import { SettlenetError } from "../../core/errors.js";

/** Refusal codes that tell the client to come back later: admission control working, not a failure. */
export const RETRYABLE_CODES: ReadonlySet<string> = new Set(["RELAY_BACKLOG"]);

/** Counts by code, with the first few messages for the results file. */
export class Failures {
  private readonly counts = new Map<string, number>();
  readonly examples: string[] = [];

  /** Counts `n` failures with `code`; keeps `example` among the first ten messages. */
  add(code: string, example?: string, n = 1): void {
    if (n <= 0) return;
    this.counts.set(code, (this.counts.get(code) ?? 0) + n);
    if (example !== undefined && this.examples.length < 10) this.examples.push(`${code}: ${example}`.slice(0, 300));
  }

  /** Adds every count of `other` (and its examples, when it is a Failures). */
  merge(other: Record<string, number> | Failures): void {
    if (other instanceof Failures) {
      for (const example of other.examples) if (this.examples.length < 10) this.examples.push(example);
      other = other.byCode();
    }
    for (const [code, n] of Object.entries(other)) this.add(code, undefined, n);
  }

  get total(): number {
    let sum = 0;
    for (const n of this.counts.values()) sum += n;
    return sum;
  }

  /** Code → count, most frequent first. */
  byCode(): Record<string, number> {
    return Object.fromEntries([...this.counts.entries()].sort((a, b) => b[1] - a[1]));
  }
}

/** "3 failed (2 TIMEOUT, 1 HTTP_500)" or "0 failed". */
export function describeFailures(byCode: Record<string, number> | undefined): string {
  const entries = Object.entries(byCode ?? {});
  const total = entries.reduce((sum, [, n]) => sum + n, 0);
  if (total === 0) return "0 failed";
  return `${total} failed (${entries.map(([code, n]) => `${n} ${code}`).join(", ")})`;
}

/** The code of a thrown error: the node's code behind a coded error, else the transport's error code. */
export function codeOfError(error: unknown): string {
  if (error instanceof SettlenetError) {
    const nodeCode = error.meta["nodeCode"];
    return typeof nodeCode === "string" ? nodeCode : error.code;
  }
  if (error instanceof Error) {
    if (error.name === "TimeoutError" || error.name === "AbortError") return "TIMEOUT";
    const cause = (error as Error & { cause?: { code?: unknown } }).cause;
    if (cause && typeof cause.code === "string") return cause.code;
    const code = (error as Error & { code?: unknown }).code;
    if (typeof code === "string") return code;
    return error.name === "Error" ? "ERROR" : error.name;
  }
  return "ERROR";
}

/** The code of an HTTP answer that was not the expected one: its problem document's code, else its status. */
export function codeOfAnswer(status: number, body: unknown): string {
  const code = typeof body === "object" && body !== null && "code" in body ? (body as { code: unknown }).code : undefined;
  return typeof code === "string" ? code : `HTTP_${status}`;
}

/** Thrown by a load task after it counted its own failure, so the catch-all does not count it again. */
export class CountedFailure extends Error {}
