/**
 * The one path every operation takes into a node, from its API or from gossip: validate (shared core)
 * → map the outcome (one place) → store accepted operations in one synced batch → only then gossip
 * them and hand them to the relayer. Nothing is acknowledged or forwarded before it is durable, and
 * the API acknowledges only once the gossip message is handed to the peers.
 */
import type { Logger } from "pino";

import type { SubmitOutcome } from "../core/api/operations.js";
import { SettlenetError } from "../core/errors.js";
import { decodeGossipMessage, encodeGossipMessage } from "./p2p/message.js";
import type { Relayer, ValidatedOperation, ValidationContext } from "./services.js";
import type { OperationOrigin, StoredOperation } from "../core/records.js";
import type { OutcomeMapper} from "./validation/outcome.js";
import { type GossipVerdict, type Outcome } from "./validation/outcome.js";
import type { RiskEngine } from "./validation/risk.js";
import { refusal, type ValidationPath } from "./validation/refusal.js";
import { validateOperation } from "./validation/validate.js";

export interface PipelineModules {
  logger: Logger;
  outcomes: OutcomeMapper;
  risk: RiskEngine;
  /** Absent on regulator nodes, which never relay. */
  relayer?: Relayer;
  /** Publishes a gossip message; set once the network is up. */
  publish?: (data: Uint8Array) => Promise<number>;
}

export interface PipelineOptions {
  /** Regulator nodes accept no operations through their API. */
  readOnly: boolean;
}

/** Validates, stores, gossips and relays operations; see the module comment. */
export class OperationPipeline {
  private readonly inFlight = new Set<string>();

  constructor(
    private readonly options: PipelineOptions,
    private readonly ctx: ValidationContext,
    private readonly modules: PipelineModules,
  ) {}

  /** Sets the gossip publisher (the network starts after the pipeline exists). */
  setPublisher(publish: (data: Uint8Array) => Promise<number>): void {
    this.modules.publish = publish;
  }

  /** API path: one outcome per input, in order. Accepted operations are durable before this resolves. */
  async submit(inputs: unknown[]): Promise<SubmitOutcome[]> {
    if (this.options.readOnly) {
      return inputs.map(() => ({ accepted: false as const, error: new SettlenetError("READ_ONLY", "This node is read-only") }));
    }
    const outcomes = await this.validateAll(inputs, "api");
    const accepted = await this.storeAccepted(outcomes, inputs, "api");
    if (accepted.length > 0) {
      // Handed to the peers before the caller hears "accepted": a crash right after the answer must
      // still leave the operations with nodes that can fail over, not only in this node's storage.
      this.modules.relayer?.enqueue(accepted);
      await this.gossip(accepted.map((op) => op.op));
    }
    return outcomes.map((outcome) =>
      outcome.operation && outcome.code === "ACCEPTED"
        ? { accepted: true as const, id: outcome.operation.id }
        : { accepted: false as const, ...(outcome.operation ? { id: outcome.operation.id } : {}), error: refusalOf(outcome) },
    );
  }

  /** Gossip path: the verdict for the whole message (reject if any operation in it is invalid). */
  async onGossip(fromPeerId: string, data: Uint8Array): Promise<GossipVerdict> {
    let ops: unknown[];
    try {
      ops = decodeGossipMessage(data).ops;
    } catch (error) {
      return this.modules.outcomes.map("gossip", { status: "rejected", reason: error }, { peerId: fromPeerId }).gossip;
    }
    const outcomes = await this.validateAll(ops, "gossip", fromPeerId);
    const accepted = await this.storeAccepted(outcomes, ops, "gossip");
    if (accepted.length > 0) this.modules.relayer?.enqueue(accepted);
    if (outcomes.some((outcome) => outcome.gossip === "reject")) return "reject";
    return outcomes.some((outcome) => outcome.gossip === "accept") ? "accept" : "ignore";
  }

  private async validateAll(inputs: unknown[], path: ValidationPath, peerId?: string): Promise<Outcome[]> {
    const settled = await Promise.allSettled(inputs.map((input) => validateOperation(input, this.ctx, path, this.modules.risk)));
    const seen = new Set<string>();
    const now = this.ctx.nowSeconds();
    return settled.map((result) => {
      let outcome = this.modules.outcomes.map(path, result, peerId ? { peerId } : {});
      const op = outcome.operation;
      if (op && outcome.code === "ACCEPTED") {
        // The same operation twice in one batch, or arriving concurrently on both paths: keep one.
        if (seen.has(op.id) || this.inFlight.has(op.id)) {
          outcome = this.modules.outcomes.map(path, { status: "rejected", reason: duplicate(op, path) }, { id: op.id });
        } else {
          // Cumulative limits also count earlier operations of the same batch.
          try {
            this.modules.risk.check(op.op, now, path);
            this.modules.risk.record(op.op, now);
            seen.add(op.id);
          } catch (error) {
            outcome = this.modules.outcomes.map(path, { status: "rejected", reason: error }, { id: op.id });
          }
        }
      }
      return outcome;
    });
  }

  private async storeAccepted(outcomes: Outcome[], inputs: unknown[], origin: OperationOrigin): Promise<StoredOperation[]> {
    const now = Date.now();
    const records: StoredOperation[] = [];
    outcomes.forEach((outcome, index) => {
      const op = outcome.operation;
      if (!op || outcome.code !== "ACCEPTED") return;
      records.push({
        id: op.id,
        kind: op.op.kind,
        paymentId: op.paymentId,
        op: inputs[index] as StoredOperation["op"],
        signer: op.signer,
        origin,
        status: "accepted",
        receivedAtMs: now,
        updatedAtMs: now,
      });
    });
    if (records.length === 0) return records;
    for (const record of records) this.inFlight.add(record.id);
    try {
      await this.ctx.storage.operations.putAccepted(records);
    } finally {
      for (const record of records) this.inFlight.delete(record.id);
    }
    return records;
  }

  /** Publishes; never rejects (the operations are stored and relayed regardless). */
  private async gossip(ops: StoredOperation["op"][]): Promise<void> {
    const publish = this.modules.publish;
    if (!publish) return;
    try {
      await publish(encodeGossipMessage(ops));
    } catch (error) {
      // Peers also learn the result from the chain.
      this.modules.logger.warn({ err: error, count: ops.length }, "gossip publish failed");
    }
  }
}

function duplicate(op: ValidatedOperation, path: ValidationPath) {
  return refusal("DUPLICATE", path, `operation ${op.id} submitted twice`, { id: op.id });
}

/** The coded refusal of an outcome that was not accepted. */
function refusalOf(outcome: Outcome): SettlenetError {
  return outcome.error ?? new SettlenetError(outcome.code, outcome.code);
}
