/**
 * Compliance routes of the node API (a Fastify plugin registered beside the core routes, sharing
 * their problem+json error handler): alerts with filters and cursor pagination, acknowledgement,
 * the proof-of-reserves report, and the AML and reserves reports in JSON or CSV.
 */
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";

import { SettlenetError } from "../../core/errors.js";
import type { AlertFilter, LevelAlertRepository } from "../storage/alerts.js";
import { ALERT_RULES, type AlertRecord } from "./alert.js";
import { MAX_REPORT_ROWS, amlReport, reservesReport } from "./report.js";
import type { ReservesReport } from "./reserves.js";

export interface ComplianceApiModules {
  alerts: LevelAlertRepository;
  /** The proof-of-reserves report at the chain head. */
  reserves(): Promise<ReservesReport>;
  /** Called after an acknowledgement is stored (metrics, logs). */
  onAcknowledged?: (alert: AlertRecord) => void;
}

const hex32 = z.string().regex(/^0x[0-9a-fA-F]{64}$/, "expected 32 bytes as 0x-prefixed hex");
const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/, "expected a 0x address");
const filterFields = {
  rule: z.enum(ALERT_RULES).optional(),
  category: z.enum(["aml", "reserves"]).optional(),
  account: address.optional(),
  status: z.enum(["open", "acknowledged"]).optional(),
  from: z.coerce.number().int().nonnegative().optional(),
  to: z.coerce.number().int().nonnegative().optional(),
};
const listQuery = z.strictObject({ ...filterFields, cursor: z.string().max(512).optional(), limit: z.coerce.number().int().min(1).max(500).default(50) });
const reportQuery = z.strictObject({ ...filterFields, format: z.enum(["json", "csv"]).default("json") });
const ackBody = z.strictObject({ by: z.string().trim().min(1).max(128), note: z.string().max(2_000).default("") });

type Filter = Omit<AlertFilter, "limit" | "cursor">;

function filterOf(query: z.infer<typeof reportQuery> | z.infer<typeof listQuery>): Filter {
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

  api.get("/v1/alerts", { schema: { querystring: listQuery } }, async (request) => {
    const { limit, cursor } = request.query;
    return modules.alerts.list({ ...filterOf(request.query), limit, ...(cursor ? { cursor } : {}) });
  });

  api.get("/v1/alerts/:id", { schema: { params: z.strictObject({ id: hex32 }) } }, async (request) => {
    const alert = await modules.alerts.get(request.params.id);
    if (!alert) throw new SettlenetError("ALERT_NOT_FOUND", `no alert ${request.params.id}`, { id: request.params.id });
    return alert;
  });

  api.post("/v1/alerts/:id/ack", { schema: { params: z.strictObject({ id: hex32 }), body: ackBody } }, async (request) => {
    const alert = await modules.alerts.acknowledge(request.params.id, { by: request.body.by, note: request.body.note }, Date.now());
    request.log.info({ alert: alert.id, rule: alert.rule, by: alert.ack?.by }, "alert acknowledged");
    modules.onAcknowledged?.(alert);
    return alert;
  });

  api.get("/v1/reserves", async () => modules.reserves());

  api.get("/v1/reports/aml", { schema: { querystring: reportQuery } }, async (request, reply) => {
    const format = request.query.format;
    const rows = await allAlerts(modules.alerts, { ...filterOf(request.query), category: request.query.category ?? "aml" });
    return reply.type(CONTENT_TYPES[format]).send(amlReport(rows, format));
  });

  api.get("/v1/reports/reserves", { schema: { querystring: z.strictObject({ format: z.enum(["json", "csv"]).default("json") }) } }, async (request, reply) => {
    const format = request.query.format;
    return reply.type(CONTENT_TYPES[format]).send(reservesReport(await modules.reserves(), format));
  });
}
