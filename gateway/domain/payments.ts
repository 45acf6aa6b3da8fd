/**
 * Payment orders: a merchant creates an order (the gateway builds the payment terms with the
 * merchant's registered fee and returns the EIP-712 data the payer signs), the payer's signature is
 * relayed to the institution node as a `pay`, and the gateway signs the merchant's `markFulfilled` and
 * `refund` with the merchant key it holds. The chain (through the node) is the truth: the node's change
 * feed keeps the stored orders current (jobs/feed.ts applies it with `applyFeedChanges`; the
 * reconciler, the keeper and the payer actions merge a node read with `mergeNodeView`), so reads and
 * actions start from the stored order and read the node only when it forbids the action (the feed may
 * lag). Operations go to the node in groups (adapters/node-batcher.ts); the node's own answer
 * (DUPLICATE, ACCOUNT_FROZEN, ...) is the check, nothing is read before. Refusals are coded errors; a
 * refusal by the node keeps the node's code (NodeRefusal). An operation the node may have taken
 * without answering (NODE_TIMEOUT) is recorded as pending, never as failed: the feed or the
 * reconciler settles it. A node that turns work away for now gives a retryable refusal, nothing stored.
 */
import { createHash } from "node:crypto";

import { keccak256, toUtf8Bytes } from "ethers";
import type { Logger } from "pino";

import type { Change } from "../../core/api/changes.js";
import { SettlenetError } from "../../core/errors.js";
import { keccak256Hex } from "../../core/keccak.js";
import type { Deployment, TokenDeployment } from "../../core/protocol/deployment.js";
import { PAYMENT_STATUSES, escrowDomain } from "../../core/protocol/eip712.js";
import {
  descriptorOf,
  escrowOperationSchema,
  operationIdOf,
  paymentIdOf,
  signEscrowOperation,
  termsToJson,
  type EscrowOperationInput,
  type PaymentTerms,
} from "../../core/operations/index.js";
import type { ChainReader } from "../adapters/chain.js";
import type { NodeSubmitter } from "../adapters/node-batcher.js";
import type { OrderDefaults } from "../config.js";
import type { MerchantAllowances } from "./allowances.js";
import { merchantWallet } from "./merchants.js";
import { nodeRefusal, retryLater } from "./node-refusal.js";
import { isRetryLater, type NodeApiClient, type NodePayment, type Problem, type StoredOperation } from "../../core/api/client.js";
import { randomHex, randomNonce } from "../../core/random-ids.js";
import type { SecretBox } from "./secrets.js";
import type { GatewayStorage } from "../storage/db.js";
import type { OrderListOptions } from "../storage/orders.js";
import { updateOrder, withCheckTime, type WithOrder } from "./orders.js";
import {
  ON_CHAIN_ORDER_STATUSES,
  type MerchantRecord,
  type OperationExecution,
  type OrderRecord,
  type OrderStatus,
  type RefundRecord,
  type SubmittedOperation,
  type SubmittedStatus,
} from "./records.js";

const UINT96_MAX = (1n << 96n) - 1n;
/** Escrow statuses in which the merchant may refund (after release only within the refund window). */
const REFUNDABLE = new Set(["held", "fulfilled", "disputed", "released"]);
/** Node codes that mean "this exact operation is already there": the submission took. */
const ALREADY_THERE = new Set(["DUPLICATE", "ALREADY_EXECUTED"]);

export interface PaymentServiceOptions {
  deployment: Deployment;
  orders: OrderDefaults;
}

export interface PaymentServiceModules {
  storage: GatewayStorage;
  secrets: SecretBox;
  /** Reads of the node (an order's payment, when its stored state forbids an action). */
  node: NodeApiClient;
  /** Where operations are submitted: the batcher in the app; the node client itself when absent. */
  submitter?: NodeSubmitter;
  chain: ChainReader;
  logger: Logger;
  /** Clock in unix ms (tests may pin it). */
  now?: () => number;
  /** A refund of a released payment pulls from the merchant's balance: its allowance to the escrow is given first. */
  allowances?: Pick<MerchantAllowances, "toEscrow"> | undefined;
}

/** What the node made of a submission: accepted (or already there), refused, or unknown (no answer). */
type Submission = { outcome: "accepted"; id: string } | { outcome: "refused"; problem: Problem } | { outcome: "unknown" };

