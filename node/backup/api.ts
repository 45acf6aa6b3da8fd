/**
 * Admin route of the node API that streams a backup of the running node's database (one LevelDB
 * snapshot, taken when the request arrives; the node keeps writing meanwhile). Operator credentials
 * only; each download is recorded in the node's audit log first.
 */
import { PassThrough } from "node:stream";

import type { FastifyInstance } from "fastify";

import { adminRoutes } from "../../core/api/admin.js";
import type { Logger } from "../services.js";
import type { NodeStorage } from "../storage/db.js";
import { writeBackup } from "./backup.js";
import { principalOf } from "../api/app.js";
import { actorOf } from "../api/credentials.js";

/** Registers GET /v1/admin/backup (application/x-ndjson, see backup.ts for the format). */
export async function registerBackupRoutes(app: FastifyInstance, modules: { storage: NodeStorage; logger: Logger }): Promise<void> {
  app.route({
    ...adminRoutes.downloadBackup,
    handler: async (request, reply) => {
      const principal = principalOf(request);
      // Logged (synced) before the first byte leaves: no download goes unrecorded.
      const entry = await modules.storage.audit.append({ actor: actorOf(principal), role: principal.role, action: "backup.download", details: { remote: request.ip } });
      request.log.info({ credential: principal.id, audit: entry.seq }, "backup requested");
      const out = new PassThrough();
      const started = Date.now();
      writeBackup(modules.storage, out).then(
        (trailer) => {
          modules.logger.info({ records: trailer.records, contentSha256: trailer.contentSha256, ms: Date.now() - started }, "backup streamed");
          out.end();
        },
        (error: unknown) => {
          modules.logger.error({ err: error }, "backup failed");
          // The client sees a truncated body, which fails its checks: it never takes it for a backup.
          out.destroy(error as Error);
        },
      );
      return reply.type("application/x-ndjson").header("cache-control", "no-store").send(out);
    },
  });
}
