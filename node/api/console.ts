/** GET /v1/admin/metrics-summary and /v1/admin/failed-operations: what the institution console shows. */
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import type { Registry } from "prom-client";

import { consoleRoutes, type MetricsSummary } from "../../core/api/console.js";
import type { Storage } from "../services.js";

/** The node's own metrics as JSON: every settlenet_* series; histograms reduced to their sum and count. */
export async function metricsSummary(metrics: Registry, nowMs: number): Promise<MetricsSummary> {
  const all = await metrics.getMetricsAsJSON();
  return {
    atMs: nowMs,
    metrics: all
      .filter((m) => m.name.startsWith("settlenet_"))
      .map((m) => {
        const type = String(m.type) as MetricsSummary["metrics"][number]["type"];
        const values = (m.values as { labels: Record<string, string | number>; value: number; metricName?: string }[])
          .filter((v) => type !== "histogram" || v.metricName === `${m.name}_sum` || v.metricName === `${m.name}_count`)
          .map((v) => ({
            labels: { ...Object.fromEntries(Object.entries(v.labels).map(([k, l]) => [k, String(l)])), ...(type === "histogram" ? { series: v.metricName === `${m.name}_sum` ? "sum" : "count" } : {}) },
            value: v.value,
          }));
        return { name: m.name, type, values };
      }),
  };
}

export function registerConsoleRoutes(app: FastifyInstance, modules: { metrics: Registry; storage: Pick<Storage, "operations">; now?: () => number }): void {
  const api = app.withTypeProvider<ZodTypeProvider>();
  api.route({ ...consoleRoutes.getMetricsSummary, handler: async () => metricsSummary(modules.metrics, (modules.now ?? Date.now)()) });
  api.route({
    ...consoleRoutes.listFailedOperations,
    handler: async (request) => ({ operations: await modules.storage.operations.listByStatus("failed", request.query.limit) }),
  });
}
