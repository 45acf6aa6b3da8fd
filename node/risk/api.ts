/** GET and PUT /v1/admin/risk-rules: the rules a node applies, and a signed document from an operator. */
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";

import { adminRoutes } from "../../core/api/admin.js";
import { principalOf } from "../api/app.js";
import { actorOf } from "../api/credentials.js";
import type { RiskRulesService } from "./rules.js";

/** Registers the risk-rules routes. */
export function registerRiskRulesRoutes(app: FastifyInstance, modules: { rules: RiskRulesService }): void {
  const api = app.withTypeProvider<ZodTypeProvider>();
  api.route({ ...adminRoutes.getRiskRules, handler: async () => modules.rules.view() });
  api.route({
    ...adminRoutes.putRiskRules,
    handler: async (request) => {
      const principal = principalOf(request);
      const { view, entry } = await modules.rules.submit(request.body, { actor: actorOf(principal), role: principal.role });
      request.log.info({ version: view.version, credential: principal.id, audit: entry.seq }, "risk rules submitted");
      return view;
    },
  });
}