/** What a merchant asks for when it creates an order. */
export interface NewPaymentOrder {
  /** Minor units, decimal. */
  amount: string;
  currency: string;
  merchantOrderId: string;
  description?: string | undefined;
  mode: "escrow" | "direct";
  payer: string;
  fulfilmentPeriod?: number | undefined;
  autoReleasePeriod?: number | undefined;
  expiresIn?: number | undefined;
}

/** The typed data a payer signs for an order. */
export interface TypedDataPayload {
  domain: { name: string; version: string; chainId: number; verifyingContract: string };
  types: Record<string, { name: string; type: string }[]>;
  primaryType: string;
  message: Record<string, string | number | boolean>;
}

/** Orders of merchants, and the operations the gateway relays or signs for them. */
export class PaymentService {
  private readonly now: () => number;
  private readonly chainId: bigint;
  private readonly escrow: string;
  /** Tail of each order's action queue: actions on one order run one at a time. */
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly submitter: NodeSubmitter;

  constructor(
    private readonly options: PaymentServiceOptions,
    private readonly modules: PaymentServiceModules,
  ) {
    this.now = modules.now ?? Date.now;
    this.chainId = BigInt(options.deployment.chainId);
    this.escrow = options.deployment.contracts.escrow;
    this.submitter = modules.submitter ?? modules.node;
  }

  /**
   * Creates an order, or returns the one that already has this merchantOrderId if the request is the
   * same (`created: false`); MERCHANT_ORDER_ID_CONFLICT if it differs.
   */
  async create(merchant: MerchantRecord, body: NewPaymentOrder, withCreated?: WithOrder): Promise<{ created: boolean; order: OrderRecord }> {
    const requestHash = canonicalHash(body);
    const existing = await this.modules.storage.orders.getByMerchantOrderId(merchant.id, body.merchantOrderId);
    if (existing) return { created: false, order: this.sameRequest(existing, requestHash) };

    const token = this.token(body.currency);
    const amount = BigInt(body.amount);
    if (amount > UINT96_MAX) throw new SettlenetError("AMOUNT_TOO_LARGE", `amount exceeds ${UINT96_MAX}`, { max: UINT96_MAX.toString() });
    const account = await this.modules.chain.account(merchant.address);
    if (account.kind !== "merchant" || !account.active) {
      throw new SettlenetError("MERCHANT_NOT_REGISTERED", `${merchant.address} is not an active merchant on-chain`, { address: merchant.address, kind: account.kind });
    }

    const nowMs = this.now();
    const defaults = this.options.orders;
    const expiresIn = body.expiresIn ?? defaults.expirySeconds;
    const payDeadline = BigInt(Math.floor(nowMs / 1000) + expiresIn);
    const terms: PaymentTerms = {
      payer: body.payer,
      merchant: merchant.address,
      token: token.address,
      amount,
      // The merchant's order id, hashed: visible on-chain as a stable reference without its text.
      orderId: keccak256Hex(Buffer.from(body.merchantOrderId, "utf8")),
      feeBps: account.feeBps,
      direct: body.mode === "direct",
      payDeadline,
      fulfilmentPeriod: body.fulfilmentPeriod ?? defaults.fulfilmentPeriodSeconds,
      autoReleasePeriod: body.autoReleasePeriod ?? defaults.autoReleasePeriodSeconds,
      refundPeriod: defaults.refundPeriodSeconds,
      nonce: randomNonce(),
    };
    const order: OrderRecord = withCheckTime({
      id: `pay_${randomHex(16)}`,
      merchantId: merchant.id,
      merchantOrderId: body.merchantOrderId,
      requestHash,
      status: "awaiting_authorization",
      amount: body.amount,
      currency: body.currency,
      description: body.description ?? null,
      mode: body.mode,
      terms: termsToJson(terms),
      paymentId: paymentIdOf(terms, { chainId: this.chainId, escrow: this.escrow }),
      createdAtMs: nowMs,
      updatedAtMs: nowMs,
      expiresAtMs: Number(payDeadline) * 1000,
      refunds: [],
    });
    // `withCreated` (the request's answer) joins the new order's batch.
    const outcome = await this.modules.storage.orders.create(order, withCreated);
    if (!outcome.created) return { created: false, order: this.sameRequest(outcome.existing, requestHash) };
    // Debug, not info: one line per order is the hot path's cost at a thousand orders a second.
    this.modules.logger.debug({ merchantId: merchant.id, id: order.id, paymentId: order.paymentId }, "order created");
    return { created: true, order };
  }

