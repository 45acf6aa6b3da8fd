/**
 * The JSON-RPC provider of long-running processes: ethers' JsonRpcProvider with its transport
 * replaced by the runtime's `fetch` and native JSON parsing. ethers decodes every answer's bytes to
 * text in JavaScript, which on the large answers a node reads on every payment (an `eth_getLogs` of
 * thousands of events, a block with its batch transactions) costs more CPU than the node's own work
 * on them. Requests, batching and error mapping stay ethers'.
 */
import { JsonRpcProvider, makeError, type JsonRpcApiProviderOptions, type JsonRpcPayload, type JsonRpcResult, type Networkish } from "ethers";

import { SettlenetError } from "../errors.js";

/** Longest wait for one JSON-RPC answer (ethers' own default is 5 minutes). */
const DEFAULT_TIMEOUT_MS = 120_000;

/** A JsonRpcProvider on `url` sending through `fetch`; see the module comment. */
export class FetchJsonRpcProvider extends JsonRpcProvider {
  private readonly endpoint: string;
  private readonly timeoutMs: number;

  constructor(url: string, network?: Networkish, options?: JsonRpcApiProviderOptions & { timeoutMs?: number }) {
    super(url, network, options);
    this.endpoint = url;
    this.timeoutMs = options?.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  override async _send(payload: JsonRpcPayload | JsonRpcPayload[]): Promise<JsonRpcResult[]> {
    let response: Response;
    try {
      response = await fetch(this.endpoint, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(payload),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      throw makeError(`JSON-RPC request failed: ${(error as Error).message}`, "NETWORK_ERROR", { event: "fetch" });
    }
    let body: unknown;
    try {
      body = await response.json();
    } catch (error) {
      throw new SettlenetError("RPC_UNAVAILABLE", `the JSON-RPC answer (status ${response.status}) is not JSON`, { status: response.status }, { cause: error });
    }
    // Nodes answer JSON-RPC errors with HTTP 200 or with an error status; either way the body says what failed.
    if (!response.ok && (typeof body !== "object" || body === null)) {
      throw new SettlenetError("RPC_UNAVAILABLE", `the JSON-RPC server answered ${response.status}`, { status: response.status });
    }
    // Error members are kept: ethers maps each to its error (e.g. CALL_EXCEPTION) as it does for its own transport.
    return (Array.isArray(body) ? body : [body]) as JsonRpcResult[];
  }
}
