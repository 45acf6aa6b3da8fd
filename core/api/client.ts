/**
 * The gateway's client of its institution node's HTTP API (node/api/app.ts): submit one signed
 * operation, read a payment merged with its on-chain state and operations. Every answer is checked
 * with zod; a node that cannot be reached or answers nonsense is NODE_UNAVAILABLE.
 */
import { z } from "zod";

import { SettlenetError } from "../errors.js";
import type { EscrowOperationInput } from "../protocol/operations.js";
import type { OperationInput } from "../protocol/operations.js";

/** An RFC 9457 problem as the node sends it (extension members kept). */
export const nodeProblemSchema = z.looseObject({
  type: z.string().optional(),
  title: z.string().optional(),
  status: z.number().int(),
  code: z.string(),
  detail: z.string().optional(),
});
export type NodeProblem = z.infer<typeof nodeProblemSchema>;

const acceptedSchema = z.object({ id: z.string(), status: z.literal("accepted") });

const nodeOperationSchema = z.looseObject({
  id: z.string(),
  kind: z.string(),
  status: z.enum(["accepted", "submitted", "executed", "failed"]),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
});

export const nodePaymentSchema = z.object({
  paymentId: z.string(),
  payment: z.looseObject({ status: z.string(), refunded: z.string() }).nullable(),
  onChain: z.object({ status: z.string(), amount: z.string(), refunded: z.string(), deadline: z.number() }).nullable(),
  operations: z.array(nodeOperationSchema),
});
export type NodePayment = z.infer<typeof nodePaymentSchema>;
export type NodeOperation = z.infer<typeof nodeOperationSchema>;

export type SubmitResult = { accepted: true; id: string } | { accepted: false; problem: NodeProblem };

export interface NodeApiClientOptions {
  baseUrl: string;
  timeoutMs: number;
}

/** Talks to one institution node. */
export class NodeApiClient {
  constructor(private readonly options: NodeApiClientOptions) {}

  /** Submits one operation: accepted with its id, or refused with the node's problem document. */
  async submit(op: EscrowOperationInput | OperationInput): Promise<SubmitResult> {
    const { status, body } = await this.call("POST", "/v1/operations", op);
    if (status === 202) return { accepted: true, id: this.parse(acceptedSchema, body).id };
    return { accepted: false, problem: this.parse(nodeProblemSchema, body) };
  }

  /** The node's view of a payment, or undefined if it knows nothing of it. */
  async payment(paymentId: string): Promise<NodePayment | undefined> {
    const { status, body } = await this.call("GET", `/v1/payments/${paymentId}`);
    if (status === 404) return undefined;
    if (status !== 200) throw this.unavailable(`GET payment answered ${status}`, this.problemCode(body));
    return this.parse(nodePaymentSchema, body);
  }

  /** The node's record of one operation (status, decoded error), or undefined if it has none. */
  async operation(id: string): Promise<NodeOperation | undefined> {
    const { status, body } = await this.call("GET", `/v1/operations/${id}`);
    if (status === 404) return undefined;
    if (status !== 200) throw this.unavailable(`GET operation answered ${status}`, this.problemCode(body));
    return this.parse(nodeOperationSchema, body);
  }

  /** The node's settlement statement of `merchant` for cycle `cycleId` (JSON), or undefined if the node has no such cycle. */
  async statement(cycleId: string, merchant: string): Promise<unknown> {
    const { status, body } = await this.call("GET", `/v1/cycles/${encodeURIComponent(cycleId)}/statement?merchant=${encodeURIComponent(merchant)}`);
    if (status === 404) return undefined;
    if (status !== 200) throw this.unavailable(`GET statement answered ${status}`, this.problemCode(body));
    return body;
  }

  /** One page of the payments the node indexed, newest first, filtered by merchant or payer. */
  async payments(query: { merchant?: string; payer?: string; limit: number; cursor?: string }): Promise<{ items: unknown[]; next?: string }> {
    const params = new URLSearchParams({ limit: String(query.limit) });
    if (query.merchant) params.set("merchant", query.merchant);
    if (query.payer) params.set("payer", query.payer);
    if (query.cursor) params.set("cursor", query.cursor);
    const { status, body } = await this.call("GET", `/v1/payments?${params.toString()}`);
    if (status !== 200) throw this.unavailable(`GET payments answered ${status}`, this.problemCode(body));
    return this.parse(z.object({ items: z.array(z.unknown()), next: z.string().optional() }), body);
  }

  /** The newest `limit` (at most 500) indexed events of `token`, newest first. */
  async tokenEvents(token: string, limit: number): Promise<unknown[]> {
    const { status, body } = await this.call("GET", `/v1/tokens/${token}/events?limit=${limit}`);
    if (status !== 200) throw this.unavailable(`GET token events answered ${status}`, this.problemCode(body));
    return this.parse(z.object({ events: z.array(z.unknown()) }), body).events;
  }

  private async call(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
    let response: Response;
    try {
      response = await fetch(new URL(path, this.options.baseUrl), {
        method,
        headers: body === undefined ? {} : { "content-type": "application/json" },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
    } catch (error) {
      throw this.unavailable(`node unreachable: ${(error as Error).message}`, undefined, error);
    }
    const text = await response.text().catch(() => "");
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch (error) {
      throw this.unavailable(`node answered ${response.status} with non-JSON`, undefined, error);
    }
    if (response.status >= 500) throw this.unavailable(`node answered ${response.status}`, this.problemCode(parsed));
    return { status: response.status, body: parsed };
  }

  private parse<T>(schema: z.ZodType<T>, body: unknown): T {
    const result = schema.safeParse(body);
    if (!result.success) throw this.unavailable("node answered an unexpected document");
    return result.data;
  }

  private problemCode(body: unknown): string | undefined {
    const result = nodeProblemSchema.safeParse(body);
    return result.success ? result.data.code : undefined;
  }

  private unavailable(message: string, nodeCode?: string, cause?: unknown): SettlenetError {
    return new SettlenetError("NODE_UNAVAILABLE", message, nodeCode ? { nodeCode } : {}, cause === undefined ? undefined : { cause });
  }
}
