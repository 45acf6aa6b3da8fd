/**
 * The payer's own escrow actions, `confirm` (release to the merchant), `dispute` (freeze the held
 * payment for arbitration) and `reclaim` (take back a held payment the merchant never fulfilled, once
 * the fulfilment period has ended in chain time), by signed payload: the gateway hands out the EIP-712 data the payer signs
 * (fresh nonce, deadline from chain time), the merchant's checkout posts the signature back with the
 * nonce and deadline it was made for, and the gateway relays it through the node. A signature by
 * anyone but the order's payer is refused here with BAD_SIGNATURE before anything is stored or sent.
 */
import { getAddress, recoverAddress } from "ethers";
import type { Logger } from "pino";

import { SettlenetError } from "../../core/errors.js";
import type { Deployment } from "../../core/protocol/deployment.js";
import { escrowDomain } from "../../core/protocol/eip712.js";
import { randomNonce } from "../../core/random-ids.js";
import { disputeReasonOf } from "../../core/operations/dispute.js";
import {
  escrowTypedData,
  operationIdOf,
  parseUnsignedEscrowOperation,
  type EscrowContext,
  type UnsignedEscrowOperation,
} from "../../core/operations/index.js";
import type { MoneyChain } from "../adapters/money-chain.js";
import type { PayerActionRecord } from "./money-types.js";
import { isRetryLater, type NodeApiClient } from "../../core/api/client.js";
import type { NodeSubmitter } from "../adapters/node-batcher.js";
import type { PaymentService, TypedDataPayload } from "./payments.js";
import type { GatewayStorage } from "../storage/db.js";
import { nodeRefusal, retryLater } from "./node-refusal.js";
import type { MerchantRecord, OrderRecord } from "./records.js";

export type PayerAction = "confirm" | "dispute" | "reclaim";

/** Order statuses in which the payer may act (the escrow checks again). */
const ACTIONABLE: Record<PayerAction, ReadonlySet<string>> = {
  confirm: new Set(["held", "fulfilled"]),
  dispute: new Set(["held", "fulfilled"]),
  // Only a payment never fulfilled; the fulfilment deadline is checked against chain time.
  reclaim: new Set(["held"]),
};
const ALREADY_THERE = new Set(["DUPLICATE", "ALREADY_EXECUTED"]);
const FINAL_ORDER = new Set(["released", "refunded", "resolved", "reclaimed", "failed"]);

export interface PayerActionPayload {
  action: PayerAction;
  payer: string;
  nonce: string;
  deadline: string;
  reason: string | null;
  reasonHash: string | null;
  typedData: TypedDataPayload;
}

export interface PayerActionServiceModules {
  storage: GatewayStorage;
  node: NodeApiClient;
  /** Where operations are submitted: the batcher in the app; the node client itself when absent. */
  submitter?: NodeSubmitter | undefined;
  payments: PaymentService;
  money: MoneyChain;
  logger: Logger;
  now?: () => number;
}

/** Builds, verifies and relays payer-signed confirm and dispute operations. */
export class PayerActionService {
  private readonly now: () => number;
  private readonly ctx: EscrowContext;

  constructor(
    private readonly options: { deployment: Deployment; operationDeadlineSeconds: number },
    private readonly modules: PayerActionServiceModules,
  ) {
    this.now = modules.now ?? Date.now;
    this.ctx = { chainId: BigInt(options.deployment.chainId), escrow: options.deployment.contracts.escrow };
  }

  /** What the payer signs to confirm or dispute `id` now. */
  async payload(merchant: MerchantRecord, id: string, action: PayerAction, reason?: string): Promise<PayerActionPayload> {
    const order = await this.actionable(merchant, id, action);
    const nonce = randomNonce();
    const deadline = (await this.modules.money.now()) + BigInt(this.options.operationDeadlineSeconds);
    const reasonHash = action === "dispute" ? disputeReasonOf(reason ?? "") : null;
    return {
      action,
      payer: order.terms.payer,
      nonce: nonce.toString(),
      deadline: deadline.toString(),
      reason: action === "dispute" ? (reason ?? "") : null,
      reasonHash,
      typedData: this.typedData(unsignedAction(order, action, nonce.toString(), deadline.toString(), reasonHash)),
    };
  }

