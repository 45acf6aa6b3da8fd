/**
 * The JSON-RPC provider of long-running processes: ethers' JsonRpcProvider with its transport
 * replaced by node:http on kept-alive connections and native JSON parsing. ethers decodes every
 * answer's bytes to text in JavaScript, which on the large answers a node reads on every payment (an
 * `eth_getLogs` of thousands of events, a block with its batch transactions) costs more CPU than the
 * node's own work on them; and the runtime's `fetch` costs several times what node:http does per
 * request, which a node pays on every poll and every read. Requests, batching and error mapping stay
 * ethers'.
 */
import { writeFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";

import { JsonRpcProvider, makeError, type JsonRpcApiProviderOptions, type JsonRpcPayload, type JsonRpcResult, type Networkish } from "ethers";

import { SettlenetError } from "../errors.js";

/** Longest silence while waiting for one JSON-RPC answer (ethers' own default is 5 minutes). */
const DEFAULT_TIMEOUT_MS = 120_000;
/** Idle kept-alive connections are closed before servers close them (Node's default is 5 s), so none is reused as it closes. */
const IDLE_CONNECTION_MS = 2_000;

/**
 * With SETTLENET_RPC_CALLERS=<dir>, every request is counted by method and by the function that made
 * it (read from the stack, which costs more than the request: a diagnostic, not a metric), and the
 * counts are written to <dir>/rpc-<pid>.json when the provider is destroyed.
 */
const CALLERS_DIR = process.env["SETTLENET_RPC_CALLERS"];
/** Stack frames of ethers and of this provider: the caller is the first frame that is neither. */
const PROVIDER_FRAME = /^(async )?(HttpJsonRpcProvider|JsonRpcApiProvider|JsonRpcProvider|JsonRpcSigner|AbstractProvider|BaseWallet|Wallet|NonceManager|BaseContract|Contract|WrappedMethod|FallbackProvider|Promise|Array|Object|Function|new |#|staticCallResult|staticCall|send|method|Proxy)/;

function callerOf(stack: string | undefined): string {
  for (const line of (stack ?? "").split("\n").slice(2)) {
    const match = /^\s*at (.+?) \(/.exec(line);
    const name = match?.[1];
    if (!name || PROVIDER_FRAME.test(name) || name.includes("ethers")) continue;
    if (line.includes("node_modules/ethers") || line.includes("/ethers/lib")) continue;
    return name.replace(/^async /, "");
  }
  return "unknown";
}

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

  private readonly callers = CALLERS_DIR ? new Map<string, number>() : undefined;

  override send(method: string, params: unknown[] | Record<string, unknown>): Promise<unknown> {
    if (this.callers) {
      const limit = Error.stackTraceLimit;
      Error.stackTraceLimit = 30;
      const key = `${method} ${callerOf(new Error().stack)}`;
      Error.stackTraceLimit = limit;
      this.callers.set(key, (this.callers.get(key) ?? 0) + 1);
    }
    return super.send(method, params);
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
    if (this.callers && CALLERS_DIR) {
      const counts = Object.fromEntries([...this.callers.entries()].sort((a, b) => b[1] - a[1]));
      writeFileSync(`${CALLERS_DIR}/rpc-${process.pid}-${Date.now()}.json`, `${JSON.stringify({ pid: process.pid, argv: process.argv.slice(2), counts }, null, 1)}\n`);
    }
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
