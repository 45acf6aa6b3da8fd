/**
 * The chain's JSON-RPC over HTTP, answered by Hardhat's own request handling (the JsonRpcHandler its
 * server uses: the same answers, the same errors with their revert data), but with request bodies read
 * by Buffer.concat. Hardhat's HTTP entry point copies a body into a JavaScript array one byte at a time
 * (`bytes.push(...chunk)`), which cost the chain process more CPU than anything else it does per
 * payment: a relayed batch's transaction carries tens of kilobytes of calldata. The handler's
 * WebSocket entry point takes a request's text as it is, so each HTTP request is handed to it as a
 * one-message socket whose one answer is the HTTP response.
 */
import http from "node:http";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";

import type { NetworkConnectionParams } from "hardhat/types/network";
import type { EthereumProvider } from "hardhat/types/providers";

import { SettlenetError } from "../../../core/errors.js";
import { countHttpRequest } from "./chain-rpc-counts.js";

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
  const root = dirname(createRequire(import.meta.url).resolve("hardhat/package.json"));
  const file = join(root, "dist", "src", "internal", "builtin-plugins", "node", "json-rpc", "handler.js");
  let module: { JsonRpcHandler?: new (provider: EthereumProvider) => HardhatJsonRpcHandler };
  try {
    module = (await import(pathToFileURL(file).href)) as typeof module;
  } catch (error) {
    throw new SettlenetError("INTERNAL", `cannot load Hardhat's JSON-RPC handler from ${file}`, { file }, { cause: error });
  }
  if (typeof module.JsonRpcHandler !== "function") throw new SettlenetError("INTERNAL", `${file} has no JsonRpcHandler`, { file });
  return new module.JsonRpcHandler(provider);
}

export interface ChainJsonRpcServer {
  /** The EDR provider the server answers from (requests through it pass the network hooks, as the server's do). */
  provider: EthereumProvider;
  listen(): Promise<{ address: string; port: number }>;
  close(): Promise<void>;
}

/** As `hre.network.createServer`, with the request reading of the module comment. */
export async function createChainServer(networkOrParams: NetworkConnectionParams | string, host: string, port: number): Promise<ChainJsonRpcServer> {
  const { default: hre } = await import("hardhat");
  const { provider } = await hre.network.create(networkOrParams);
  const handler = await loadHandler(provider);
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
      const listeners = new Map<string, (message?: unknown) => unknown>();
      handler.handleWs({
        on: (event, listener) => listeners.set(event, listener),
        send: (text) => {
          res.statusCode = 200;
          res.setHeader("Content-Type", "application/json");
          res.end(text);
          // Releases what the handler holds for the "socket" (its notification listener).
          void listeners.get("close")?.();
        },
      });
      void listeners.get("message")?.(Buffer.concat(chunks).toString("utf8"));
    });
  });
  return {
    provider,
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