  /** Verifies the payer's signature and relays the operation; the same signature again is answered as before. */
  async submit(
    merchant: MerchantRecord,
    id: string,
    action: PayerAction,
    input: { nonce: string; deadline: string; signature: string; reason?: string | undefined },
  ): Promise<{ action: PayerActionRecord; order: OrderRecord }> {
    const stored = await this.modules.storage.orders.get(id);
    if (!stored || stored.merchantId !== merchant.id) throw new SettlenetError("PAYMENT_NOT_FOUND", `no payment ${id}`, { id });
    const reasonHash = action === "dispute" ? disputeReasonOf(input.reason ?? "") : null;
    const unsigned = unsignedAction(stored, action, input.nonce, input.deadline, reasonHash);
    const operationId = operationIdOf(parseUnsignedEscrowOperation(unsigned), this.ctx);
    // Cheapest refusal first, and before anything is stored or sent: only the payer can do this.
    let signer: string;
    try {
      signer = recoverAddress(operationId, input.signature);
    } catch {
      throw new SettlenetError("BAD_SIGNATURE", "the signature does not recover", { expected: stored.terms.payer });
    }
    if (getAddress(signer) !== getAddress(stored.terms.payer)) {
      throw new SettlenetError("BAD_SIGNATURE", `signed by ${signer}, not by the payer`, { signer, expected: getAddress(stored.terms.payer) });
    }
    const known = await this.modules.storage.money.getPayerAction(operationId);
    if (known) return { action: known, order: (await this.modules.payments.get(merchant, id)).order };

    const order = await this.actionable(merchant, id, action);
    let result;
    try {
      // The words go with the dispute (off-chain), so arbiters and regulators read them at every node.
      const text = action === "dispute" && input.reason ? { reasonText: input.reason } : {};
      result = await (this.modules.submitter ?? this.modules.node).submit({ ...unsignedAction(order, action, input.nonce, input.deadline, reasonHash), ...text, signature: input.signature });
    } catch (error) {
      if (isRetryLater(error)) throw retryLater(error, action);
      // No answer: the node may have it. Recorded as pending, settled like any other (never as failed).
      if (!(error instanceof SettlenetError && error.code === "NODE_TIMEOUT")) throw error;
    }
    if (result && !result.accepted && !ALREADY_THERE.has(result.problem.code)) throw nodeRefusal(result.problem, action);
    const record: PayerActionRecord = {
      operationId,
      orderId: id,
      merchantId: merchant.id,
      action,
      ...(action === "dispute" ? { reason: input.reason ?? "", reasonHash: reasonHash ?? "" } : {}),
      status: "pending",
      submittedAtMs: this.now(),
    };
    await this.modules.storage.money.putPayerAction(record, true);
    this.modules.logger.info({ merchantId: merchant.id, id, action, operationId }, "payer action relayed");
    return { action: record, order };
  }

  /** The payer actions relayed for an order (oldest first). */
  actionsOf(orderId: string): Promise<PayerActionRecord[]> {
    return this.modules.storage.money.payerActionsOf(orderId);
  }

  /** Syncs the orders of relayed payer actions with the node and closes the actions that finished. */
  async sync(): Promise<void> {
    for (const operationId of await this.modules.storage.money.openPayerActions()) {
      const record = await this.modules.storage.money.getPayerAction(operationId);
      const order = record ? await this.modules.storage.orders.get(record.orderId) : undefined;
      if (!record || !order) continue;
      const view = await this.modules.node.payment(order.paymentId);
      const synced = await this.modules.payments.syncOrder(order, view);
      const op = view?.operations.find((o) => o.id.toLowerCase() === operationId.toLowerCase());
      const status = op?.status === "executed" ? "executed" : op?.status === "failed" ? "failed" : "pending";
      if (status === "pending" && !FINAL_ORDER.has(synced.status)) continue;
      await this.modules.storage.money.putPayerAction(
        { ...record, status: status === "pending" ? "failed" : status, ...(op?.error ? { error: { code: op.error.code, message: op.error.message } } : {}) },
        false,
      );
    }
  }

  private async actionable(merchant: MerchantRecord, id: string, action: PayerAction): Promise<OrderRecord> {
    let { order } = await this.modules.payments.get(merchant, id);
    // The feed may not have brought the latest state yet: only then is the node asked.
    if (!ACTIONABLE[action].has(order.status)) order = await this.modules.payments.syncOrder(order, await this.modules.node.payment(order.paymentId));
    if (!ACTIONABLE[action].has(order.status)) {
      const allowed = action === "reclaim" ? "a held (never fulfilled)" : "a held or fulfilled";
      throw new SettlenetError("INVALID_PAYMENT_STATUS", `payment ${id} is ${order.status}; the payer can ${action} only ${allowed} payment`, { id, status: order.status });
    }
    if (action === "reclaim") {
      // The escrow refuses a reclaim until a block later than the fulfilment deadline (ReclaimNotDue).
      const chainNow = await this.modules.money.now();
      const fulfilBy = BigInt(order.onChain?.deadline ?? 0);
      if (chainNow <= fulfilBy) {
        throw new SettlenetError("RECLAIM_NOT_DUE", `payment ${id} can be reclaimed after ${new Date(Number(fulfilBy) * 1000).toISOString()} (chain time)`, {
          id,
          reclaimableAfter: new Date(Number(fulfilBy) * 1000).toISOString(),
        });
      }
    }
    return order;
  }

  /** The payload a wallet signs for `unsigned` (values as JSON strings). */
  private typedData(unsigned: UnsignedEscrowOperation): TypedDataPayload {
    const { types, primaryType, message } = escrowTypedData(parseUnsignedEscrowOperation(unsigned), this.ctx);
    const domain = escrowDomain(this.ctx.chainId, this.ctx.escrow);
    return {
      domain: { name: String(domain.name), version: String(domain.version), chainId: Number(this.ctx.chainId), verifyingContract: this.ctx.escrow },
      types,
      primaryType,
      message: Object.fromEntries(Object.entries(message).map(([name, value]) => [name, typeof value === "bigint" ? value.toString() : (value as string)])),
    };
  }
}

/** The payer's `action` on `order` in wire form, before it is signed. */
function unsignedAction(order: OrderRecord, action: PayerAction, nonce: string, deadline: string, reasonHash: string | null): UnsignedEscrowOperation {
  return action === "dispute"
    ? { kind: "dispute", terms: order.terms, reason: reasonHash ?? "", nonce, deadline }
    : { kind: action, terms: order.terms, nonce, deadline };
}
