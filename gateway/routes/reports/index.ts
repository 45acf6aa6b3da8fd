/** GET /v1/reports/threeway: the merchant's own three-way reconciliation (gateway vs chain vs bank; behaviour in ../threeway.ts). */
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";

import { SettlenetError } from "../../../core/errors.js";
import type { Deployment } from "../../../core/protocol/deployment.js";
import type { BankAdapter } from "../../adapters/bank.js";
import type { NodeApiClient } from "../../../core/api/client.js";
import type { GatewayStorage } from "../../storage/db.js";
import { BREAK_KINDS, threeWayCsv, threeWayReport } from "../../domain/threeway.js";
import type { MerchantRecord } from "../../domain/records.js";
import { SIGNED, problemResponses } from "../payments/schemas.js";

const reportQuery = z.strictObject({ format: z.enum(["json", "csv"]).default("json").describe("json (default) or csv (one row per break)") });

const breakView = z.object({
  kind: z.enum(BREAK_KINDS),
  subject: z.enum(["payment", "payout", "topup"]),
  ref: z.string(),
  merchantId: z.string().nullable(),
  gateway: z.string().nullable(),
  chain: z.string().nullable(),
  bank: z.string().nullable(),
  detail: z.string(),
});

export const threeWayView = z.object({
  generatedAt: z.string(),
  merchantId: z.string().nullable(),
  counts: z.object({
    orders: z.number().int(),
    transfers: z.number().int(),
    payouts: z.number().int(),
    topups: z.number().int(),
    chainPayments: z.number().int(),
    chainTokenEvents: z.number().int(),
    bankTransfers: z.number().int(),
  }),
  chainEventsTruncated: z.boolean(),
  breaks: z.array(breakView),
});

export interface ReportRoutesOptions {
  storage: GatewayStorage;
  node: NodeApiClient;
  bank: BankAdapter | undefined;
  deployment: Deployment;
  now: () => number;
}

/** Registers GET /reports/threeway on an authenticated /v1 scope. */
export const reportRoutes: FastifyPluginAsyncZod<ReportRoutesOptions> = async (app, options) => {
  app.get(
    "/reports/threeway",
    {
      schema: {
        tags: ["money"],
        security: SIGNED,
        operationId: "getThreeWayReconciliation",
        summary: "Three-way reconciliation of the merchant's records: gateway vs chain (through the node) vs custodian bank",
        description:
          "Every break between the sides with its kind: missing_in_gateway, missing_on_chain, missing_at_bank, status_mismatch, amount_mismatch. Steps still in flight are not breaks. With format=csv the answer is text/csv.",
        querystring: reportQuery,
        response: { 200: threeWayView, ...problemResponses },
      },
    },
    async (request, reply) => {
      const merchant: MerchantRecord | null = request.merchant;
      if (!merchant) throw new SettlenetError("INTERNAL", "route reached without an authenticated merchant");
      if (!options.bank) throw new SettlenetError("MONEY_NOT_CONFIGURED", "this gateway has no bank configured");
      const report = await threeWayReport({ storage: options.storage, node: options.node, bank: options.bank, deployment: options.deployment, now: options.now }, { merchantId: merchant.id });
      if (request.query.format === "csv") {
        // A string body is sent as it is (Fastify serializes only objects); the schema describes the JSON form.
        return reply.type("text/csv; charset=utf-8").send(threeWayCsv(report) as never);
      }
      return report;
    },
  );
};
