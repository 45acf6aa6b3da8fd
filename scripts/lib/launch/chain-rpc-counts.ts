/**
 * What the chain process serves, counted by JSON-RPC method: the chain's CPU per payment is mostly
 * what its clients ask of it, so its log tells on stop which calls they made (and `settlenet_rpcCounts`
 * answers the counts so far, for a benchmark to difference over its window). One map increment per
 * request.
 */
import type { JsonRpcResponse } from "hardhat/types/providers";

export const RPC_COUNTS_METHOD = "settlenet_rpcCounts";

/** Key of the HTTP requests the chain's server received (a JSON-RPC batch is one request of several calls). */
export const HTTP_REQUESTS = "(http requests)";

let httpRequests = 0;

/** The counts of the running countRpcRequests, for the requests the server answers without Hardhat (its hooks never see them). */
let active: Map<string, number> | undefined;

/** Called by the chain's HTTP server for each call it answers without Hardhat's network hooks. */
export function countDirectRequest(method: string): void {
  active?.set(method, (active.get(method) ?? 0) + 1);
}

/** Called by the chain's HTTP server for each request it receives. */
export function countHttpRequest(): void {
  httpRequests++;
}

/** Counts requests by method in the network hooks of `hre`, and the HTTP requests that carried them; `stop()` removes the hook. */
export async function countRpcRequests(): Promise<{ counts: () => Record<string, number>; stop: () => void }> {
  const { default: hre } = await import("hardhat");
  const counts = new Map<string, number>();
  const httpBefore = httpRequests;
  const snapshot = () => Object.fromEntries([...counts.entries(), [HTTP_REQUESTS, httpRequests - httpBefore] as const].sort((a, b) => b[1] - a[1]));
  const handlers = {
    onRequest: async (
      context: unknown,
      connection: unknown,
      rpc: { id: number | string; method: string },
      next: (c: unknown, n: unknown, r: unknown) => Promise<JsonRpcResponse>,
    ): Promise<JsonRpcResponse> => {
      if (rpc.method === RPC_COUNTS_METHOD) return { jsonrpc: "2.0", id: rpc.id, result: snapshot() };
      counts.set(rpc.method, (counts.get(rpc.method) ?? 0) + 1);
      return next(context, connection, rpc);
    },
  };
  hre.hooks.registerHandlers("network", handlers as never);
  active = counts;
  return {
    counts: snapshot,
    stop: () => {
      if (active === counts) active = undefined;
      hre.hooks.unregisterHandlers("network", handlers as never);
    },
  };
}
