/**
 * The gateway's services, created once and decorated on the app: payments, the payer's actions,
 * money movement, webhook endpoints, merchants' allowances, statements and three-way reports. Routes
 * and jobs reach them through these decorators. Each service gets its collaborators at construction;
 * none depends on another that is built after it.
 */
import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";

import { SettlenetError } from "../../../core/errors.js";

import type { BankAdapter } from "../../adapters/bank.js";
import { NodeBatcher } from "../../adapters/node-batcher.js";
import { nodeBatchConfigSchema, webhookConfigSchema } from "../../config.js";
import { MerchantAllowances } from "../../domain/allowances.js";
import { CheckoutService } from "../../domain/checkout.js";
import { MoneyService } from "../../domain/money.js";
import { PayerActionService } from "../../domain/payer-actions.js";
import { DisputeNoteService } from "../../domain/dispute-notes.js";
import { PaymentService } from "../../domain/payments.js";
import type { MerchantRecord } from "../../domain/records.js";
import { merchantStatement, type StatementView } from "../../domain/statements.js";
import { threeWayReport, type ThreeWayReport } from "../../domain/threeway.js";
import { WebhookService } from "../../domain/webhooks.js";
import type { GatewayAppModules, GatewayAppOptions } from "../../options.js";

declare module "fastify" {
  interface FastifyInstance {
    /** Submits operations to the node in groups (adapters/node-batcher.ts). */
    nodeSubmitter: NodeBatcher;
    payments: PaymentService;
    /** Merchants' notes on their disputes, signed and submitted to the node. */
    disputeNotes: DisputeNoteService;
    /** The payer's confirm, dispute and reclaim; absent without money modules. */
    payerActions: PayerActionService | undefined;
    /** Balance, payouts, top-ups and transfers; absent without money modules. */
    money: MoneyService | undefined;
    /** Merchants' allowances to the escrow and the custodian; absent without money modules. */
    allowances: MerchantAllowances | undefined;
    webhooks: WebhookService;
    /** The hosted checkout's payer-facing reads and signed actions. */
    checkout: CheckoutService;
    /** The custodian bank (its callbacks land at POST /bank/callbacks); absent when none is configured. */
    bank: BankAdapter | undefined;
    /** A merchant's statement of a finalized settlement cycle, from the institution node. */
    merchantStatement: (merchant: MerchantRecord, cycleId: string) => Promise<StatementView>;
    /** A merchant's three-way reconciliation (gateway vs chain vs bank); absent without a bank. */
    threeWayReport: ((merchantId: string) => Promise<ThreeWayReport>) | undefined;
  }
}

/** `service`, or MONEY_NOT_CONFIGURED when the gateway was built without money modules. */
export function moneyConfigured<T>(service: T | undefined): T {
  if (!service) throw new SettlenetError("MONEY_NOT_CONFIGURED", "this gateway was started without chain access for money movement");
  return service;
}

export interface ServicesOptions {
  options: Pick<GatewayAppOptions, "deployment" | "orders" | "webhooks" | "nodeBatch" | "topups">;
  modules: Omit<GatewayAppModules, "now" | "metrics"> & { now: () => number };
}

/** Creates the services once and decorates the app with them. */
export const servicesPlugin = fp<ServicesOptions>(
  async (app: FastifyInstance, { options, modules }) => {
    const { deployment } = options;
    const { storage, secrets, node, chain, logger, now, money } = modules;
    const deadlineSeconds = options.orders.operationDeadlineSeconds;

    // Operations go to the node in groups (one batch request per few milliseconds).
    const submitter = new NodeBatcher({ ...nodeBatchConfigSchema.parse({}), ...options.nodeBatch }, { node, logger: logger.child({ module: "node-batcher" }) });
    const allowances = money ? new MerchantAllowances({ deployment }, { money: money.chain, secrets }) : undefined;
    const payments = new PaymentService(
      { deployment, orders: options.orders },
      { storage, secrets, node, submitter, chain, logger: logger.child({ module: "payments" }), now, allowances },
    );
    const payerActions = money
      ? new PayerActionService(
          { deployment, operationDeadlineSeconds: deadlineSeconds },
          { storage, node, submitter, payments, money: money.chain, logger: logger.child({ module: "payer-actions" }), now },
        )
      : undefined;
    const moneyService =
      money && allowances
        ? new MoneyService(
            { deployment, operationDeadlineSeconds: deadlineSeconds, ...(options.topups ? { topups: options.topups } : {}) },
            {
              storage,
              secrets,
              node,
              chain,
              money: money.chain,
              allowances,
              bank: money.bank,
              logger: logger.child({ module: "money" }),
              now,
            },
          )
        : undefined;
    const webhooks = new WebhookService({ ...webhookConfigSchema.parse({}), ...options.webhooks }, { storage, secrets, logger: logger.child({ module: "webhooks" }), now, ...(modules.resolve ? { resolve: modules.resolve } : {}) });
    const bank = money?.bank;

    app.decorate("nodeSubmitter", submitter);
    // A group still in its window goes out before the app closes.
    app.addHook("onClose", async () => submitter.flush());
    app.decorate("payments", payments);
    app.decorate("disputeNotes", new DisputeNoteService({ deployment }, { payments, node, secrets, logger: logger.child({ module: "dispute-notes" }), now }));
    app.decorate("payerActions", payerActions);
    app.decorate("money", moneyService);
    app.decorate("allowances", allowances);
    app.decorate("checkout", new CheckoutService({ deployment }, { storage, payments, payerActions, money: money?.chain, now }));
    app.decorate("webhooks", webhooks);
    app.decorate("bank", bank);
    app.decorate("merchantStatement", (merchant: MerchantRecord, cycleId: string) => merchantStatement(node, merchant, cycleId));
    app.decorate("threeWayReport", bank ? (merchantId: string) => threeWayReport({ storage, node, bank, deployment, now }, { merchantId }) : undefined);
  },
  { name: "services", fastify: "5.x" },
);
