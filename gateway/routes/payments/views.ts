/** What merchants see of payments, refunds and payer actions: the API views of the stored records. */
import type { PayerActionRecord } from "../../domain/money-types.js";
import type { PaymentService } from "../../domain/payments.js";
import type { OrderRecord, RefundRecord, SubmittedOperation } from "../../domain/records.js";
import type { PaymentView, RefundView } from "./schemas.js";

const iso = (ms: number) => new Date(ms).toISOString();

function executionView(op: SubmittedOperation) {
  return op.execution ? { txHash: op.execution.txHash, blockNumber: op.execution.blockNumber, executedAt: iso(op.execution.timestamp * 1000) } : null;
}

function submittedView(op: SubmittedOperation | undefined) {
  return op ? { operationId: op.operationId, status: op.status, submittedAt: iso(op.submittedAtMs), ...(op.error ? { error: op.error } : {}), execution: executionView(op) } : null;
}

/** The API view of an order; `payments` gives the typed data the payer signs while it awaits authorization. */
export function paymentViewOf(order: OrderRecord, payments: Pick<PaymentService, "typedData">): PaymentView {
  return {
    id: order.id,
    object: "payment",
    merchantOrderId: order.merchantOrderId,
    status: order.status,
    amount: order.amount,
    currency: order.currency,
    description: order.description,
    mode: order.mode,
    payer: order.terms.payer,
    merchant: order.terms.merchant,
    paymentId: order.paymentId,
    feeBps: order.terms.feeBps,
    refundedAmount: order.onChain?.refunded ?? "0",
    periods: { fulfilment: order.terms.fulfilmentPeriod, autoRelease: order.terms.autoReleasePeriod, refund: order.terms.refundPeriod },
    createdAt: iso(order.createdAtMs),
    updatedAt: iso(order.updatedAtMs),
    expiresAt: iso(order.expiresAtMs),
    typedData: order.status === "awaiting_authorization" ? payments.typedData(order) : null,
    authorization: submittedView(order.authorization),
    fulfilment: submittedView(order.fulfilment),
    autoRelease: submittedView(order.autoRelease),
    refunds: order.refunds.map(refundViewOf),
    onChain: order.onChain ? { ...order.onChain, deadline: iso(order.onChain.deadline * 1000) } : null,
    lastError: order.lastError ? { code: order.lastError.code, message: order.lastError.message, at: iso(order.lastError.atMs) } : null,
  };
}

/** The API view of a refund. */
export function refundViewOf(refund: RefundRecord): RefundView {
  return {
    id: refund.id,
    object: "refund",
    amount: refund.amount,
    reason: refund.reason,
    operationId: refund.operationId,
    status: refund.status,
    submittedAt: iso(refund.submittedAtMs),
    ...(refund.error ? { error: refund.error } : {}),
    execution: executionView(refund),
  };
}

/** The API view of a payer's relayed confirm, dispute or reclaim. */
export function payerActionViewOf(r: PayerActionRecord) {
  return {
    object: "payer_action" as const,
    action: r.action,
    operationId: r.operationId,
    status: r.status,
    reason: r.reason ?? null,
    submittedAt: iso(r.submittedAtMs),
    ...(r.error ? { error: r.error } : {}),
  };
}