  /** The merchant's order as stored (PAYMENT_NOT_FOUND for anyone else's); the change feed keeps it current. */
  async get(merchant: MerchantRecord, id: string): Promise<{ order: OrderRecord }> {
    return { order: await this.owned(merchant, id) };
  }

  /** The merchant's orders as stored (newest first). */
  list(merchant: MerchantRecord, options: OrderListOptions) {
    return this.modules.storage.orders.list(merchant.id, options);
  }

  getByMerchantOrderId(merchant: MerchantRecord, merchantOrderId: string) {
    return this.modules.storage.orders.getByMerchantOrderId(merchant.id, merchantOrderId);
  }

  /**
   * Relays the payer's signature of the order's terms to the node as a `pay`. Nothing is read first:
   * the node refuses what it must (DUPLICATE and ALREADY_EXECUTED mean the pay is there already).
   */
  authorize(merchant: MerchantRecord, id: string, signature: string, withAuthorized?: WithOrder): Promise<OrderRecord> {
    return this.exclusive(id, async () => {
      const order = await this.owned(merchant, id);
      if (order.authorization && order.authorization.status !== "failed") {
        if (order.authorization.signature.toLowerCase() === signature.toLowerCase()) return order;
        throw new SettlenetError("ALREADY_AUTHORIZED", `payment ${id} already has an authorization`, { id });
      }
      if (order.status === "expired" || (order.status === "awaiting_authorization" && this.now() > order.expiresAtMs)) {
        throw new SettlenetError("ORDER_EXPIRED", `payment ${id} expired at ${new Date(order.expiresAtMs).toISOString()}`, { id });
      }
      if (order.status !== "awaiting_authorization") {
        throw new SettlenetError("INVALID_PAYMENT_STATUS", `payment ${id} is ${order.status}`, { id, status: order.status });
      }
      const submission = await this.submit({ kind: "pay", terms: order.terms, signature }, "authorization");
      if (submission.outcome === "refused") {
        const { problem } = submission;
        if (problem.code === "ACCOUNT_FROZEN") throw frozenRefusal(order, problem);
        await this.recordRefusal(order, problem);
        throw nodeRefusal(problem);
      }
      const nowMs = this.now();
      const updated = await this.update(id, (current) => {
        // The feed may have settled this very pay already: keep what it recorded.
        const known = current.authorization;
        const kept = known && known.operationId.toLowerCase() === order.paymentId.toLowerCase() && known.status !== "failed" ? known : undefined;
        return {
          ...current,
          status: current.status === "awaiting_authorization" ? "processing" : current.status,
          authorization: kept ? { ...kept, signature } : { operationId: order.paymentId, submittedAtMs: nowMs, status: "pending", signature },
          updatedAtMs: nowMs,
        };
      }, withAuthorized);
      if (submission.outcome === "unknown") {
        this.modules.logger.warn({ merchantId: merchant.id, id, paymentId: order.paymentId }, "the node did not answer the authorization in time; recorded as pending for the change feed and the reconciler");
      } else {
        this.modules.logger.debug({ merchantId: merchant.id, id, paymentId: order.paymentId }, "authorization relayed");
      }
      return updated;
    });
  }

  /** Signs `markFulfilled` with the merchant's key and submits it. */
  fulfil(merchant: MerchantRecord, id: string): Promise<OrderRecord> {
    return this.exclusive(id, async () => {
      let order = await this.owned(merchant, id);
      if (order.fulfilment && order.fulfilment.status !== "failed") return order;
      // The feed may not have brought the hold yet: only then is the node asked.
      if (order.status !== "held") order = await this.syncWithNode(order);
      if (order.status !== "held") throw new SettlenetError("INVALID_PAYMENT_STATUS", `payment ${id} is ${order.status}, not held`, { id, status: order.status });
      const { nonce, deadline } = this.operationNonce();
      const op = await signEscrowOperation(
        merchantWallet(merchant, this.modules.secrets),
        { kind: "markFulfilled", terms: order.terms, nonce: nonce.toString(), deadline: deadline.toString() },
        { chainId: this.chainId, escrow: this.escrow },
      );
      const submission = await this.submit(op, "fulfilment");
      if (submission.outcome === "refused") {
        await this.recordRefusal(order, submission.problem);
        throw nodeRefusal(submission.problem);
      }
      const operationId = this.operationId(op);
      const nowMs = this.now();
      const updated = await this.update(id, (current) => ({
        ...current,
        fulfilment: { operationId, submittedAtMs: nowMs, status: "pending" },
        updatedAtMs: nowMs,
      }));
      this.modules.logger.info({ merchantId: merchant.id, id, operationId, answered: submission.outcome === "accepted" }, "fulfilment submitted");
      return updated;
    });
  }

