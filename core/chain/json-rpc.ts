/**
 * The JSON-RPC provider of long-running processes: ethers' JsonRpcProvider with its transport
 * replaced by node:http on kept-alive connections and native JSON parsing. ethers decodes every
 * answer's bytes to text in JavaScript, which on the large answers a node reads on every payment (an
 * `eth_getLogs` of thousands of events, a block with its batch transactions) costs more CPU than the
 * node's own work on them; and the runtime's `fetch` costs several times what node:http does per
 * request, which a node pays on every poll and every read. Requests, batching and error mapping stay
 * ethers'.
 */
import http from "node:http";
import https from "node:https";

import { JsonRpcProvider, makeError, type JsonRpcApiProviderOptions, type JsonRpcPayload, type JsonRpcResult, type Networkish } from "ethers";

import { SettlenetError } from "../errors.js";

/** Longest silence while waiting for one JSON-RPC answer (ethers' own default is 5 minutes). */
const DEFAULT_TIMEOUT_MS = 120_000;
/** Idle kept-alive connections are closed before servers close them (Node's default is 5 s), so none is reused as it closes. */
const IDLE_CONNECTION_MS = 2_000;

/** A JsonRpcProvider on `url` sending through node:http; see the module comment. */
export class HttpJsonRpcProvider extends JsonRpcProvider {
  private readonly endpoint: URL;
  private readonly timeoutMs: number;
  private readonly agent: http.Agent;
  private readonly client: typeof http | typeof https;

  constructor(url: string, network?: Networkish, options?: JsonRpcApiProviderOptions & { timeoutMs?: number }) {
    super(url, network, options);
    this.endpoint = new URL(url);
    this.timeoutMs = options?.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const secure = this.endpoint.protocol === "https:";
    this.client = secure ? https : http;
    this.agent = new (secure ? https.Agent : http.Agent)({ keepAlive: true, timeout: IDLE_CONNECTION_MS });
  }

  override async _send(payload: JsonRpcPayload | JsonRpcPayload[]): Promise<JsonRpcResult[]> {
    let answer: { status: number; text: string };
    try {
      answer = await this.post(JSON.stringify(payload));
    } catch (error) {
      throw makeError(`JSON-RPC request failed: ${(error as Error).message}`, "NETWORK_ERROR", { event: "request" });
    }
    let body: unknown;
    try {
      body = JSON.parse(answer.text);
    } catch (error) {
      throw new SettlenetError("RPC_UNAVAILABLE", `the JSON-RPC answer (status ${answer.status}) is not JSON`, { status: answer.status }, { cause: error });
    }
    // Nodes answer JSON-RPC errors with HTTP 200 or with an error status; either way the body says what failed.
    const ok = answer.status >= 200 && answer.status < 300;
    if (!ok && (typeof body !== "object" || body === null)) {
      throw new SettlenetError("RPC_UNAVAILABLE", `the JSON-RPC server answered ${answer.status}`, { status: answer.status });
    }
    // Error members are kept: ethers maps each to its error (e.g. CALL_EXCEPTION) as it does for its own transport.
    return (Array.isArray(body) ? body : [body]) as JsonRpcResult[];
  }

  override destroy(): void {
    this.agent.destroy();
    super.destroy();
  }

  private post(body: string): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const request = this.client.request(
        this.endpoint,
        { method: "POST", agent: this.agent, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } },
        (response) => {
          const chunks: Buffer[] = [];
          response.on("data", (chunk: Buffer) => chunks.push(chunk));
          response.on("end", () => resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }));
          response.on("error", reject);
        },
      );
      request.setTimeout(this.timeoutMs, () => request.destroy(new Error(`no answer for ${this.timeoutMs} ms`)));
      request.on("error", reject);
      request.end(body);
    });
  }
}
