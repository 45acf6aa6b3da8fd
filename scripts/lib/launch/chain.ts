/**
 * The local chain of a launched network, Hardhat's EDR served over JSON-RPC on 127.0.0.1: in this
 * process (tests), or as a part of its own (scripts/chain.ts: `npm start` journals it, the benchmarks
 * keep it in memory) that reports its URL when it listens.
 */
import { join } from "node:path";

import { JsonRpcProvider } from "ethers";
import { z } from "zod";

import { SettlenetError } from "../../../core/errors.js";
import { PROJECT_ROOT, partExited, spawnPart, type ChildPart } from "./part.js";

export interface LocalChain {
  url: string;
  provider: JsonRpcProvider;
  close(): Promise<void>;
}

function providerOf(url: string): JsonRpcProvider {
  return new JsonRpcProvider(url, undefined, { pollingInterval: 100, cacheTimeout: -1 });
}

/** Starts an EDR JSON-RPC server in this process (127.0.0.1, an ephemeral port by default); its state lives in memory only. */
export async function startChain(options: { host?: string; port?: number } = {}): Promise<LocalChain> {
  // Loaded here, not at the top: the launchers that run the chain as its own part never load Hardhat.
  const { createChainServer } = await import("./json-rpc-server.js");
  const server = await createChainServer("default", options.host ?? "127.0.0.1", options.port ?? 0);
  const { address, port: listening } = await server.listen();
  const url = `http://${address}:${listening}`;
  const provider = providerOf(url);
  // EDR dates every chain a process creates from one genesis time taken when Hardhat loaded, so a
  // chain created minutes into a test run would carry times minutes behind the clock; a real chain
  // starts at about now. The next block is dated now.
  const genesis = await provider.getBlock("latest");
  const behind = genesis ? Math.floor(Date.now() / 1000) - genesis.timestamp : 0;
  if (behind > 0) await provider.send("evm_increaseTime", [behind]);
  return {
    url,
    provider,
    async close() {
      provider.destroy();
      await server.close();
    },
  };
}

/** What scripts/chain.ts sends its launcher once it listens. */
export const chainListeningSchema = z.strictObject({
  kind: z.literal("listening"),
  url: z.string(),
  /** Blocks replayed from the journal at start (0 on a fresh or in-memory chain). */
  replayedBlocks: z.number().int().min(0),
});
export type ChainListening = z.infer<typeof chainListeningSchema>;

export interface ChainProcessOptions {
  logFile: string;
  /** JSON-RPC port; default an ephemeral one, which the chain reports. */
  port?: number;
  /** Journal the chain's blocks here and replay them at the next start; without it the chain lives in memory only. */
  dataDir?: string;
  /** How long the chain may take to listen (default 120 s; replaying a long journal takes a while). */
  readyTimeoutMs?: number;
  stopTimeoutMs?: number;
}

/** The chain as a part of its own; close() stops it. */
export interface ChainProcess extends LocalChain {
  part: ChildPart;
  /** Blocks replayed from the journal at start (0 on a fresh or in-memory chain). */
  replayedBlocks: number;
}

/** Starts scripts/chain.ts as a part and resolves once it listens. */
export async function startChainProcess(options: ChainProcessOptions): Promise<ChainProcess> {
  const args = [join(PROJECT_ROOT, "scripts", "chain.ts"), "--port", String(options.port ?? 0), ...(options.dataDir ? ["--data-dir", options.dataDir] : [])];
  // CHAIN_NODE_OPTIONS reaches the chain alone (e.g. a CPU profile of the chain without one of every node).
  const nodeOptions = process.env["CHAIN_NODE_OPTIONS"];
  const part = spawnPart({ name: "chain", args, logFile: options.logFile, ...(nodeOptions ? { env: { NODE_OPTIONS: nodeOptions } } : {}), ...(options.stopTimeoutMs ? { stopTimeoutMs: options.stopTimeoutMs } : {}) });
  const timeoutMs = options.readyTimeoutMs ?? 120_000;
  let timer: NodeJS.Timeout | undefined;
  try {
    const listening = await new Promise<ChainListening>((resolveUrl, reject) => {
      part.process.on("message", (message: unknown) => {
        const parsed = chainListeningSchema.safeParse(message);
        if (parsed.success) resolveUrl(parsed.data);
      });
      void part.exited.then((how) => reject(partExited(part, how)));
      timer = setTimeout(() => reject(new SettlenetError("PART_NOT_READY", `the chain did not listen within ${Math.round(timeoutMs / 1000)} s (log: ${part.logFile})`, { part: part.name })), timeoutMs);
    });
    const provider = providerOf(listening.url);
    return {
      url: listening.url,
      provider,
      part,
      replayedBlocks: listening.replayedBlocks,
      async close() {
        provider.destroy();
        await part.stop();
      },
    };
  } catch (error) {
    await part.stop();
    throw error;
  } finally {
    clearTimeout(timer);
  }
}
