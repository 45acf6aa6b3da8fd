/**
 * A merchant's webhook receiver for tests and benchmarks: a real HTTP server on 127.0.0.1 that verifies every
 * request with its own implementation of the Standard Webhooks specification (not the gateway's
 * code) and deduplicates by `webhook-id`. It can answer 503, answer 410, or be down (connection
 * refused) and come back on the same port.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";

export interface ReceivedWebhook {
  id: string;
  timestamp: number;
  signature: string;
  body: string;
  /** When it arrived (unix seconds, this process's clock). */
  receivedAt: number;
  /** When it arrived (Date.now()). */
  receivedAtMs: number;
  payload: { id: string; type: string; timestamp: string; data: Record<string, unknown> };
}

export type ReceiverMode = "ok" | "unavailable" | "gone";

/** Verifies one delivery per the spec; returns why it fails, or undefined if it is authentic. */
export function verifyStandardWebhook(secret: string, headers: Record<string, string | string[] | undefined>, body: string, nowSeconds: number, toleranceSeconds = 300): string | undefined {
  const one = (name: string) => {
    const value = headers[name];
    return Array.isArray(value) ? value[0] : value;
  };
  const id = one("webhook-id");
  const timestamp = one("webhook-timestamp");
  const signatures = one("webhook-signature");
  if (!id || !timestamp || !signatures) return "missing header";
  if (!/^[0-9]+$/.test(timestamp)) return "bad timestamp";
  if (Math.abs(nowSeconds - Number(timestamp)) > toleranceSeconds) return "timestamp out of tolerance";
  if (!secret.startsWith("whsec_")) return "bad secret";
  const key = Buffer.from(secret.slice(6), "base64");
  const expected = createHmac("sha256", key).update(`${id}.${timestamp}.${body}`).digest();
  for (const entry of signatures.split(" ")) {
    const [version, value] = entry.split(",", 2);
    if (version !== "v1" || !value) continue;
    const given = Buffer.from(value, "base64");
    if (given.length === expected.length && timingSafeEqual(given, expected)) return undefined;
  }
  return "no matching signature";
}

export class WebhookReceiver {
  mode: ReceiverMode = "ok";
  /** Authentic deliveries by webhook-id (first one kept). */
  readonly unique = new Map<string, ReceivedWebhook>();
  /** Authentic deliveries whose webhook-id was seen before. */
  duplicates = 0;
  /** Requests that failed verification, with the reason. */
  readonly rejected: string[] = [];
  /** Every request that reached the server (any mode), by request path: a test that needs an exact count gives its endpoint its own path. */
  readonly requestsByPath = new Map<string, number>();
  /** Every request that reached the server, by request path and webhook-id (see requestsOf). */
  private readonly requestsByPathAndId = new Map<string, number>();
  secret = "";
  /** Secrets of endpoints at other paths than the default one (the default `secret` elsewhere). */
  readonly secretsByPath = new Map<string, string>();
  private server: Server | undefined;
  port = 0;

  /** `nowMs`: the clock timestamps are checked against (the gateway's, when a test moves it). */
  constructor(private readonly nowMs: () => number = Date.now) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}/hooks`;
  }

  /** Starts listening (on the previous port when restarting). */
  async start(): Promise<void> {
    const server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.port, "127.0.0.1", () => resolve());
    });
    const address = server.address();
    this.port = typeof address === "object" && address ? address.port : this.port;
    this.server = server;
  }

  /** Stops listening and cuts open connections: the gateway sees refused connections. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  ofType(type: string): ReceivedWebhook[] {
    return [...this.unique.values()].filter((w) => w.payload.type === type);
  }

  /** Requests at `path` carrying `webhookId` (any mode): an endpoint's path also gets every later event. */
  requestsOf(path: string, webhookId: string): number {
    return this.requestsByPathAndId.get(`${path} ${webhookId}`) ?? 0;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = req.url ?? "";
    this.requestsByPath.set(path, (this.requestsByPath.get(path) ?? 0) + 1);
    const byId = `${path} ${String(req.headers["webhook-id"])}`;
    this.requestsByPathAndId.set(byId, (this.requestsByPathAndId.get(byId) ?? 0) + 1);
    // Events rather than `for await`: the async iterator costs more than the small body itself, and a
    // benchmark's load generator receives every payment's webhooks.
    const chunks: Buffer[] = [];
    await new Promise<void>((resolve, reject) => {
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.once("end", resolve);
      req.once("error", reject);
    });
    if (this.mode === "unavailable") {
      res.writeHead(503).end();
      return;
    }
    if (this.mode === "gone") {
      res.writeHead(410).end();
      return;
    }
    const body = Buffer.concat(chunks).toString("utf8");
    const receivedAtMs = Date.now();
    const receivedAt = Math.floor(this.nowMs() / 1000);
    const failure = verifyStandardWebhook(this.secretsByPath.get(path) ?? this.secret, req.headers, body, receivedAt);
    if (failure) {
      this.rejected.push(failure);
      res.writeHead(400).end();
      return;
    }
    const id = String(req.headers["webhook-id"]);
    if (this.unique.has(id)) {
      this.duplicates += 1;
    } else {
      this.unique.set(id, { id, timestamp: Number(req.headers["webhook-timestamp"]), signature: String(req.headers["webhook-signature"]), body, receivedAt, receivedAtMs, payload: JSON.parse(body) as ReceivedWebhook["payload"] });
    }
    res.writeHead(204).end();
  }
}
