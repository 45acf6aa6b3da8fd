/** GET /v1/statements: the merchant's settlement statement of a finalized cycle, in JSON or CSV (behaviour in ../statements.ts). */
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";

import { SettlenetError } from "../../../core/errors.js";
import type { NodeApiClient } from "../../../core/api/client.js";
import { merchantStatement, merchantStatementCsv, statementSchema } from "../../domain/statements.js";
import type { MerchantRecord } from "../../domain/records.js";
import { SIGNED, problemResponses } from "../payments/schemas.js";

export const statementQuery = z.strictObject({
  cycle: z
    .string()
    .regex(/^(0|[1-9][0-9]{0,19})$/, "expected a cycle id (a non-negative integer)")
    .describe("Settlement cycle id: the cycle covering chain time [id × cycleSeconds, (id + 1) × cycleSeconds)"),
  format: z.enum(["json", "csv"]).default("json").describe("json (default) or csv (RFC 4180: one row per record, then one total row per token)"),
});

function merchantOf(request: { merchant: MerchantRecord | null }): MerchantRecord {
  if (!request.merchant) throw new SettlenetError("INTERNAL", "route reached without an authenticated merchant");
  return request.merchant;
}

/** Registers GET /statements on an authenticated /v1 scope. */
export const statementRoutes: FastifyPluginAsyncZod<{ node: NodeApiClient }> = async (app, { node }) => {
  app.get(
    "/statements",
    {
      schema: {
        tags: ["money"],
        security: SIGNED,
        operationId: "getStatement",
        summary: "The merchant's settlement statement of a finalized cycle",
        description:
          "From the institution node's cycle records (each provable against the cycle's Merkle root). A cycle the node does not have (not closed yet, or empty) is 404 CYCLE_NOT_FOUND; a closed cycle not yet finalized on-chain is 409 CYCLE_NOT_FINALIZED. With format=csv the answer is text/csv.",
        querystring: statementQuery,
        response: { 200: statementSchema, ...problemResponses },
      },
    },
    async (request, reply) => {
      const merchant = merchantOf(request);
      const statement = await merchantStatement(node, merchant, request.query.cycle);
      if (request.query.format === "csv") {
        return reply
          .type("text/csv; charset=utf-8")
          .header("content-disposition", `attachment; filename="statement-${statement.cycleId}-${merchant.id}.csv"`)
          // A string body is sent as it is (Fastify serializes only objects); the schema describes the JSON form.
          .send(merchantStatementCsv(statement) as never);
      }
      return statement;
    },
  );
};
