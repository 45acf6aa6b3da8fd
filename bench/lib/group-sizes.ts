/**
 * Group sizes in a network benchmark, from the nodes' own counters (GET /metrics) read before and after
 * the measured window: a node's cost is mostly per group (one validation round, one synced batch, one
 * gossip message, one worker post), so CPU per payment follows these. Also each node's CPU by thread:
 * a CPU profile samples the main thread only, and about half of a node's CPU is spent elsewhere.
 */
import { harnessMetrics } from "./node-api.js";
import { metricSum } from "./metrics.js";
import { fmt } from "./results.js";

const COUNTERS = {
  apiGroups: ["settlenet_pipeline_groups_total", { path: "api" }],
  apiOps: ["settlenet_pipeline_group_operations_total", { path: "api" }],
  gossipGroups: ["settlenet_pipeline_groups_total", { path: "gossip" }],
  gossipOps: ["settlenet_pipeline_group_operations_total", { path: "gossip" }],
  published: ["settlenet_gossip_published_messages_total", {}],
  publishedOps: ["settlenet_gossip_published_operations_total", {}],
  fsyncs: ["settlenet_storage_synced_batches_total", {}],
  writes: ["settlenet_storage_synced_writes_total", {}],
  posts: ["settlenet_signature_worker_posts_total", {}],
  workerSigs: ["settlenet_signature_recovered_total", { thread: "worker" }],
  mainSigs: ["settlenet_signature_recovered_total", { thread: "main" }],
  rpcs: ["settlenet_p2p_received_total", { part: "rpc" }],
  copies: ["settlenet_p2p_received_total", { part: "message" }],
  ihave: ["settlenet_p2p_received_total", { part: "ihave" }],
  iwant: ["settlenet_p2p_received_total", { part: "iwant" }],
  idontwant: ["settlenet_p2p_received_total", { part: "idontwant" }],
  processCpu: ["process_cpu_seconds_total", {}],
  mainCpu: ["settlenet_thread_cpu_seconds_total", { thread: "main" }],
  workerCpu: ["settlenet_thread_cpu_seconds_total", { thread: "signature-worker" }],
} as const satisfies Record<string, readonly [string, Record<string, string>]>;

export type GroupCounters = Record<keyof typeof COUNTERS, number>;

/** Each node's counters now (0 for what a node does not export). */
export async function groupCounters(nodes: { apiUrl: string }[]): Promise<GroupCounters[]> {
  return Promise.all(
    nodes.map(async (node) => {
      const text = await harnessMetrics(node.apiUrl).catch(() => "");
      return Object.fromEntries(Object.entries(COUNTERS).map(([key, [name, labels]]) => [key, metricSum(text, name, labels) ?? 0])) as GroupCounters;
    }),
  );
}

/** One line on the origin's and the peers' group sizes and the gossip traffic per payment between two readings. */
export function groupSizesText(before: GroupCounters[], after: GroupCounters[], payments: number): string {
  const delta = (i: number) => Object.fromEntries(Object.keys(COUNTERS).map((k) => [k, (after[i]?.[k as keyof GroupCounters] ?? 0) - (before[i]?.[k as keyof GroupCounters] ?? 0)])) as GroupCounters;
  const sum = (ds: GroupCounters[]) => Object.fromEntries(Object.keys(COUNTERS).map((k) => [k, ds.reduce((s, d) => s + d[k as keyof GroupCounters], 0)])) as GroupCounters;
  const ratio = (a: number, b: number) => (b > 0 ? fmt(a / b, 1) : "n/a");
  const origin = delta(0);
  const peers = sum(after.slice(1).map((_, i) => delta(i + 1)));
  const all = sum(after.map((_, i) => delta(i)));
  const perPay = (n: number) => (payments > 0 ? fmt(n / payments, 2) : "n/a");
  // CPU by thread (µs per payment): the rest of the process's CPU is V8's GC and compiler threads and libuv's pool (LevelDB).
  const threads = (d: GroupCounters, nodes: number) =>
    payments > 0 && d.processCpu > 0
      ? `main thread ${fmt((d.mainCpu * 1e6) / payments / nodes)}, signature workers ${fmt((d.workerCpu * 1e6) / payments / nodes)}, other threads ${fmt(((d.processCpu - d.mainCpu - d.workerCpu) * 1e6) / payments / nodes)} µs`
      : "n/a";
  return (
    `group sizes: origin ${ratio(origin.apiOps, origin.apiGroups)} operations per API group (${fmt(origin.apiGroups)} groups), ` +
    `${ratio(origin.publishedOps, origin.published)} per gossip message published (${fmt(origin.published)}), ${ratio(origin.writes, origin.fsyncs)} writes per fsync (${fmt(origin.fsyncs)}), ` +
    `${ratio(origin.workerSigs, origin.posts)} signatures per worker post (${fmt(origin.posts)} posts, ${fmt(origin.mainSigs)} on the main thread); ` +
    (after.length > 1
      ? `peers ${ratio(peers.gossipOps, peers.gossipGroups)} operations per gossip group validated (${fmt(peers.gossipGroups)}), ${ratio(peers.writes, peers.fsyncs)} writes per fsync (${fmt(peers.fsyncs)}), ` +
        `${ratio(peers.workerSigs, peers.posts)} signatures per worker post (${fmt(peers.posts)}); ` +
        `received by all nodes per payment: ${perPay(all.rpcs)} RPCs, ${perPay(all.copies)} message copies (all topics, duplicates included), ${perPay(all.idontwant)} IDONTWANT, ${perPay(all.ihave)} IHAVE, ${perPay(all.iwant)} IWANT ids`
      : `(no peers)`) +
    `; CPU per payment by thread (GC, compiler and LevelDB's libuv pool in "other"): origin ${threads(origin, 1)}` +
    (after.length > 1 ? `; each peer ${threads(peers, after.length - 1)}` : "")
  );
}
