/**
 * A TCP proxy on 127.0.0.1 put between two parts (a node and the chain, two nodes) to cut the link
 * without touching either process: `refuse` closes the listener and resets every open connection (a
 * dead host), `blackhole` keeps accepting but forwards nothing and answers nothing (a partition:
 * packets vanish, connections hang until their own timeouts), `pass` heals. Tests and the fault
 * campaign use it.
 */
import { createConnection, createServer, type Server, type Socket } from "node:net";

export type ProxyMode = "pass" | "refuse" | "blackhole";

export interface TcpProxy {
  /** The proxy's port (kept across modes). */
  readonly port: number;
  /** `http://127.0.0.1:<port>`, for HTTP endpoints behind the proxy. */
  readonly url: string;
  readonly mode: ProxyMode;
  /** True while the proxy listens (every mode but `refuse`). */
  readonly running: boolean;
  /** Switches mode; every change cuts the open connections. */
  set(mode: ProxyMode): Promise<void>;
  /** `set("refuse")`: clients see refused connections. */
  pause(): Promise<void>;
  /** `set("pass")`: listens again on the same port and forwards. */
  resume(): Promise<void>;
  /** Cuts every connection and stops listening for good. */
  close(): Promise<void>;
}

/** Starts a proxy from 127.0.0.1:<ephemeral port> to `target` (host:port, an http(s) URL, or host and port). */
export async function startTcpProxy(target: string | { host: string; port: number }): Promise<TcpProxy> {
  const upstreamAddress = typeof target === "string" ? hostPort(target) : target;
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
    const upstream = createConnection(upstreamAddress);
    track(upstream);
    client.pipe(upstream);
    upstream.pipe(client);
    // Either side failing ends both: the client sees a reset, as with a dead server.
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
  const set = async (next: ProxyMode) => {
    if (next === mode) return;
    mode = next;
    // Established connections must not outlive a partition.
    cutAll();
    if (next === "refuse") await unlisten();
    else if (!server) await listen();
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
    get running() {
      return server !== undefined;
    },
    set,
    pause: () => set("refuse"),
    resume: () => set("pass"),
    async close() {
      mode = "refuse";
      cutAll();
      await unlisten();
    },
  };
}

/** Host and port of an http(s) URL or host:port. */
function hostPort(target: string): { host: string; port: number } {
  const url = new URL(target.includes("://") ? target : `tcp://${target}`);
  return { host: url.hostname, port: Number(url.port || (url.protocol === "https:" ? 443 : 80)) };
}
