/**
 * The node API's port while the node starts. Catching up with the chain (a restored or emptied node
 * replays every event since its cursor) can take long, and the real API is built only once everything
 * it serves exists; until then this stand-in answers every request with 503 NOT_READY (the same
 * problem the real API answers while it syncs with its peers), so that clients, health checks and the
 * backup command can tell "catching up" from "not running". It is closed right before the real API
 * listens on the same port.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";

import type { TlsCredentials } from "../../core/http/tls.js";
import type { Logger } from "../services.js";

const PROBLEM = {
  type: "https://settlenet.dev/problems/not_ready",
  title: "the node is catching up with the chain and its peers",
  status: 503,
  code: "NOT_READY",
} as const;

export interface NotReadyServer {
  /** Stops listening and drops open connections (idempotent). */
  close(): Promise<void>;
}

/** Listens on `host:port` answering 503 NOT_READY; rejects as `listen` does (e.g. EADDRINUSE). */
export async function listenNotReady(address: { host: string; port: number; tls?: TlsCredentials | undefined }, modules: { logger: Logger }): Promise<NotReadyServer> {
  const answer = (request: IncomingMessage, response: ServerResponse) => {
    const body = JSON.stringify({ ...PROBLEM, instance: request.url ?? "/" });
    // Close the connection after answering: the next request should reach the real API.
    response.writeHead(503, { "content-type": "application/problem+json; charset=utf-8", "retry-after": "1", connection: "close" });
    response.end(body);
  };
  const server: Server = address.tls ? createHttpsServer(address.tls, answer) : createServer(answer);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(address.port, address.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  modules.logger.info({ host: address.host, port: address.port }, "answering 503 NOT_READY while catching up");
  let closed: Promise<void> | undefined;
  return {
    close() {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closed;
    },
  };
}
