/**
 * What the relay did in a measured window: the escrow operations the chain was sent (from its blocks'
 * calldata, chain-scan.ts) and how many were duplicates, beside the nodes' own duplicate counter when
 * they export one (read by name; a node without it makes the figure "n/a", never 0).
 */
import type { JsonRpcProvider } from "ethers";

import { scanChain, type ChainScan } from "./chain-scan.js";
import { nodeMetric } from "./node-api.js";
import type { DuplicateItems } from "./results.js";

export const DUPLICATE_METRIC = "settlenet_relay_duplicate_items_total";

/** The nodes' duplicate relayed items so far, summed; null if any node does not export the metric. */
export async function duplicateMetric(nodes: { apiUrl: string }[]): Promise<number | null> {
  let total = 0;
  for (const node of nodes) {
    const value = await nodeMetric(node.apiUrl, DUPLICATE_METRIC).catch(() => undefined);
    if (value === undefined) return null;
    total += value;
  }
  return total;
}

/** Duplicate relayed items between `metricBefore` (taken at the window's start) and now, over blocks `from`..`to`. */
export async function relayedInWindow(
  chain: { provider: JsonRpcProvider; escrow: string; nodes: { apiUrl: string }[] },
  window: { from: number; to: number; metricBefore: number | null },
): Promise<{ duplicates: DuplicateItems; scan: ChainScan }> {
  const metricAfter = window.metricBefore === null ? null : await duplicateMetric(chain.nodes);
  const scan = await scanChain(chain.provider, chain.escrow, window.from, window.to);
  return {
    duplicates: {
      relayed: scan.relayed.items,
      duplicates: scan.relayed.duplicates,
      metric: metricAfter === null || window.metricBefore === null ? null : metricAfter - window.metricBefore,
    },
    scan,
  };
}
