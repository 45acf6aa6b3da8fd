/**
 * Keys and bytes written per payment, by role and keyspace, from the processes' own counters (the nodes'
 * settlenet_storage_synced_writes_total and settlenet_storage_synced_bytes_total, the gateway's
 * gateway_storage_written_keys_total and gateway_storage_written_bytes_total) read before and after the
 * measured window. Every key costs CPU three times: building and batching it on the main
 * thread, LevelDB's write of it in the thread pool, and its later compactions in LevelDB's background
 * thread; so CPU per payment follows these counts (docs/scaling.md).
 */
import { harnessMetrics } from "./node-api.js";
import { metricByLabel } from "./metrics.js";
import { fmt } from "./results.js";

/** Writes so far by keyspace: the gateway's and each node's (origin first); `bytes` the same for the length written. */
export interface WriteCounts {
  gateway: Record<string, number>;
  nodes: Record<string, number>[];
  bytes?: { gateway: Record<string, number>; nodes: Record<string, number>[] };
}

/** Keys written per payment by keyspace: the gateway, the origin node and the peers' average; `bytes` the same for the length written. */
export interface WritesPerPayment {
  gateway: Record<string, number>;
  origin: Record<string, number>;
  peer: Record<string, number>;
  bytes?: { gateway: Record<string, number>; origin: Record<string, number>; peer: Record<string, number> };
}

/** The counters now ({} for a process that does not export them or cannot be read: a diagnostic, not a measured result). */
export async function writeCounts(nodes: { apiUrl: string }[], gatewayMetrics: () => Promise<string>): Promise<WriteCounts> {
  const [gatewayText = "", ...nodeTexts] = await Promise.all([gatewayMetrics().catch(() => ""), ...nodes.map((node) => harnessMetrics(node.apiUrl).catch(() => ""))]);
  return {
    gateway: metricByLabel(gatewayText, "gateway_storage_written_keys_total", "keyspace"),
    nodes: nodeTexts.map((text) => metricByLabel(text, "settlenet_storage_synced_writes_total", "keyspace")),
    bytes: {
      gateway: metricByLabel(gatewayText, "gateway_storage_written_bytes_total", "keyspace"),
      nodes: nodeTexts.map((text) => metricByLabel(text, "settlenet_storage_synced_bytes_total", "keyspace")),
    },
  };
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
  const roles = (b: Pick<WriteCounts, "gateway" | "nodes">, a: Pick<WriteCounts, "gateway" | "nodes">) => ({
    gateway: perPayment([b.gateway], [a.gateway], payments),
    origin: perPayment(b.nodes.slice(0, 1), a.nodes.slice(0, 1), payments),
    peer: perPayment(b.nodes.slice(1), a.nodes.slice(1), payments),
  });
  return { ...roles(before, after), ...(before.bytes && after.bytes ? { bytes: roles(before.bytes, after.bytes) } : {}) };
}

const total = (counts: Record<string, number>) => Object.values(counts).reduce((sum, n) => sum + n, 0);

/**
 * One role's writes: the total, then each keyspace with at least `least` per payment (largest first), the
 * rest as "other"; each figure divided by `unit` first.
 */
function roleText(counts: Record<string, number>, least: number, unit = 1): string {
  const entries = Object.entries(counts)
    .map(([k, n]) => [k, n / unit] as const)
    .sort((a, b) => b[1] - a[1]);
  const shown = entries.filter(([, n]) => n >= least);
  const rest = entries.filter(([, n]) => n < least).reduce((sum, [, n]) => sum + n, 0);
  const parts = [...shown.map(([k, n]) => `${k} ${fmt(n, 1)}`), ...(rest > 0 ? [`other ${fmt(rest, 1)}`] : [])];
  return `${fmt(total(counts) / unit, 1)} (${parts.join(", ")})`;
}

/** "gateway …; origin …; each peer …" (roles with nothing counted are left out), or "n/a". */
function rolesText(writes: Pick<WritesPerPayment, "gateway" | "origin" | "peer">, least: number, unit = 1): string {
  const roles = [
    ["gateway", writes.gateway],
    ["origin", writes.origin],
    ["each peer", writes.peer],
  ] as const;
  const shown = roles.filter(([, counts]) => total(counts) > 0).map(([name, counts]) => `${name} ${roleText(counts, least, unit)}`);
  return shown.length > 0 ? shown.join("; ") : "n/a";
}

/** "keys written per payment: gateway …, origin …, each peer …", then the KB written the same way where counted. */
export function writesText(writes: WritesPerPayment): string {
  const keys = `keys written per payment (puts and deletes, by keyspace): ${rolesText(writes, 0.5)}`;
  const bytes = writes.bytes ? rolesText(writes.bytes, 0.1, 1000) : "n/a";
  return bytes === "n/a" ? keys : `${keys}; KB of keys and JSON values written per payment: ${bytes}`;
}