  /** Signs a (partial or full) `refund` with the merchant's key and submits it. */
  refund(merchant: MerchantRecord, id: string, input: { amount: string; reason: string }): Promise<{ order: OrderRecord; refund: RefundRecord }> {
    return this.exclusive(id, async () => {
      let order = await this.owned(merchant, id);
      if (!order.onChain || !REFUNDABLE.has(order.onChain.status)) order = await this.syncWithNode(order);
      const onChain = order.onChain;
      if (!onChain || !REFUNDABLE.has(onChain.status)) {
        throw new SettlenetError("INVALID_PAYMENT_STATUS", `payment ${id} is ${order.status}; refunds need a held or released payment`, { id, status: order.status });
      }
      const amount = BigInt(input.amount);
      // Refunds still pending count against what is left; the escrow checks again.
      const pending = order.refunds.filter((r) => r.status === "pending").reduce((sum, r) => sum + BigInt(r.amount), 0n);
      const available = BigInt(onChain.amount) - BigInt(onChain.refunded) - pending;
      if (amount > available) {
        throw new SettlenetError("REFUND_EXCEEDS_AVAILABLE", `refund of ${amount} exceeds the ${available} left`, { requested: amount.toString(), available: available.toString() });
      }
      if (onChain.status === "released") await this.modules.allowances?.toEscrow(merchant, [this.token(order.currency)]);
      const { nonce, deadline } = this.operationNonce();
      const op = await signEscrowOperation(
        merchantWallet(merchant, this.modules.secrets),
        { kind: "refund", terms: order.terms, amount: amount.toString(), reason: keccak256(toUtf8Bytes(input.reason)), nonce: nonce.toString(), deadline: deadline.toString() },
        { chainId: this.chainId, escrow: this.escrow },
      );
      const submission = await this.submit(op, "refund");
      if (submission.outcome === "refused") {
        await this.recordRefusal(order, submission.problem);
        throw nodeRefusal(submission.problem);
      }
      const nowMs = this.now();
      const refund: RefundRecord = {
        id: `re_${randomHex(12)}`,
        amount: amount.toString(),
        reason: input.reason,
        operationId: this.operationId(op),
        submittedAtMs: nowMs,
        status: "pending",
      };
      const updated = await this.update(id, (current) => ({ ...current, refunds: [...current.refunds, refund], updatedAtMs: nowMs }));
      this.modules.logger.info({ merchantId: merchant.id, id, refundId: refund.id, operationId: refund.operationId, answered: submission.outcome === "accepted" }, "refund submitted");
      return { order: updated, refund };
    });
  }

  /** Cancels an order nobody has authorised yet. Needs the node's view: a pay may have reached it another way. */
  cancel(merchant: MerchantRecord, id: string, reason?: string): Promise<OrderRecord> {
    return this.exclusive(id, async () => {
      const order = await this.syncWithNode(await this.owned(merchant, id));
      if (order.status === "cancelled") return order;
      if ((order.status !== "awaiting_authorization" && order.status !== "expired") || order.authorization) {
        throw new SettlenetError("INVALID_PAYMENT_STATUS", `payment ${id} is ${order.status}; only unpaid orders can be cancelled`, { id, status: order.status });
      }
      const nowMs = this.now();
      return this.update(id, (current) => ({
        ...current,
        status: "cancelled",
        cancelledAtMs: nowMs,
        ...(reason !== undefined ? { cancelReason: reason } : {}),
        updatedAtMs: nowMs,
      }));
    });
  }

  /** The EIP-712 data the payer signs for `order`. */
  typedData(order: OrderRecord): TypedDataPayload {
    const { struct } = descriptorOf("pay");
    return {
      domain: this.domain(),
      types: struct.types,
      primaryType: struct.primaryType,
      message: { ...order.terms },
    };
  }

  /** Runs `fn` once no action on order `id` is in flight in this process (the reconciler must not race an action's own write). */
  whenIdle<T>(id: string, fn: () => Promise<T>): Promise<T> {
    return this.exclusive(id, fn);
  }

