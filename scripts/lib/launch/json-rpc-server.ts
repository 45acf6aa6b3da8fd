/**
 * The chain's JSON-RPC over HTTP, answered by Hardhat's own request handling (the JsonRpcHandler its
 * server uses: the same answers, the same errors with their revert data), but with request bodies read
 * by Buffer.concat. Hardhat's HTTP entry point copies a body into a JavaScript array one byte at a time
 * (`bytes.push(...chunk)`), which cost the chain process more CPU than anything else it does per
 * payment: a relayed batch's transaction carries tens of kilobytes of calldata. The handler's
 * WebSocket entry point takes a request's text as it is, so each HTTP request is handed to it as a
 * one-message socket whose one answer is the HTTP response.
 *
 * Reads that no Hardhat request handler or network hook changes (blocks, logs, receipts, the head;
 * READS below) go straight to the EDR provider under Hardhat's, and its answer text is sent as it is:
 * through Hardhat, every answer is parsed from EDR's JSON into objects and serialised again, which for
 * the blocks, logs and receipts the nodes read on every step was most of the chain process's own CPU
 * (its garbage collection included). An answer that is not a result (an error) is asked again through
 * Hardhat, so errors stay Hardhat's; a read asked twice changes nothing.
 */
import http from "node:http";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";

import type { NetworkConnectionParams } from "hardhat/types/network";
import type { EthereumProvider } from "hardhat/types/providers";

import { SettlenetError } from "../../../core/errors.js";
import { countDirectRequest, countHttpRequest } from "./chain-rpc-counts.js";

/** Methods answered by EDR directly (see the module comment): reads, none of which Hardhat's handlers or Settlenet's hooks touch. */
export const READS: ReadonlySet<string> = new Set([
  "eth_blockNumber",
  "eth_getBlockByNumber",
  "eth_getBlockByHash",
  "eth_getLogs",
  "eth_getTransactionReceipt",
  "eth_getTransactionByHash",
  "eth_getTransactionCount",
  "eth_getBalance",
  "eth_getCode",
  "eth_getStorageAt",
]);

/** The part of EDR's native provider used here. */
interface EdrProvider {
  handleRequest(request: string): Promise<{ data: unknown }>;
}

interface EdrContext {
  createProvider(...args: unknown[]): Promise<EdrProvider>;
}

/** Hardhat's file inside its installed (pinned) package, as a module URL. */
function hardhatFile(...path: string[]): string {
  const root = dirname(createRequire(import.meta.url).resolve("hardhat/package.json"));
  return pathToFileURL(join(root, "dist", "src", "internal", ...path)).href;
}

/**
 * Creates Hardhat's network for `networkOrParams` and returns, beside its provider, the EDR provider
 * it wraps, taken from the one EDR context Hardhat creates providers with. Undefined (every request
 * then goes through Hardhat) if Hardhat's layout changed or another network was created meanwhile.
 */
async function createNetwork(networkOrParams: NetworkConnectionParams | string): Promise<{ provider: EthereumProvider; edr: EdrProvider | undefined }> {
  const { default: hre } = await import("hardhat");
  let context: EdrContext | undefined;
  try {
    const module = (await import(hardhatFile("edr", "context.js"))) as { getGlobalEdrContext?: () => Promise<EdrContext> };
    context = await module.getGlobalEdrContext?.();
  } catch {
    context = undefined;
  }
  if (!context || typeof context.createProvider !== "function") return { provider: (await hre.network.create(networkOrParams)).provider, edr: undefined };
  const created: EdrProvider[] = [];
  const original = context.createProvider;
  context.createProvider = async (...args: unknown[]) => {
    const edr = await original.apply(context, args);
    created.push(edr);
    return edr;
  };
  try {
    const { provider } = await hre.network.create(networkOrParams);
    return { provider, edr: created.length === 1 ? created[0] : undefined };
  } finally {
    context.createProvider = original;
  }
}

interface Request {
  jsonrpc: "2.0";
  id: number | string;
  method: string;
  params?: unknown[];
}

/** A request EDR may answer directly: a well-formed JSON-RPC request for one of READS. */
function isDirectRead(value: unknown): value is Request {
  if (typeof value !== "object" || value === null) return false;
  const { jsonrpc, id, method, params } = value as Partial<Request>;
  return jsonrpc === "2.0" && typeof method === "string" && READS.has(method) && (typeof id === "string" || Number.isSafeInteger(id)) && (params === undefined || Array.isArray(params));
}

/**
 * The answer to `request` made of EDR's answer text, or undefined when it is not a result. EDR answers
 * `{"result":…}` or `{"error":…}` without the envelope; the envelope is put around the text as it is.
 */
async function directAnswer(edr: EdrProvider, request: Request): Promise<string | undefined> {
  const { data } = await edr.handleRequest(JSON.stringify({ jsonrpc: "2.0", id: request.id, method: request.method, params: request.params ?? [] }));
  const text = typeof data === "string" ? data : JSON.stringify(data);
  if (!text.startsWith('{"result":')) return undefined;
  return `{"jsonrpc":"2.0","id":${JSON.stringify(request.id)},${text.slice(1)}`;
}

