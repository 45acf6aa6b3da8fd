/**
 * Keys written per payment, by role and keyspace, from the processes' own counters (the nodes'
 * settlenet_storage_synced_writes_total, the gateway's gateway_storage_written_keys_total) read before
 * and after the measured window. Every key costs CPU three times: building and batching it on the main
 * thread, LevelDB's write of it in the thread pool, and its later compactions in LevelDB's background
 * thread; so CPU per payment follows these counts (docs/scaling.md).
 */
import { harnessMetrics } from "./node-api.js";
import { metricByLabel } from "./metrics.js";
import { fmt } from "./results.js";

/** Writes so far by keyspace: the gateway's and each node's (origin first). */
export interface WriteCounts {
  gateway: Record<string, number>;
  nodes: Record<string, number>[];
}

/** Keys written per payment by keyspace: the gateway, the origin node and the peers' average. */
export interface WritesPerPayment {
  gateway: Record<string, number>;
  origin: Record<string, number>;
  peer: Record<string, number>;
}

/** The counters now ({} for a process that does not export them or cannot be read: a diagnostic, not a measured result). */
export async function writeCounts(nodes: { apiUrl: string }[], gatewayMetrics: () => Promise<string>): Promise<WriteCounts> {
  const [gateway, ...perNode] = await Promise.all([
    gatewayMetrics()
      .catch(() => "")
      .then((text) => metricByLabel(text, "gateway_storage_written_keys_total", "keyspace")),
    ...nodes.map((node) =>
      harnessMetrics(node.apiUrl)
        .catch(() => "")
        .then((text) => metricByLabel(text, "settlenet_storage_synced_writes_total", "keyspace")),
    ),
  ]);
  return { gateway: gateway ?? {}, nodes: perNode };
}

function perPayment(before: Record<string, number>[], after: Record<string, number>[], payments: number): Record<string, number> {
  const out: Record<string, number> = {};
  if (payments <= 0 || after.length === 0) return out;
  after.forEach((counts, i) => {
    for (const [keyspace, count] of Object.entries(counts)) {
      const delta = count - (before[i]?.[keyspace] ?? 0);
      if (delta > 0) out[keyspace] = (out[keyspace] ?? 0) + delta / payments / after.length;
    }
  });
  return out;
}

/** Keys written per payment between two readings (peers averaged). */
export function writesPerPayment(before: WriteCounts, after: WriteCounts, payments: number): WritesPerPayment {
  return {
    gateway: perPayment([before.gateway], [after.gateway], payments),
    origin: perPayment(before.nodes.slice(0, 1), after.nodes.slice(0, 1), payments),
    peer: perPayment(before.nodes.slice(1), after.nodes.slice(1), payments),
  };
}

const total = (counts: Record<string, number>) => Object.values(counts).reduce((sum, n) => sum + n, 0);

/** One role's writes: the total, then each keyspace with at least 0.5 per payment (largest first), the rest as "other". */
function roleText(counts: Record<string, number>): string {
  const entries = Object.entries(counts).sort((a, b) => b[1] - a[1]);
  const shown = entries.filter(([, n]) => n >= 0.5);
  const rest = total(Object.fromEntries(entries.filter(([, n]) => n < 0.5)));
  const parts = [...shown.map(([k, n]) => `${k} ${fmt(n, 1)}`), ...(rest > 0 ? [`other ${fmt(rest, 1)}`] : [])];
  return `${fmt(total(counts), 1)} (${parts.join(", ")})`;
}

/** "keys written per payment: gateway …, origin …, each peer …" (roles with no writes counted are left out). */
export function writesText(writes: WritesPerPayment): string {
  const roles = [
    ["gateway", writes.gateway],
    ["origin", writes.origin],
    ["each peer", writes.peer],
  ] as const;
  const shown = roles.filter(([, counts]) => total(counts) > 0).map(([name, counts]) => `${name} ${roleText(counts)}`);
  return `keys written per payment (puts and deletes, by keyspace): ${shown.length > 0 ? shown.join("; ") : "n/a"}`;
}
