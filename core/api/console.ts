/**
 * Operator console resource of the node API: the figures the institution console charts, as JSON
 * (the node's Prometheus metrics summed per series, rather than the exposition text parsed in the
 * browser), and the operations that failed on-chain with their decoded errors.
 */
import { z } from "zod";

import { integer, problemResponses, route } from "./common.js";
import { storedOperationSchema } from "./operations.js";

/** One metric of the node: a value per label set (histograms: their `_sum` and `_count` only). */
export const metricSummarySchema = z.strictObject({
  name: z.string(),
  type: z.enum(["counter", "gauge", "histogram", "summary"]),
  values: z.array(z.strictObject({ labels: z.record(z.string(), z.string()), value: z.number() })),
});

export const metricsSummarySchema = z.strictObject({
  atMs: integer.describe("When the figures were read: the console charts rates between two readings"),
  metrics: z.array(metricSummarySchema),
});
export type MetricsSummary = z.infer<typeof metricsSummarySchema>;

export const consoleRoutes = {
  getMetricsSummary: route("GET", "/v1/admin/metrics-summary", {
    operationId: "getMetricsSummary",
    tags: ["admin"],
    summary: "The node's settlenet_* metrics as JSON (counters, gauges; histograms as sum and count), for the institution console's charts",
    response: { 200: metricsSummarySchema, ...problemResponses },
  }),
  listFailedOperations: route("GET", "/v1/admin/failed-operations", {
    operationId: "listFailedOperations",
    tags: ["admin"],
    summary: "Operations that failed on-chain, oldest received first, each with its decoded error (the contract's custom error and arguments)",
    querystring: z.strictObject({ limit: z.coerce.number<number>().int().min(1).max(500).default(100) }),
    response: { 200: z.strictObject({ operations: z.array(storedOperationSchema) }), ...problemResponses },
  }),
};
