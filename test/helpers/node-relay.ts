/**
 * An HTTP relay between a gateway and its (real) node, for the tests of what the gateway does when the
 * node misbehaves: it forwards every request, counts the operations submitted per request, and on
 * demand withholds the node's answer to a submission (the node took it; the gateway hears nothing),
 * loses a submission (the node never sees it; the gateway hears nothing), turns submissions away with
 * 503 and Retry-After as a node under admission control does, or holds the change feed's requests
 * until released.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";

import { nodeAuthHeaders } from "./network.js";

/** pass: forward; withhold: forward, never answer; lose: neither forward nor answer; busy: 503 with Retry-After. */
export type SubmissionMode = "pass" | "withhold" | "lose" | "busy";

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export class NodeRelay {
  /** Operations per submission request, in arrival order. */
  readonly submissions: number[] = [];
  /** What happens to the next submissions. */
  submissionMode: SubmissionMode = "pass";
  /** Withheld answers: the node's status and body per submission it answered. */
  readonly withheld: { status: number; body: string }[] = [];
  private server: Server | undefined;
  private feedGate: Promise<void> | undefined;
  private openGate: (() => void) | undefined;
  private readonly held = new Set<ServerResponse>();

  constructor(private readonly nodeUrl: string) {}

  get url(): string {
    const address = this.server?.address();
    return `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
  }

  async start(): Promise<void> {
    const server = createServer((req, res) => void this.handle(req, res).catch(() => res.destroy()));
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  }

  async stop(): Promise<void> {
    this.releaseFeed();
    for (const res of this.held) res.destroy();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** Holds every change feed request from now on until `releaseFeed`. */
  holdFeed(): void {
    this.feedGate ??= new Promise((resolve) => (this.openGate = resolve));
  }

  releaseFeed(): void {
    this.openGate?.();
    this.feedGate = undefined;
    this.openGate = undefined;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const path = req.url ?? "/";
    if (req.method === "GET" && path.startsWith("/v1/changes")) await this.feedGate;
    const submission = req.method === "POST" && path === "/v1/operations";
    if (submission) {
      const parsed = JSON.parse(body.toString("utf8") || "{}") as { operations?: unknown[] };
      this.submissions.push(Array.isArray(parsed.operations) ? parsed.operations.length : 1);
      if (this.submissionMode === "lose") {
        this.held.add(res);
        return;
      }
      if (this.submissionMode === "busy") {
        const problem = { type: "https://settlenet.dev/problems/relay_backlog", title: "the relay is behind; retry later", status: 503, code: "RELAY_BACKLOG" };
        res.writeHead(503, { "content-type": "application/problem+json", "retry-after": "2" }).end(JSON.stringify(problem));
        return;
      }
    }
    const upstream = await fetch(new URL(path, this.nodeUrl), {
      method: req.method ?? "GET",
      headers: {
        ...(req.headers["content-type"] ? { "content-type": req.headers["content-type"] } : {}),
        // The caller's credential, or (a client of the relay without one) the launcher's for the node.
        ...(req.headers.authorization ? { authorization: req.headers.authorization } : nodeAuthHeaders(new URL(path, this.nodeUrl).href, req.method ?? "GET")),
      },
      ...(body.length > 0 ? { body } : {}),
    });
    const text = await upstream.text();
    if (submission && this.submissionMode === "withhold") {
      // The node has it; the gateway never hears back (until the relay stops).
      this.withheld.push({ status: upstream.status, body: text });
      this.held.add(res);
      return;
    }
    res.writeHead(upstream.status, { "content-type": upstream.headers.get("content-type") ?? "application/json" }).end(text);
  }
}
