/** GET /v1/statements: the merchant's settlement statement of a finalized cycle, in JSON or CSV (behaviour in domain/statements.ts). */
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";

import { merchantStatementCsv } from "../../domain/statements.js";
import { merchantOf } from "../../plugins/app/auth.js";
import { SIGNED, problemResponses } from "../schemas.js";
import { statementQuery, statementSchema } from "./schemas.js";

/** Registers GET /statements on the signed /v1 scope. */
export const statementRoutes: FastifyPluginAsyncZod = async (app) => {
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
      const statement = await app.merchantStatement(merchant, request.query.cycle);
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