/**
 * The whole answer to `text` from EDR directly, or undefined if any part of it must go through Hardhat.
 * Its reads are counted only when it is answered directly (otherwise Hardhat's hooks count them).
 */
async function answerDirectly(edr: EdrProvider, text: string): Promise<string | undefined> {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return undefined;
  }
  const requests = Array.isArray(body) ? body : [body];
  if (requests.length === 0 || !requests.every(isDirectRead)) return undefined;
  const answers = await Promise.all(requests.map((request) => directAnswer(edr, request)));
  if (!answers.every((answer) => answer !== undefined)) return undefined;
  for (const request of requests) countDirectRequest(request.method);
  return Array.isArray(body) ? `[${answers.join(",")}]` : answers[0];
}

/** The part of Hardhat's JsonRpcHandler used here: its WebSocket entry point. */
interface HardhatJsonRpcHandler {
  handleWs(socket: OneMessageSocket): unknown;
}

interface OneMessageSocket {
  on(event: string, listener: (message?: unknown) => unknown): void;
  send(text: string): void;
}

/** Not among Hardhat's package exports: loaded by its file, from the installed (pinned) Hardhat. */
async function loadHandler(provider: EthereumProvider): Promise<HardhatJsonRpcHandler> {
  const file = hardhatFile("builtin-plugins", "node", "json-rpc", "handler.js");
  let module: { JsonRpcHandler?: new (provider: EthereumProvider) => HardhatJsonRpcHandler };
  try {
    module = (await import(file)) as typeof module;
  } catch (error) {
    throw new SettlenetError("INTERNAL", `cannot load Hardhat's JSON-RPC handler from ${file}`, { file }, { cause: error });
  }
  if (typeof module.JsonRpcHandler !== "function") throw new SettlenetError("INTERNAL", `${file} has no JsonRpcHandler`, { file });
  return new module.JsonRpcHandler(provider);
}

export interface ChainJsonRpcServer {
  /** The EDR provider the server answers from (requests through it pass the network hooks, as the server's do). */
  provider: EthereumProvider;
  /** Whether READS are answered by EDR directly (false: Hardhat's layout was not the expected one, everything goes through Hardhat). */
  direct: boolean;
  listen(): Promise<{ address: string; port: number }>;
  close(): Promise<void>;
}

/** As `hre.network.createServer`, with the request reading of the module comment. */
export async function createChainServer(networkOrParams: NetworkConnectionParams | string, host: string, port: number, options: { direct?: boolean } = {}): Promise<ChainJsonRpcServer> {
  const network = await createNetwork(networkOrParams);
  const { provider } = network;
  const edr = options.direct === false ? undefined : network.edr;
  const handler = await loadHandler(provider);
  // The handler listens for notifications on the provider for every request it is answering (until it
  // is answered), so a busy chain has more listeners than Node's default warning threshold.
  provider.setMaxListeners(0);
  const send = (res: http.ServerResponse, text: string) => {
    res.statusCode = 200;
    res.setHeader("Content-Type", "application/json");
    res.end(text);
  };
  const throughHardhat = (res: http.ServerResponse, text: string) => {
    const listeners = new Map<string, (message?: unknown) => unknown>();
    handler.handleWs({
      on: (event, listener) => listeners.set(event, listener),
      send: (answer) => {
        send(res, answer);
        // Releases what the handler holds for the "socket" (its notification listener).
        void listeners.get("close")?.();
      },
    });
    void listeners.get("message")?.(text);
  };
  const server = http.createServer((req, res) => {
    countHttpRequest();
    // As Hardhat's server: any origin may call it (a browser wallet talks to the chain directly).
    res.setHeader("Access-Control-Allow-Origin", "*");
    res.setHeader("Access-Control-Request-Method", "*");
    res.setHeader("Access-Control-Allow-Methods", "OPTIONS, GET");
    res.setHeader("Access-Control-Allow-Headers", "*");
    if (req.method === "OPTIONS") {
      res.writeHead(200);
      res.end();
      return;
    }
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("error", () => res.destroy());
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      if (!edr) return throughHardhat(res, text);
      answerDirectly(edr, text).then(
        (answer) => (answer === undefined ? throughHardhat(res, text) : send(res, answer)),
        () => throughHardhat(res, text),
      );
    });
  });
  return {
    provider,
    direct: edr !== undefined,
    listen: () =>
      new Promise((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, host, () => {
          server.off("error", reject);
          const address = server.address();
          if (address === null || typeof address === "string") return reject(new SettlenetError("INTERNAL", "the chain server has no TCP address"));
          resolve({ address: address.address, port: address.port });
        });
      }),
    close: () =>
      new Promise((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeIdleConnections();
      }),
  };
}
