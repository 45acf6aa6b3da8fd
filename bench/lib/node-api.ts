/** The nodes' HTTP API as the system benchmarks use it, through the node API client. */
import { NodeApiClient } from "../../core/api/client.js";
import { launchedCredentials } from "../../scripts/lib/launch/nodes.js";
import { SettlenetError } from "../../core/errors.js";
import type { StoredOperation } from "../../core/records.js";
import { metricSum } from "./metrics.js";

/** A client of one node; generous per-request limit, since a loaded node answers slowly by design here. */
export function nodeApi(apiUrl: string): NodeApiClient {
  const credentials = launchedCredentials(apiUrl);
  return new NodeApiClient({ baseUrl: apiUrl, timeoutMs: 120_000, ...(credentials ? { credentials } : {}) });
}

/**
 * A read for the harness itself (not a measured request): retried when the node could not be reached,
 * since a pooled keep-alive connection the server just closed fails the first request on it.
 */
async function harnessRead<T>(read: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await read();
    } catch (error) {
      const unreachable = error instanceof SettlenetError && error.code === "NODE_UNAVAILABLE" && error.meta["nodeCode"] === undefined;
      if (!unreachable || attempt >= 3) throw error;
      await new Promise((r) => setTimeout(r, 100 * attempt));
    }
  }
}

/** A node's Prometheus text (GET /metrics). */
export function harnessMetrics(apiUrl: string): Promise<string> {
  return harnessRead(() => nodeApi(apiUrl).metrics());
}

/** A metric of one node summed over its series (undefined when the node does not export it). */
export async function nodeMetric(apiUrl: string, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  return metricSum(await harnessRead(() => nodeApi(apiUrl).metrics()), name, labels);
}

/** Sum of `settlenet_operations_validated_total` for `path` and `result` (Prometheus text from GET /metrics). */
export async function validatedCount(apiUrl: string, path: "api" | "gossip", result: "accept" | "ignore" | "reject"): Promise<number> {
  return (await nodeMetric(apiUrl, "settlenet_operations_validated_total", { path, result })) ?? 0;
}

/** The node's stored operation, or undefined if it has none. */
export function storedOperation(apiUrl: string, id: string): Promise<StoredOperation | undefined> {
  return harnessRead(() => nodeApi(apiUrl).operation(id));
}

/** Runs `fn` over `items` with at most `concurrency` at a time. */
export async function mapLimit<T, R>(items: T[], concurrency: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) {
        const index = next++;
        results[index] = await fn(items[index] as T);
      }
    }),
  );
  return results;
}
