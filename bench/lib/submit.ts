/**
 * Pre-signed operations submitted to a node's API in batches with several in flight, as fast as the
 * node answers. Each operation ends accepted, refused with a retryable code (admission control), or
 * failed with its code (a refusal, or a batch the node did not answer, whose operations' fate is then
 * unknown).
 */
import type { NodeApiClient } from "../../core/api/client.js";
import type { BatchAnswer } from "../../core/api/operations.js";
import type { EscrowOperationInput } from "../../core/operations/index.js";
import { Failures, RETRYABLE_CODES, codeOfError } from "./failures.js";

export interface Submission {
  /** Ids (lower case) of the accepted operations. */
  accepted: Set<string>;
  retryable: Failures;
  failures: Failures;
  /** Operations handed to the node so far (for progress). */
  submitted: number;
}

/** Submits `ops` in batches of `batch`, `concurrency` in flight; `into` is filled as answers come. */
export async function submitAll(api: NodeApiClient, ops: { id: string; op: EscrowOperationInput }[], options: { batch: number; concurrency: number }, into: Submission = newSubmission()): Promise<Submission> {
  let next = 0;
  await Promise.all(
    Array.from({ length: options.concurrency }, async () => {
      while (next < ops.length) {
        const batch = ops.slice(next, next + options.batch);
        next += batch.length;
        into.submitted += batch.length;
        let answer: BatchAnswer;
        try {
          answer = await api.submitBatch(batch.map((b) => b.op));
        } catch (error) {
          const code = codeOfError(error);
          // A batch refused as a whole with a retryable code was not accepted: admission control, not a failure.
          (RETRYABLE_CODES.has(code) ? into.retryable : into.failures).add(code, (error as Error).message, batch.length);
          continue;
        }
        for (const [i, r] of answer.results.entries()) {
          if (r.status === "accepted") into.accepted.add(r.id.toLowerCase());
          else (RETRYABLE_CODES.has(r.code) ? into.retryable : into.failures).add(r.code, `${batch[i]?.id ?? "?"}: ${r.problem.title}`);
        }
      }
    }),
  );
  return into;
}

export function newSubmission(): Submission {
  return { accepted: new Set(), retryable: new Failures(), failures: new Failures(), submitted: 0 };
}
