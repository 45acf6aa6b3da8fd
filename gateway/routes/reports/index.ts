/** GET /v1/reports/threeway: the merchant's own three-way reconciliation (gateway vs chain vs bank; behaviour in domain/threeway.ts). */
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";

import { SettlenetError } from "../../../core/errors.js";
import { threeWayCsv } from "../../domain/threeway.js";
import { merchantOf } from "../../plugins/app/auth.js";
import { SIGNED, problemResponses } from "../schemas.js";
import { reportQuery, threeWayView } from "./schemas.js";

/** Registers GET /reports/threeway on the signed /v1 scope. */
export const reportRoutes: FastifyPluginAsyncZod = async (app) => {
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
      const merchant = merchantOf(request);
      const reportOf = app.threeWayReport;
      if (!reportOf) throw new SettlenetError("MONEY_NOT_CONFIGURED", "this gateway has no bank configured");
      const report = await reportOf(merchant.id);
      if (request.query.format === "csv") {
        // A string body is sent as it is (Fastify serializes only objects); the schema describes the JSON form.
        return reply.type("text/csv; charset=utf-8").send(threeWayCsv(report) as never);
      }
      return report;
    },
  );
};
