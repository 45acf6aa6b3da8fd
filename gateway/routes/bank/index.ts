/** POST /bank/callbacks: the custodian bank's settlement callbacks (verified by adapters/bank.ts). */
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";

import { callbackEventSchema } from "../../../core/bank/wire.js";
import { SettlenetError } from "../../../core/errors.js";
import { problemResponses } from "../schemas.js";

/** The bank's signed settlement callback (outside /v1: signed by the bank, not by a merchant). */
export const bankRoutes: FastifyPluginAsyncZod = async (app) => {
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
      const { bank } = app;
      if (!bank) throw new SettlenetError("BANK_CALLBACK_NOT_CONFIGURED", "no bank is configured");
      await bank.handleCallback({ headers: request.headers, body: request.rawBody ?? Buffer.alloc(0) });
      return reply.status(204).send(null);
    },
  );
};