  // ---------------------------------------------------------------- internals

  /**
   * Submits `op` through the batcher: accepted (or already at the node), refused with the node's
   * problem, or unknown when the node took the request without answering (it may still execute it).
   * A node that turns work away for now throws a retryable refusal; an unreachable one NODE_UNAVAILABLE.
   */
  private async submit(op: EscrowOperationInput, what: string): Promise<Submission> {
    let result;
    try {
      result = await this.submitter.submit(op);
    } catch (error) {
      if (isRetryLater(error)) throw retryLater(error, what);
      if (error instanceof SettlenetError && error.code === "NODE_TIMEOUT") return { outcome: "unknown" };
      throw error;
    }
    if (result.accepted) return { outcome: "accepted", id: result.id };
    if (ALREADY_THERE.has(result.problem.code)) return { outcome: "accepted", id: this.operationId(op) };
    return { outcome: "refused", problem: result.problem };
  }

  /** The id of an escrow operation, as the node gives it. */
  private operationId(op: EscrowOperationInput): string {
    return operationIdOf(escrowOperationSchema.parse(op), { chainId: this.chainId, escrow: this.escrow });
  }

  /** Reads the node's view of the order's payment and stores what changed. */
  private async syncWithNode(order: OrderRecord): Promise<OrderRecord> {
    // Also for cancelled orders: the payer holds a signature and could have paid through another node.
    const view = await this.modules.node.payment(order.paymentId);
    return this.syncOrder(order, view);
  }

  /** Applies the node's view (undefined: the node knows nothing) to the stored order. */
  async syncOrder(order: OrderRecord, view: NodePayment | undefined): Promise<OrderRecord> {
    const nowMs = this.now();
    const next = mergeNodeView(order, view, nowMs);
    if (!next) return order;
    const stored = await this.update(order.id, (current) => {
      // Re-derive from the freshest record: another action may have changed it meanwhile.
      const merged = mergeNodeView(current, view, nowMs);
      return merged ? { ...merged, updatedAtMs: nowMs } : undefined;
    });
    if (stored.status !== order.status) this.modules.logger.info({ id: order.id, from: order.status, to: stored.status }, "order status changed");
    return stored;
  }

  /** Stores a change of order `id` with the events it means. */
  private async update(id: string, change: (current: OrderRecord) => OrderRecord | undefined, withOrder?: WithOrder): Promise<OrderRecord> {
    return (await updateOrder(this.modules.storage.orders, id, change, withOrder ? { with: withOrder } : {})).order;
  }

  private async owned(merchant: MerchantRecord, id: string): Promise<OrderRecord> {
    const order = await this.modules.storage.orders.get(id);
    // Someone else's order is indistinguishable from a missing one.
    if (!order || order.merchantId !== merchant.id) throw new SettlenetError("PAYMENT_NOT_FOUND", `no payment ${id}`, { id });
    return order;
  }

  private sameRequest(existing: OrderRecord, requestHash: string): OrderRecord {
    if (existing.requestHash !== requestHash) {
      throw new SettlenetError("MERCHANT_ORDER_ID_CONFLICT", `merchantOrderId ${existing.merchantOrderId} is used by payment ${existing.id} with different details`, {
        merchantOrderId: existing.merchantOrderId,
        id: existing.id,
      });
    }
    return existing;
  }

  private token(currency: string): TokenDeployment {
    const tokens = this.options.deployment.tokens;
    const token = tokens[currency] ?? Object.values(tokens).find((t) => t.symbol === currency);
    if (!token) throw new SettlenetError("UNSUPPORTED_CURRENCY", `${currency} is not a settlement token here`, { currency, supported: Object.keys(tokens) });
    return token;
  }

  private domain(): TypedDataPayload["domain"] {
    const domain = escrowDomain(this.chainId, this.escrow);
    return { name: String(domain.name), version: String(domain.version), chainId: Number(this.chainId), verifyingContract: this.escrow };
  }

  /** A fresh random nonce (the escrow's nonces are unordered) and a deadline for a merchant operation. */
  private operationNonce(): { nonce: bigint; deadline: bigint } {
    return {
      nonce: randomNonce(),
      deadline: BigInt(Math.floor(this.now() / 1000) + this.options.orders.operationDeadlineSeconds),
    };
  }

