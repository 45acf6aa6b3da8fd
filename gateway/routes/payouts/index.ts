/**
 * The /v1 routes of payer actions (confirm, dispute, disputes list) and money movement (balance,
 * payouts, top-ups, transfers), plus the bank's settlement callback outside /v1. Schemas in
 * money-schemas.ts; behaviour in ../payer-actions.ts and ../money/service.ts.
 */
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";

import { SettlenetError } from "../../../core/errors.js";
import type { BankAdapter } from "../../adapters/bank.js";
import { callbackEventSchema } from "../../../core/bank/wire.js";
import type { MoneyService } from "../../domain/money.js";
import type { PayoutRecord, TokenOpAttempt, TopupRecord, TransferRecord } from "../../domain/money-types.js";
import type { PayerActionService } from "../../domain/payer-actions.js";
import type { PaymentService } from "../../domain/payments.js";
import type { MerchantRecord } from "../../domain/records.js";
import {
  balanceView,
  confirmBody,
  disputeBody,
  disputeList,
  disputeListQuery,
  disputePayloadQuery,
  payerActionPayloadView,
  payerActionResult,
  payoutBody,
  payoutIdParam,
  payoutList,
  payoutListQuery,
  payoutView,
  reclaimBody,
  topupBody,
  topupIdParam,
  topupView,
  transferBody,
  transferIdParam,
  transferView,
} from "./schemas.js";
import { SIGNED, idempotencyHeaders, paymentIdParam, problemResponses } from "../payments/schemas.js";
import { payerActionViewOf, paymentViewOf } from "../payments/views.js";

export interface MoneyRoutesOptions {
  payments: PaymentService;
  /** Absent when the gateway was built without money modules: the routes answer MONEY_NOT_CONFIGURED. */
  payerActions: PayerActionService | undefined;
  money: MoneyService | undefined;
}

function configured<T>(service: T | undefined): T {
  if (!service) throw new SettlenetError("MONEY_NOT_CONFIGURED", "this gateway was started without chain access for money movement");
  return service;
}

function merchantOf(request: { merchant: MerchantRecord | null }): MerchantRecord {
  if (!request.merchant) throw new SettlenetError("INTERNAL", "route reached without an authenticated merchant");
  return request.merchant;
}

const iso = (ms: number) => new Date(ms).toISOString();
const payments = { tags: ["payments"], security: SIGNED } as const;
const money = { tags: ["money"], security: SIGNED } as const;

function opView(op: TokenOpAttempt | undefined) {
  return op ? { operationId: op.operationId, status: op.status, ...(op.error ? { error: op.error } : {}) } : null;
}

/** API view of a payout. */
export function payoutToView(r: PayoutRecord) {
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
    createdAt: iso(r.createdAtMs),
    updatedAt: iso(r.updatedAtMs),
  };
}

function topupToView(r: TopupRecord) {
  return {
    id: r.id,
    object: "topup" as const,
    status: r.stage === "completed" ? ("completed" as const) : r.stage === "failed" ? ("failed" as const) : ("pending" as const),
    stage: r.stage,
    amount: r.amount,
    currency: r.currency,
    account: r.account,
    bank: r.bank ?? null,
    mint: opView(r.mint),
    failure: r.failure ?? null,
    createdAt: iso(r.createdAtMs),
    updatedAt: iso(r.updatedAtMs),
  };
}

function transferToView(r: TransferRecord) {
  const fee = (BigInt(r.amount) * BigInt(r.feeBps)) / 10_000n;
  return {
    id: r.id,
    object: "transfer" as const,
    status: r.operation.status,
    reference: r.reference,
    from: r.from,
    to: r.to,
    amount: r.amount,
    currency: r.currency,
    feeBps: r.feeBps,
    fee: fee.toString(),
    netAmount: (BigInt(r.amount) - fee).toString(),
    paymentId: r.paymentId,
    description: r.description,
    ...(r.operation.error ? { error: r.operation.error } : {}),
    createdAt: iso(r.createdAtMs),
    updatedAt: iso(r.updatedAtMs),
  };
}

