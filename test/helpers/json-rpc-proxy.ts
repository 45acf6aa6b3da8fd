/**
 * An HTTP pass-through in front of a chain's JSON-RPC endpoint that records every call and the error
 * the chain answered, so a test sees what the chain refused whichever component sent it. It can also
 * hold back calls of one method until released, or answer the next one with an error itself.
 */
import { once } from "node:events";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** One JSON-RPC call the chain answered with an error. */
export interface RefusedCall {
  method: string;
  code: number | undefined;
  message: string;
}

export interface JsonRpcProxy {
  /** `http://127.0.0.1:<port>`: point providers here instead of at the chain. */
  readonly url: string;
  /** Calls forwarded, by method. */
  readonly calls: ReadonlyMap<string, number>;
  /** Calls the chain answered with an error, in order. */
  readonly refused: readonly RefusedCall[];
  /** Holds requests carrying a call of `method` (forwarded in arrival order) until the returned function is called. */
  hold(method: string): () => void;
  /** Answers the next request carrying a call of `method` (once it is let through) with a JSON-RPC error, without forwarding it. */
  failNext(method: string): void;
  close(): Promise<void>;
}

interface Request {
  id?: unknown;
  method?: unknown;
}

interface Response {
  id?: unknown;
  error?: { code?: unknown; message?: unknown };
}

/** Starts a pass-through to `target` (the chain's JSON-RPC URL) on an ephemeral loopback port. */
export async function startJsonRpcProxy(target: string): Promise<JsonRpcProxy> {
  const calls = new Map<string, number>();
  const refused: RefusedCall[] = [];
  const held = new Map<string, Promise<void>>();
  const failing = new Set<string>();
  /** Requests of a held method go through in arrival order once released. */
  let order: Promise<void> = Promise.resolve();
  const server: Server = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      const requests = parseAll<Request>(body);
      const methods = requests.map((request) => String(request.method));
      for (const method of methods) calls.set(method, (calls.get(method) ?? 0) + 1);
      const gate = methods.map((method) => held.get(method)).find((promise) => promise !== undefined);
      if (gate) {
        const turn = order.then(() => gate);
        order = turn;
        await turn;
      }
      const failed = methods.find((method) => failing.has(method));
      if (failed !== undefined) {
        failing.delete(failed);
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify(requests.map((request) => ({ jsonrpc: "2.0", id: request.id, error: { code: -32000, message: `${failed} failed (test)` } }))));
        return;
      }
      let answer: globalThis.Response;
      try {
        answer = await fetch(target, { method: "POST", headers: { "content-type": "application/json" }, body });
      } catch {
        res.destroy();
        return;
      }
      const text = await answer.text();
      const methodOf = new Map(requests.map((request) => [JSON.stringify(request.id), String(request.method)]));
      for (const response of parseAll<Response>(text)) {
        if (!response.error) continue;
        refused.push({
          method: methodOf.get(JSON.stringify(response.id)) ?? "unknown",
          code: typeof response.error.code === "number" ? response.error.code : undefined,
          message: String(response.error.message),
        });
      }
      res.writeHead(answer.status, { "content-type": "application/json" });
      res.end(text);
    })();
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    refused,
    hold(method) {
      let release!: () => void;
      held.set(method, new Promise<void>((resolve) => (release = resolve)));
      return () => {
        held.delete(method);
        release();
      };
    },
    failNext(method) {
      failing.add(method);
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/** A JSON-RPC payload as a list (a batch is an array, a single call an object). */
function parseAll<T>(text: string): T[] {
  try {
    const parsed: unknown = JSON.parse(text);
    return (Array.isArray(parsed) ? parsed : [parsed]) as T[];
  } catch {
    return [];
  }
}
