/**
 * A TCP proxy on 127.0.0.1 the fault campaign puts between two parts (a node and the chain, two
 * nodes) to cut the link without touching either process: `refuse` closes the listener and resets
 * every open connection (a dead host), `blackhole` keeps accepting but forwards nothing and answers
 * nothing (a partition: packets vanish, connections hang until their own timeouts), `pass` heals.
 */
import { createConnection, createServer, type Server, type Socket } from "node:net";

export type ProxyMode = "pass" | "refuse" | "blackhole";

export interface ChaosProxy {
  readonly port: number;
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  readonly mode: ProxyMode;
  set(mode: ProxyMode): Promise<void>;
  close(): Promise<void>;
}

/** Starts a proxy from an ephemeral port (kept across modes) to `target`. */
export async function startProxy(target: { host: string; port: number }): Promise<ChaosProxy> {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  let mode: ProxyMode = "pass";

  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  };
  const onConnection = (client: Socket) => {
    track(client);
    client.on("error", () => client.destroy());
    if (mode === "blackhole") {
      // Read and drop: the peer's writes succeed, nothing ever comes back.
      client.resume();
      return;
    }
    const upstream = createConnection(target);
    track(upstream);
    client.pipe(upstream);
    upstream.pipe(client);
    upstream.on("error", () => client.destroy());
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  };
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const next = createServer(onConnection);
      next.once("error", reject);
      next.listen(port, "127.0.0.1", () => {
        next.off("error", reject);
        const address = next.address();
        if (address && typeof address === "object") port = address.port;
        server = next;
        resolve();
      });
    });
  const cutAll = () => {
    for (const socket of sockets) socket.destroy();
    sockets.clear();
  };
  const unlisten = async () => {
    const current = server;
    server = undefined;
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
    get mode() {
      return mode;
    },
    async set(next: ProxyMode) {
      if (next === mode) return;
      mode = next;
      // Every mode change cuts the open connections: established ones must not outlive a partition.
      cutAll();
      if (next === "refuse") await unlisten();
      else if (!server) await listen();
    },
    async close() {
      cutAll();
      await unlisten();
    },
  };
}

/** host and port of an http(s) URL or host:port. */
export function hostPort(target: string): { host: string; port: number } {
  const url = new URL(target.includes("://") ? target : `tcp://${target}`);
  return { host: url.hostname, port: Number(url.port || (url.protocol === "https:" ? 443 : 80)) };
}
