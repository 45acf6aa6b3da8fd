/**
 * An independent EVM with real block times for tests and trials: Foundry's anvil (the binary the npm
 * package @foundry-rs/anvil ships for this platform), sealing a block every `blockTime` seconds whether
 * or not anything happens, with its own chain id and only `accounts` funded development accounts, as
 * an operator's chain would be (nothing mined per transaction, nothing prefunded for Settlenet).
 */
import { spawn } from "node:child_process";
import { closeSync, existsSync, openSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

import { JsonRpcProvider } from "ethers";

import { SettlenetError } from "../../../core/errors.js";
import type { LocalChain } from "./chain.js";
import { freePort } from "./ports.js";

export interface AnvilOptions {
  /** Seconds between blocks (default 1). */
  blockTime?: number;
  /** Default 4242. */
  chainId?: number;
  /** Funded development accounts (default 10, anvil's own default). */
  accounts?: number;
  /** Gas limit of every block (default anvil's own, 30,000,000). */
  blockGasLimit?: number;
  /** Listen address (default 127.0.0.1; 0.0.0.0 to serve other network namespaces). */
  host?: string;
  port?: number;
  /** anvil's output goes here (default discarded). */
  logFile?: string;
  readyTimeoutMs?: number;
}

/** The anvil binary: the platform package of @foundry-rs/anvil, else `anvil` on the PATH. */
export function anvilBinary(): string {
  const require = createRequire(import.meta.url);
  const arch = process.arch === "x64" ? "amd64" : process.arch;
  try {
    const manifest = require.resolve(`@foundry-rs/anvil-${process.platform}-${arch}/package.json`);
    const binary = join(dirname(manifest), "bin", process.platform === "win32" ? "anvil.exe" : "anvil");
    if (existsSync(binary)) return binary;
  } catch {
    // not installed for this platform: try the PATH
  }
  return "anvil";
}

/** A running anvil; close() stops it (SIGTERM to its process group, SIGKILL after 5 s). */
export interface AnvilChain extends LocalChain {
  chainId: number;
  blockTime: number;
  port: number;
  /** The anvil process (for CPU accounting); undefined if it could not be spawned. */
  pid: number | undefined;
}

/** Starts anvil and resolves once it answers eth_chainId. */
export async function startAnvil(options: AnvilOptions = {}): Promise<AnvilChain> {
  const host = options.host ?? "127.0.0.1";
  const port = options.port ?? (await freePort());
  const chainId = options.chainId ?? 4242;
  const blockTime = options.blockTime ?? 1;
  const args = ["--host", host, "--port", String(port), "--chain-id", String(chainId), "--block-time", String(blockTime), "--accounts", String(options.accounts ?? 10)];
  if (options.blockGasLimit !== undefined) args.push("--gas-limit", String(options.blockGasLimit));
  const fd = options.logFile ? openSync(options.logFile, "a") : "ignore";
  const child = spawn(anvilBinary(), args, { detached: true, stdio: ["ignore", fd, fd] });
  if (typeof fd === "number") closeSync(fd);
  let exited: string | undefined;
  const gone = new Promise<void>((resolveGone) => {
    child.once("exit", (code, signal) => {
      exited = signal ? `signal ${signal}` : `code ${code}`;
      resolveGone();
    });
    child.once("error", (error) => {
      exited = `spawn error: ${error.message}`;
      resolveGone();
    });
  });
  const kill = (signal: NodeJS.Signals) => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, signal);
    } catch {
      // already gone
    }
  };
  const close = async () => {
    if (exited === undefined) {
      kill("SIGTERM");
      const timer = setTimeout(() => kill("SIGKILL"), 5_000);
      await gone;
      clearTimeout(timer);
    }
  };
  const url = `http://${host === "0.0.0.0" ? "127.0.0.1" : host}:${port}`;
  const deadline = Date.now() + (options.readyTimeoutMs ?? 30_000);
  for (;;) {
    if (exited !== undefined) throw new SettlenetError("CHAIN_NOT_STARTED", `anvil exited while starting (${exited})${options.logFile ? `; see ${options.logFile}` : ""}`);
    try {
      const response = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId", params: [] }) });
      if (response.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await close();
      throw new SettlenetError("CHAIN_NOT_STARTED", `anvil did not answer on ${url} in time`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const provider = new JsonRpcProvider(url, undefined, { pollingInterval: 100, cacheTimeout: -1 });
  return {
    url,
    provider,
    chainId,
    blockTime,
    port,
    pid: child.pid,
    async close() {
      provider.destroy();
      await close();
    },
  };
}
