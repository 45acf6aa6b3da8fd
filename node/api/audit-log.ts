/** GET /v1/admin/audit: the node's hash-chained audit log, a page at a time with its head. */
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";

import { adminRoutes } from "../../core/api/admin.js";
import type { AuditLog } from "../../core/audit/log.js";

/** Registers the audit log route. */
export function registerAuditLogRoutes(app: FastifyInstance, modules: { audit: AuditLog }): void {
  app.withTypeProvider<ZodTypeProvider>().route({
    ...adminRoutes.listAuditLog,
    handler: async (request) => {
      const { after, limit } = request.query;
      // The head first: entries appended meanwhile only lengthen the log past it.
      const head = await modules.audit.head();
      const page = await modules.audit.list({ ...(after === undefined ? {} : { after }), limit });
      return { ...page, head };
    },
  });
}
