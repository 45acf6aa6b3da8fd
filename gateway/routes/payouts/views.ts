/** What merchants see of payouts and of the custodian's mints and burns (top-ups show theirs the same way). */
import type { PayoutRecord, TokenOpAttempt } from "../../domain/money-types.js";

const iso = (ms: number) => new Date(ms).toISOString();

/** API view of a custodian mint or burn. */
export function opView(op: TokenOpAttempt | undefined) {
  return op ? { operationId: op.operationId, status: op.status, ...(op.error ? { error: op.error } : {}) } : null;
}

/** API view of a payout; `overdue` as the gateway's overdue check judges it now. */
export function payoutToView(r: PayoutRecord, overdue: boolean) {
  return {
    id: r.id,
    object: "payout" as const,
    status: r.stage === "paid" ? ("paid" as const) : r.stage === "failed" ? ("failed" as const) : ("pending" as const),
    stage: r.stage,
    amount: r.amount,
    currency: r.currency,
    account: r.account,
    reversed: r.reversed,
    burn: opView(r.burn) ?? { operationId: r.burn.operationId, status: r.burn.status },
    bank: r.bank ?? null,
    reversal: opView(r.reversal),
    failure: r.failure ?? null,
    overdue,
    createdAt: iso(r.createdAtMs),
    updatedAt: iso(r.updatedAtMs),
  };
}
