/**
 * An HTTP pass-through in front of a chain's JSON-RPC endpoint that records every call and the error
 * the chain answered, so a test sees what the chain refused whichever component sent it.
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
  const server: Server = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      const requests = parseAll<Request>(body);
      for (const request of requests) {
        const method = String(request.method);
        calls.set(method, (calls.get(method) ?? 0) + 1);
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
