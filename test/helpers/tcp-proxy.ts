/**
 * A TCP proxy on 127.0.0.1 that tests can cut and restore, to make a real endpoint (a chain RPC, a
 * node's API) unreachable for a while without touching the process behind it.
 */
import { createConnection, createServer, type Server, type Socket } from "node:net";

export interface TcpProxy {
  /** The proxy's port (stable across pause/resume). */
  readonly port: number;
  /** `http://127.0.0.1:<port>`, for HTTP endpoints behind the proxy. */
  readonly url: string;
  /** True while connections are accepted and forwarded. */
  readonly running: boolean;
  /** Stops listening and cuts every open connection: clients see refused connections. */
  pause(): Promise<void>;
  /** Listens again on the same port. */
  resume(): Promise<void>;
  /** Pauses for good. */
  close(): Promise<void>;
}

/** Starts a proxy forwarding 127.0.0.1:<ephemeral port> to `target` (host:port or an http URL). */
export async function startTcpProxy(target: string | { host: string; port: number }): Promise<TcpProxy> {
  const { host, port: targetPort } = typeof target === "string" ? parseTarget(target) : target;
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;

  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  };

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const next = createServer((client) => {
        track(client);
        const upstream = createConnection({ host, port: targetPort });
        track(upstream);
        client.pipe(upstream);
        upstream.pipe(client);
        // Either side failing ends both: the client sees a reset, as with a dead server.
        client.on("error", () => upstream.destroy());
        upstream.on("error", () => client.destroy());
        client.on("close", () => upstream.destroy());
        upstream.on("close", () => client.destroy());
      });
      next.once("error", reject);
      next.listen(port, "127.0.0.1", () => {
        next.off("error", reject);
        const address = next.address();
        if (address && typeof address === "object") port = address.port;
        server = next;
        resolve();
      });
    });

  const pause = async () => {
    const current = server;
    server = undefined;
    for (const socket of sockets) socket.destroy();
    sockets.clear();
    if (current) await new Promise<void>((resolve) => current.close(() => resolve()));
  };

  await listen();
  return {
    get port() {
      return port;
    },
    get url() {
      return `http://127.0.0.1:${port}`;
    },
    get running() {
      return server !== undefined;
    },
    pause,
    async resume() {
      if (!server) await listen();
    },
    close: pause,
  };
}

function parseTarget(target: string): { host: string; port: number } {
  const url = new URL(target.includes("://") ? target : `tcp://${target}`);
  const port = Number(url.port || (url.protocol === "https:" ? 443 : 80));
  return { host: url.hostname, port };
}
