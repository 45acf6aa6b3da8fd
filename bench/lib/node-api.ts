/** Reads from the nodes' HTTP APIs that the system benchmarks need. */
import type { StoredOperation } from "../../core/records.js";

/**
 * GET for the harness's own reads (not measured requests): retried on a network error, since a pooled
 * keep-alive connection the server just closed fails the first request on it ("fetch failed").
 */
async function get(url: string): Promise<Response> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fetch(url);
    } catch (error) {
      if (attempt >= 3) throw error;
      await new Promise((r) => setTimeout(r, 100 * attempt));
    }
  }
}

/** Sum of `settlenet_operations_validated_total` for `path` and `result` (Prometheus text from GET /metrics). */
export async function validatedCount(apiUrl: string, path: "api" | "gossip", result: "accept" | "ignore" | "reject"): Promise<number> {
  const text = await (await get(`${apiUrl}/metrics`)).text();
  let total = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith("settlenet_operations_validated_total{")) continue;
    if (!line.includes(`path="${path}"`) || !line.includes(`result="${result}"`)) continue;
    total += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return total;
}

/** The node's stored operation, or undefined (404). */
export async function storedOperation(apiUrl: string, id: string): Promise<StoredOperation | undefined> {
  const res = await get(`${apiUrl}/v1/operations/${id}`);
  if (res.status === 404) {
    await res.arrayBuffer();
    return undefined;
  }
  if (res.status !== 200) throw new Error(`GET /v1/operations/${id} answered ${res.status}`);
  return (await res.json()) as StoredOperation;
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
