/**
 * The payment view leaves the gateway as its view function built it, without zod's check of the
 * answer (routes/schemas.ts builtView): here every state an order can show is held to the schema, so
 * a field the schema would drop or reshape cannot slip out.
 */
import { expect } from "chai";
import { z } from "zod";

import type { PaymentService } from "../../../gateway/domain/payments.js";
import type { OrderRecord } from "../../../gateway/domain/records.js";
import { paymentView } from "../../../gateway/routes/payments/schemas.js";
import { paymentViewOf } from "../../../gateway/routes/payments/views.js";
import { isBuiltView } from "../../../gateway/routes/schemas.js";

const T = Date.UTC(2026, 0, 2, 3, 4, 5);
const hex = (n: number, byte: string) => `0x${byte.repeat(n)}`;
const payments: Pick<PaymentService, "typedData"> = {
  typedData: (order) => ({
    domain: { name: "SettlenetEscrow", version: "1", chainId: 31337, verifyingContract: hex(20, "ab") },
    types: { Payment: [{ name: "payer", type: "address" }] },
    primaryType: "Payment",
    message: { ...order.terms },
  }),
};
const executed = { txHash: hex(32, "cd"), blockNumber: 12, timestamp: Math.floor(T / 1000) + 5 };

const base: OrderRecord = {
  id: `pay_${"1".repeat(32)}`,
  merchantId: "m1",
  merchantOrderId: "o-1",
  requestHash: "h",
  status: "awaiting_authorization",
  amount: "10000",
  currency: "CNY",
  description: null,
  mode: "escrow",
  terms: {
    payer: hex(20, "11"),
    merchant: hex(20, "22"),
    token: hex(20, "33"),
    amount: "10000",
    orderId: hex(32, "44"),
    feeBps: 30,
    direct: false,
    payDeadline: "1767323045",
    fulfilmentPeriod: 86400,
    autoReleasePeriod: 604800,
    refundPeriod: 2592000,
    nonce: "7",
  } as unknown as OrderRecord["terms"],
  paymentId: hex(32, "55"),
  createdAtMs: T,
  updatedAtMs: T + 1,
  expiresAtMs: T + 900_000,
  refunds: [],
  checkAtMs: T + 900_000,
};

const orders: Record<string, OrderRecord> = {
  "awaiting authorization": base,
  processing: { ...base, status: "processing", authorization: { operationId: base.paymentId, submittedAtMs: T + 2, status: "pending", signature: hex(65, "66") } },
  "held, with a refund pending, a failed fulfilment and the last refusal": {
    ...base,
    status: "held",
    description: "two books",
    authorization: { operationId: base.paymentId, submittedAtMs: T + 2, status: "executed", signature: hex(65, "66"), execution: executed },
    fulfilment: { operationId: hex(32, "77"), submittedAtMs: T + 3, status: "failed", error: { code: "INVALID_PAYMENT_STATUS", message: "not held" } },
    refunds: [{ id: "re_1", amount: "100", reason: "damaged", operationId: hex(32, "88"), submittedAtMs: T + 4, status: "pending" }],
    onChain: { status: "held", amount: "10000", refunded: "0", deadline: Math.floor(T / 1000) + 86400 },
    lastError: { code: "REFUND_EXCEEDS_AVAILABLE", message: "too much", atMs: T + 5 },
    checkedAtMs: T + 6,
  },
  "released by the keeper after a refund": {
    ...base,
    status: "released",
    mode: "direct",
    authorization: { operationId: base.paymentId, submittedAtMs: T + 2, status: "executed", signature: hex(65, "66") },
    autoRelease: { operationId: hex(32, "99"), submittedAtMs: T + 7, status: "executed", execution: executed },
    refunds: [{ id: "re_2", amount: "100", reason: "late", operationId: hex(32, "aa"), submittedAtMs: T + 4, status: "executed", execution: executed }],
    onChain: { status: "released", amount: "10000", refunded: "100", deadline: Math.floor(T / 1000) + 2592000 },
    cancelReason: "kept in the record only",
  },
};

describe("gateway: payment views leave as built, without a check of the answer", function () {
  it("marks the payment view as built by its view function", function () {
    expect(isBuiltView(paymentView)).to.equal(true);
  });

  for (const [state, order] of Object.entries(orders)) {
    it(`serializes a view of an order ${state} exactly as the schema would`, function () {
      for (const view of [paymentViewOf(order, payments), { ...paymentViewOf(order, payments), checkoutUrl: `https://pay.example/checkout/${order.id}` }]) {
        const checked = z.encode(paymentView, view);
        expect(JSON.parse(JSON.stringify(view))).to.deep.equal(JSON.parse(JSON.stringify(checked)));
      }
    });
  }
});