/** Registers the payer-action and money routes on an authenticated /v1 scope. */
export const moneyRoutes: FastifyPluginAsyncZod<MoneyRoutesOptions> = async (app, options) => {
  const paymentService = options.payments;
  const payerActions = {
    payload: (...args: Parameters<PayerActionService["payload"]>) => configured(options.payerActions).payload(...args),
    submit: (...args: Parameters<PayerActionService["submit"]>) => configured(options.payerActions).submit(...args),
    actionsOf: (orderId: string) => (options.payerActions ? options.payerActions.actionsOf(orderId) : Promise.resolve([])),
  };
  const service = () => configured(options.money);
  app.get(
    "/payments/:id/confirm",
    {
      schema: {
        ...payments,
        operationId: "getConfirmPayload",
        summary: "The payload the payer signs to confirm receipt",
        description: "EIP-712 Confirm data (fresh nonce, deadline in chain time). The payer signs `typedData`; post the signature with the same nonce and deadline.",
        params: paymentIdParam,
        response: { 200: payerActionPayloadView, ...problemResponses },
      },
    },
    async (request) => ({ object: "payer_action_payload" as const, ...(await payerActions.payload(merchantOf(request), request.params.id, "confirm")) }),
  );

  app.get(
    "/payments/:id/dispute",
    {
      schema: {
        ...payments,
        operationId: "getDisputePayload",
        summary: "The payload the payer signs to dispute a payment",
        description: "EIP-712 Dispute data for the given reason (its keccak256 is signed and goes on-chain).",
        params: paymentIdParam,
        querystring: disputePayloadQuery,
        response: { 200: payerActionPayloadView, ...problemResponses },
      },
    },
    async (request) => ({ object: "payer_action_payload" as const, ...(await payerActions.payload(merchantOf(request), request.params.id, "dispute", request.query.reason)) }),
  );

  app.post(
    "/payments/:id/confirm",
    {
      schema: {
        ...payments,
        operationId: "confirmPayment",
        summary: "Relay the payer's signed confirmation (releases the payment)",
        description: "A signature by anyone but the payer is refused with BAD_SIGNATURE and changes nothing. Node refusals keep the node's code.",
        headers: idempotencyHeaders,
        params: paymentIdParam,
        body: confirmBody,
        response: { 202: payerActionResult, ...problemResponses },
      },
    },
    async (request, reply) => {
      const { action, order } = await payerActions.submit(merchantOf(request), request.params.id, "confirm", request.body);
      return reply.status(202).send({ action: payerActionViewOf(action), payment: paymentViewOf(order, paymentService) });
    },
  );

  app.post(
    "/payments/:id/dispute",
    {
      schema: {
        ...payments,
        operationId: "disputePayment",
        summary: "Relay the payer's signed dispute (freezes the held payment)",
        headers: idempotencyHeaders,
        params: paymentIdParam,
        body: disputeBody,
        response: { 202: payerActionResult, ...problemResponses },
      },
    },
    async (request, reply) => {
      const { action, order } = await payerActions.submit(merchantOf(request), request.params.id, "dispute", request.body);
      return reply.status(202).send({ action: payerActionViewOf(action), payment: paymentViewOf(order, paymentService) });
    },
  );

  app.get(
    "/payments/:id/reclaim",
    {
      schema: {
        ...payments,
        operationId: "getReclaimPayload",
        summary: "The payload the payer signs to reclaim a payment the merchant never fulfilled",
        description:
          "EIP-712 Reclaim data (fresh nonce, deadline in chain time). Only for a held payment whose fulfilment period has ended in chain time (else RECLAIM_NOT_DUE, or INVALID_PAYMENT_STATUS once fulfilled).",
        params: paymentIdParam,
        response: { 200: payerActionPayloadView, ...problemResponses },
      },
    },
    async (request) => ({ object: "payer_action_payload" as const, ...(await payerActions.payload(merchantOf(request), request.params.id, "reclaim")) }),
  );

  app.post(
    "/payments/:id/reclaim",
    {
      schema: {
        ...payments,
        operationId: "reclaimPayment",
        summary: "Relay the payer's signed reclaim (returns the held amount to the payer)",
        description: "A signature by anyone but the payer is refused with BAD_SIGNATURE and changes nothing; before the fulfilment deadline, RECLAIM_NOT_DUE. Emits payment.reclaimed once executed.",
        headers: idempotencyHeaders,
        params: paymentIdParam,
        body: reclaimBody,
        response: { 202: payerActionResult, ...problemResponses },
      },
    },
    async (request, reply) => {
      const { action, order } = await payerActions.submit(merchantOf(request), request.params.id, "reclaim", request.body);
      return reply.status(202).send({ action: payerActionViewOf(action), payment: paymentViewOf(order, paymentService) });
    },
  );

  app.get(
    "/disputes",
    {
      schema: {
        ...payments,
        operationId: "listDisputes",
        summary: "The merchant's disputed payments (newest first, cursor pagination)",
        querystring: disputeListQuery,
        response: { 200: disputeList, ...problemResponses },
      },
    },
    async (request) => {
      const merchant = merchantOf(request);
      const { status, limit, cursor } = request.query;
      const page = await paymentService.list(merchant, { status, limit, ...(cursor ? { cursor } : {}) });
      const items = await Promise.all(
        page.items.map(async (order) => {
          const dispute = (await payerActions.actionsOf(order.id)).filter((a) => a.action === "dispute").pop();
          return {
            object: "dispute" as const,
            payment: paymentViewOf(order, paymentService),
            reason: dispute?.reason ?? null,
            reasonHash: dispute?.reasonHash ?? null,
            openedAt: dispute ? iso(dispute.submittedAtMs) : null,
          };
        }),
      );
      return { object: "list" as const, items, nextCursor: page.next ?? null };
    },
  );

  app.get(
    "/balance",
    { schema: { ...money, operationId: "getBalance", summary: "Token balance, amounts held in escrow and pending payouts", response: { 200: balanceView, ...problemResponses } } },
    async (request) => {
      const merchant = merchantOf(request);
      const lines = await service().balance(merchant);
      return {
        object: "balance" as const,
        merchant: merchant.address,
        balances: lines.map((l) => ({
          currency: l.currency,
          token: l.token,
          available: l.available.toString(),
          heldInEscrow: l.heldInEscrow.toString(),
          pendingPayouts: l.pendingPayouts.toString(),
          pendingTopups: l.pendingTopups.toString(),
        })),
      };
    },
  );

  app.post(
    "/payouts",
    {
      schema: {
        ...money,
        operationId: "createPayout",
        summary: "Withdraw to the merchant's registered bank account",
        description: "The custodian burns the amount first (relayed through the node), then the bank pays; if the bank rejects, the amount is minted back (payout.failed). Paid: payout.paid.",
        headers: idempotencyHeaders,
        body: payoutBody,
        response: { 202: payoutView, ...problemResponses },
      },
    },
    async (request, reply) => reply.status(202).send(payoutToView(await service().createPayout(merchantOf(request), request.body))),
  );

  app.get(
    "/payouts",
    { schema: { ...money, operationId: "listPayouts", summary: "The merchant's payouts (newest first)", querystring: payoutListQuery, response: { 200: payoutList, ...problemResponses } } },
    async (request) => {
      const { limit, cursor } = request.query;
      const page = await service().listPayouts(merchantOf(request), { limit, ...(cursor ? { cursor } : {}) });
      return { object: "list" as const, items: page.items.map(payoutToView), nextCursor: page.next ?? null };
    },
  );

  app.get(
    "/payouts/:id",
    { schema: { ...money, operationId: "getPayout", summary: "A payout and its stage", params: payoutIdParam, response: { 200: payoutView, ...problemResponses } } },
    async (request) => payoutToView(await service().getPayout(merchantOf(request), request.params.id)),
  );

  app.post(
    "/topups",
    {
      schema: {
        ...money,
        operationId: "createTopup",
        summary: "Deposit from a bank account",
        description: "The bank collects the deposit and confirms asynchronously; only then does the custodian mint the tokens to the merchant.",
        headers: idempotencyHeaders,
        body: topupBody,
        response: { 202: topupView, ...problemResponses },
      },
    },
    async (request, reply) => reply.status(202).send(topupToView(await service().createTopup(merchantOf(request), request.body))),
  );

  app.get(
    "/topups/:id",
    { schema: { ...money, operationId: "getTopup", summary: "A top-up and its stage", params: topupIdParam, response: { 200: topupView, ...problemResponses } } },
    async (request) => topupToView(await service().getTopup(merchantOf(request), request.params.id)),
  );

  app.post(
    "/transfers",
    {
      schema: {
        ...money,
        operationId: "createTransfer",
        summary: "Transfer to another registered merchant",
        description:
          "Carried by a direct escrow payment the gateway signs with this merchant's key as payer (the token has no signed transfer): the recipient must be an active merchant and the escrow deducts the recipient's registered fee.",
        headers: idempotencyHeaders,
        body: transferBody,
        response: { 200: transferView, 202: transferView, ...problemResponses },
      },
    },
    async (request, reply) => {
      const { created, record } = await service().createTransfer(merchantOf(request), request.body);
      return reply.status(created ? 202 : 200).send(transferToView(record));
    },
  );

  app.get(
    "/transfers/:id",
    { schema: { ...money, operationId: "getTransfer", summary: "A transfer and its status", params: transferIdParam, response: { 200: transferView, ...problemResponses } } },
    async (request) => transferToView(await service().getTransfer(merchantOf(request), request.params.id)),
  );
};

/** The bank's signed settlement callback (outside /v1: signed by the bank, not by a merchant). */
export const bankCallbackRoutes: FastifyPluginAsyncZod<{ bank: BankAdapter | undefined }> = async (app, { bank }) => {
  app.post(
    "/bank/callbacks",
    {
      schema: {
        tags: ["bank"],
        operationId: "bankCallback",
        summary: "Settlement callback of the custodian bank (HMAC-signed with bank-event-id, bank-timestamp, bank-signature)",
        body: callbackEventSchema,
        response: { 204: z.null().describe("Acknowledged"), ...problemResponses },
      },
    },
    async (request, reply) => {
      if (!bank) throw new SettlenetError("BANK_CALLBACK_NOT_CONFIGURED", "no bank is configured");
      await bank.handleCallback({ headers: request.headers, body: request.rawBody ?? Buffer.alloc(0) });
      return reply.status(204).send(null);
    },
  );
};
