/**
 * Compliance routes of the node API (a Fastify plugin registered beside the core routes, sharing
 * their problem+json error handler): alerts with filters and cursor pagination, acknowledgement,
 * the proof-of-reserves report, and the AML and reserves reports in JSON or CSV.
 */
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import type { z } from "zod";

import { complianceRoutes, type alertListQuery, type alertReportQuery } from "../../core/api/compliance.js";
import { reservesRoutes } from "../../core/api/reserves.js";
import { SettlenetError } from "../../core/errors.js";
import { principalOf } from "../api/app.js";
import { actorOf } from "../api/credentials.js";
import type { AlertFilter, LevelAlertRepository } from "../storage/alerts.js";
import type { AlertRecord } from "./alert.js";
import { MAX_REPORT_ROWS, amlReport, reservesReport } from "./report.js";
import type { ReservesReport } from "./reserves.js";

export interface ComplianceApiModules {
  alerts: LevelAlertRepository;
  /** The proof-of-reserves report at the chain head. */
  reserves(): Promise<ReservesReport>;
  /** Called after an acknowledgement is stored (metrics, logs). */
  onAcknowledged?: (alert: AlertRecord) => void;
}

type Filter = Omit<AlertFilter, "limit" | "cursor">;

function filterOf(query: z.infer<typeof alertReportQuery> | z.infer<typeof alertListQuery>): Filter {
  return Object.fromEntries(Object.entries(query).filter(([key, value]) => value !== undefined && key !== "format" && key !== "limit" && key !== "cursor")) as Filter;
}

/** Every alert matching `filter`, newest first, up to MAX_REPORT_ROWS (REPORT_TOO_LARGE beyond). */
export async function allAlerts(alerts: LevelAlertRepository, filter: Filter): Promise<AlertRecord[]> {
  const rows: AlertRecord[] = [];
  let cursor: string | undefined;
  do {
    const page = await alerts.list({ ...filter, limit: 500, ...(cursor ? { cursor } : {}) });
    rows.push(...page.items);
    if (rows.length > MAX_REPORT_ROWS) {
      throw new SettlenetError("REPORT_TOO_LARGE", `more than ${MAX_REPORT_ROWS} alerts match; narrow the time range`, { max: MAX_REPORT_ROWS });
    }
    cursor = page.next;
  } while (cursor);
  return rows;
}

const CONTENT_TYPES = { json: "application/json", csv: "text/csv; charset=utf-8" } as const;

/** Registers the compliance routes on the node API. */
export async function registerComplianceRoutes(app: FastifyInstance, modules: ComplianceApiModules): Promise<void> {
  const api = app.withTypeProvider<ZodTypeProvider>();

  api.route({
    ...complianceRoutes.listAlerts,
    handler: async (request) => {
      const { limit, cursor } = request.query;
      return modules.alerts.list({ ...filterOf(request.query), limit, ...(cursor ? { cursor } : {}) });
    },
  });

  api.route({
    ...complianceRoutes.getAlert,
    handler: async (request) => {
      const alert = await modules.alerts.get(request.params.id);
      if (!alert) throw new SettlenetError("ALERT_NOT_FOUND", `no alert ${request.params.id}`, { id: request.params.id });
      return alert;
    },
  });

  api.route({
    ...complianceRoutes.acknowledgeAlert,
    handler: async (request) => {
      const principal = principalOf(request);
      const alert = await modules.alerts.acknowledge(
        request.params.id,
        { by: actorOf(principal), role: principal.role, note: request.body.note, statedBy: request.body.by },
        Date.now(),
      );
      request.log.info({ alert: alert.id, rule: alert.rule, credential: principal.id }, "alert acknowledged");
      modules.onAcknowledged?.(alert);
      return alert;
    },
  });

  api.route({ ...reservesRoutes.getReserves, handler: async () => modules.reserves() });

  api.route({
    ...reservesRoutes.amlReport,
    handler: async (request, reply) => {
      const format = request.query.format;
      const rows = await allAlerts(modules.alerts, { ...filterOf(request.query), category: request.query.category ?? "aml" });
      return reply.type(CONTENT_TYPES[format]).send(amlReport(rows, format));
    },
  });

  api.route({
    ...reservesRoutes.reservesReport,
    handler: async (request, reply) => {
      const format = request.query.format;
      return reply.type(CONTENT_TYPES[format]).send(reservesReport(await modules.reserves(), format));
    },
  });
}