  private async recordRefusal(order: OrderRecord, problem: Problem): Promise<OrderRecord> {
    const nowMs = this.now();
    return this.update(order.id, (current) => ({
      ...current,
      lastError: { code: problem.code, message: problem.title ?? problem.code, atMs: nowMs },
      updatedAtMs: nowMs,
    }));
  }

  private exclusive<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(id) ?? Promise.resolve();
    const run = previous.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.locks.set(id, tail);
    void tail.then(() => {
      if (this.locks.get(id) === tail) this.locks.delete(id);
    });
    return run;
  }
}

/**
 * The node's ACCOUNT_FROZEN refusal of an order's pay, naming which party of the order is frozen
 * (the node checks its registry mirror, which follows the token's freezes).
 */
function frozenRefusal(order: OrderRecord, problem: Problem) {
  const account = typeof problem["account"] === "string" ? problem["account"] : "";
  const role = account.toLowerCase() === order.terms.merchant.toLowerCase() ? "merchant" : "payer";
  return nodeRefusal({ ...problem, role, title: `the ${role} ${account} is frozen on ${order.terms.token} by a regulator` });
}

/** sha256 of a JSON value with sorted keys (what "the same request" means for a merchantOrderId). */
export function canonicalHash(value: unknown): string {
  const canonical = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(canonical)
      : v && typeof v === "object"
        ? Object.fromEntries(Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, x]) => [k, canonical(x)]))
        : v;
  return createHash("sha256").update(JSON.stringify(canonical(value))).digest("hex");
}

/**
 * Whether two JSON-like values would serialize to the same canonical JSON (key order and keys whose
 * value is undefined do not count): whether a change changed a record, without hashing both.
 */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x, i) => sameJson(x, b[i]));
  }
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  let keys = 0;
  for (const key in x) {
    if (x[key] === undefined) continue;
    keys += 1;
    if (!sameJson(x[key], y[key])) return false;
  }
  for (const key in y) if (y[key] !== undefined) keys -= 1;
  return keys === 0;
}

function operationStatus(op: StoredOperation | undefined): SubmittedStatus | undefined {
  if (!op) return undefined;
  return op.status === "executed" ? "executed" : op.status === "failed" ? "failed" : "pending";
}

function withNodeStatus<T extends SubmittedOperation>(submitted: T, op: StoredOperation | undefined): T {
  const status = operationStatus(op);
  if (!status || !op) return submitted;
  const { error: _previous, execution: _known, ...rest } = submitted;
  const execution = executionOf(op.execution) ?? submitted.execution;
  return { ...rest, status, ...(op.error ? { error: { code: op.error.code, message: op.error.message } } : {}), ...(execution ? { execution } : {}) } as T;
}

/** The part of the node's execution record the gateway keeps. */
function executionOf(execution: StoredOperation["execution"]): OperationExecution | undefined {
  return execution ? { txHash: execution.txHash, blockNumber: execution.blockNumber, timestamp: execution.timestamp } : undefined;
}

/**
 * The order after applying the node's view, or undefined if nothing changed. On-chain state wins:
 * an escrow status is the order's status whatever the gateway believed.
 */
export function mergeNodeView(order: OrderRecord, view: NodePayment | undefined, nowMs: number): OrderRecord | undefined {
  const ops = new Map((view?.operations ?? []).map((op) => [op.id.toLowerCase(), op]));
  const payOp = ops.get(order.paymentId.toLowerCase());
  let authorization = order.authorization;
  if (authorization) {
    authorization = withNodeStatus(authorization, payOp);
  } else if (payOp) {
    // The node has a pay the gateway did not record (a crash between relaying and storing, or a pay
    // that reached the network another way): adopt it.
    const signature = (payOp["op"] as { signature?: unknown } | undefined)?.signature;
    authorization = {
      operationId: payOp.id,
      submittedAtMs: typeof payOp["receivedAtMs"] === "number" ? payOp["receivedAtMs"] : nowMs,
      status: operationStatus(payOp) ?? "pending",
      signature: typeof signature === "string" ? signature : "",
    };
  }
  const fulfilment = order.fulfilment ? withNodeStatus(order.fulfilment, ops.get(order.fulfilment.operationId.toLowerCase())) : undefined;
  const autoRelease = order.autoRelease ? withNodeStatus(order.autoRelease, ops.get(order.autoRelease.operationId.toLowerCase())) : undefined;
  const refunds = order.refunds.map((r) => withNodeStatus(r, ops.get(r.operationId.toLowerCase())));
  const onChain = view?.onChain ?? order.onChain;

  const next: OrderRecord = {
    ...order,
    refunds,
    ...(authorization ? { authorization } : {}),
    ...(fulfilment ? { fulfilment } : {}),
    ...(autoRelease ? { autoRelease } : {}),
    ...(onChain ? { onChain } : {}),
  };
  next.status = derivedStatus(next, nowMs);
  return sameJson(next, order) ? undefined : next;
}

