/** GET /v1/admin/overdue: the overdue monitor's open alerts (operators only, see core/api/routes.ts). */
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";

import { overdueRoutes } from "../../core/api/overdue.js";
import type { OverdueMonitor } from "./monitor.js";

export function registerOverdueRoutes(app: FastifyInstance, modules: { monitor: Pick<OverdueMonitor, "report"> }): void {
  app.withTypeProvider<ZodTypeProvider>().route({ ...overdueRoutes.listOverdue, handler: async (request) => modules.monitor.report(request.query.limit) });
}
