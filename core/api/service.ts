/** Peers and health resource of the node API, and its Prometheus metrics. */
import { z } from "zod";

import { integer, problemResponses, route, text } from "./common.js";

/** A connected peer, named when the registry knows its operator. */
export const peerInfoSchema = z.strictObject({
  peerId: z.string(),
  operator: z.string().optional().describe("Operator id (first account) of the institution or regulator running the peer"),
  name: z.string().optional(),
});
export type PeerInfo = z.infer<typeof peerInfoSchema>;

/** The node's health: ready once it has caught up with the chain and its peers. */
export const healthSchema = z.strictObject({
  ready: z.boolean(),
  role: z.enum(["institution", "regulator"]),
  peerId: z.string(),
  operator: z.string(),
  chain: z
    .strictObject({ head: integer.nullable(), indexed: integer.nullable(), registry: integer })
    .describe("Chain head, last block the indexer has indexed, last block the registry mirror reflects"),
  peers: integer,
});
export type HealthReport = z.infer<typeof healthSchema>;

export const serviceRoutes = {
  listPeers: route("GET", "/v1/peers", {
    operationId: "listPeers",
    tags: ["service"],
    summary: "Connected peers (answers while the node is catching up)",
    response: { 200: z.strictObject({ peers: z.array(peerInfoSchema) }), ...problemResponses },
  }),
  health: route("GET", "/health", {
    operationId: "health",
    tags: ["service"],
    summary: "Health: 200 when ready, 503 with the same document while catching up",
    response: { 200: healthSchema, 503: healthSchema, ...problemResponses },
  }),
  metrics: route("GET", "/metrics", {
    operationId: "metrics",
    tags: ["service"],
    summary: "Prometheus metrics (answers while the node is catching up)",
    response: { 200: { description: "Prometheus text exposition format", content: { "text/plain": { schema: text("Prometheus metrics") } } }, ...problemResponses },
  }),
};