/** An order's status from what it records: the escrow's status wins; before it, the authorization's fate. */
function derivedStatus(order: OrderRecord, nowMs: number): OrderStatus {
  const { onChain, authorization } = order;
  const chainStatus = onChain ? ON_CHAIN_ORDER_STATUSES[onChain.status as keyof typeof ON_CHAIN_ORDER_STATUSES] : undefined;
  if (chainStatus) return chainStatus;
  if (authorization?.status === "failed") return "failed";
  if (authorization) return "processing";
  if (order.status === "awaiting_authorization" && nowMs > order.expiresAtMs) return "expired";
  return order.status;
}

/** A pay the node knows that the gateway never recorded (it crashed between relaying and storing). */
export interface AdoptedPay {
  signature: string;
  receivedAtMs: number;
}

const PAYMENT_RANK = new Map<string, number>(PAYMENT_STATUSES.map((status, i) => [status, i]));

/**
 * The order after the node's changes to its payment and operations (in feed order), or undefined if
 * nothing changed. Escrow statuses only ever advance and refunds only grow, and an operation's final
 * status is final, so a change older than what the order already shows (the reconciler read the node
 * after it) changes nothing. A pay settled on-chain that the order never recorded is adopted with
 * `adopted` (read from the node by the caller).
 */
export function applyFeedChanges(order: OrderRecord, changes: readonly Change[], nowMs: number, adopted?: AdoptedPay): OrderRecord | undefined {
  const next: OrderRecord = { ...order, refunds: [...order.refunds] };
  const payId = order.paymentId.toLowerCase();
  for (const change of changes) {
    if (change.type === "payment") {
      const current = next.onChain;
      const rank = PAYMENT_RANK.get(change.status) ?? 0;
      const currentRank = current ? (PAYMENT_RANK.get(current.status) ?? 0) : -1;
      if (current && (rank < currentRank || (rank === currentRank && BigInt(change.refunded) < BigInt(current.refunded)))) continue;
      next.onChain = { status: change.status, amount: change.amount, refunded: change.refunded, deadline: change.deadline };
      continue;
    }
    const status: SubmittedStatus = change.status === "executed" ? "executed" : change.status === "failed" ? "failed" : "pending";
    const error = change.error ? { code: change.error.code, message: change.error.message } : undefined;
    const execution = executionOf(change.execution);
    const id = change.id.toLowerCase();
    if (id === payId) {
      if (next.authorization) next.authorization = advanced(next.authorization, status, error, execution);
      else if (adopted && status !== "pending") {
        next.authorization = { operationId: change.id, submittedAtMs: adopted.receivedAtMs, status, signature: adopted.signature, ...(error ? { error } : {}), ...(execution ? { execution } : {}) };
      }
    } else if (next.fulfilment?.operationId.toLowerCase() === id) {
      next.fulfilment = advanced(next.fulfilment, status, error, execution);
    } else if (next.autoRelease?.operationId.toLowerCase() === id) {
      next.autoRelease = advanced(next.autoRelease, status, error, execution);
    } else {
      next.refunds = next.refunds.map((refund) => (refund.operationId.toLowerCase() === id ? advanced(refund, status, error, execution) : refund));
    }
  }
  next.status = derivedStatus(next, nowMs);
  return sameJson(next, order) ? undefined : next;
}

/** `submitted` with the node's newer status; a final status stays final (it may still learn where it executed). */
function advanced<T extends SubmittedOperation>(submitted: T, status: SubmittedStatus, error: { code: string; message: string } | undefined, execution: OperationExecution | undefined): T {
  if (submitted.status !== "pending" || status === submitted.status) {
    return execution && !submitted.execution && status === submitted.status && status === "executed" ? { ...submitted, execution } : submitted;
  }
  const { error: _previous, ...rest } = submitted;
  return { ...rest, status, ...(error ? { error } : {}), ...(execution ? { execution } : {}) } as T;
}
