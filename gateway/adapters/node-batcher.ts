/**
 * Submissions to the institution node in groups: operations submitted within `windowMs` of each other
 * (or until `maxOperations` wait) go to the node as one batch (`{"operations": [...]}`), which the
 * node validates, stores in one synced batch and gossips together; each caller is answered with its
 * own item's result. One request per group instead of one per operation is what lets the node and the
 * gateway carry hundreds of authorisations a second. A failure of the whole request (the node cannot
 * be reached, does not answer in time, or turns work away for now) is every caller's failure, with
 * the client's code (NODE_UNAVAILABLE, NODE_TIMEOUT, a NodeApiError with retryAfterSeconds).
 */
import type { Logger } from "pino";

import { MAX_BATCH } from "../../core/api/operations.js";
import type { NodeApiClient, SubmitResult } from "../../core/api/client.js";
import { SettlenetError } from "../../core/errors.js";
import type { OperationInput } from "../../core/operations/index.js";

/** What the gateway's services submit through (the batcher, or the client itself). */
export interface NodeSubmitter {
  submit(op: OperationInput): Promise<SubmitResult>;
}

export interface NodeBatcherOptions {
  /** How long the first operation of a group waits for others. */
  windowMs: number;
  /** A group is sent at once when it reaches this size (at most the node's batch limit). */
  maxOperations: number;
}

interface Waiting {
  op: OperationInput;
  resolve: (result: SubmitResult) => void;
  reject: (error: unknown) => void;
}

/** Groups submissions into batch requests; see the module comment. */
export class NodeBatcher implements NodeSubmitter {
  private queue: Waiting[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly options: NodeBatcherOptions,
    private readonly modules: { node: Pick<NodeApiClient, "submitBatch">; logger: Logger },
  ) {
    if (!Number.isInteger(options.maxOperations) || options.maxOperations < 1 || options.maxOperations > MAX_BATCH) {
      throw new SettlenetError("INVALID_ARGUMENT", `maxOperations must be 1 to ${MAX_BATCH}`, { maxOperations: options.maxOperations });
    }
  }

  submit(op: OperationInput): Promise<SubmitResult> {
    return new Promise<SubmitResult>((resolve, reject) => {
      this.queue.push({ op, resolve, reject });
      if (this.queue.length >= this.options.maxOperations) this.flush();
      else this.timer ??= setTimeout(() => this.flush(), this.options.windowMs);
    });
  }

  /** Sends what is waiting now (a group never waits longer than its window). */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const group = this.queue;
    this.queue = [];
    if (group.length > 0) void this.send(group);
  }

  private async send(group: Waiting[]): Promise<void> {
    let answer;
    try {
      answer = await this.modules.node.submitBatch(group.map((w) => w.op));
    } catch (error) {
      for (const waiting of group) waiting.reject(error);
      return;
    }
    if (answer.results.length !== group.length) {
      const error = new SettlenetError("NODE_UNAVAILABLE", `the node answered ${answer.results.length} results for a batch of ${group.length}`, {});
      for (const waiting of group) waiting.reject(error);
      return;
    }
    group.forEach((waiting, i) => {
      const result = answer.results[i];
      if (result?.status === "accepted") waiting.resolve({ accepted: true, id: result.id });
      else if (result) waiting.resolve({ accepted: false, problem: result.problem });
    });
    this.modules.logger.debug({ operations: group.length, accepted: answer.accepted }, "batch submitted to the node");
  }
}
