/**
 * The launcher's chain: Hardhat's EDR JSON-RPC server on loopback whose blocks are journaled to
 * `<dataDir>/journal.jsonl` (see chain-journal.ts) and replayed on the next start, so the chain
 * survives restarts like the nodes' and the gateway's LevelDB do. The replay streams the journal
 * (one block in memory at a time) and checks every replayed block's hash against the journal's.
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";

import hre from "hardhat";
import type { JsonRpcResponse } from "hardhat/types/providers";
import type { EthereumProvider } from "hardhat/types/providers";
import { isHexString, keccak256, toQuantity } from "ethers";

import { SettlenetError } from "../../../core/errors.js";
import type { Logger } from "pino";
import { createChainServer } from "./json-rpc-server.js";
import { ChainJournal, MINING_METHODS, UNREPLAYABLE_METHODS, rawTransaction, type JournalBlock, type RpcTransaction } from "./chain-journal.js";

export interface PersistentChainOptions {
  dataDir: string;
  host?: string;
  port: number;
}

export interface PersistentChain {
  url: string;
  /** Blocks replayed from the journal at start (0 on a fresh chain). */
  replayedBlocks: number;
  close(): Promise<void>;
}

interface RpcBlock<T = RpcTransaction> {
  number: string;
  timestamp: string;
  hash: string;
  transactions: T[];
}

/** Starts (or resumes) the journaled chain and listens on `host:port`. */
export async function startPersistentChain(options: PersistentChainOptions, modules: { logger: Logger }): Promise<PersistentChain> {
  const { logger } = modules;
  await mkdir(options.dataDir, { recursive: true });
  const file = join(options.dataDir, "journal.jsonl");
  // Only the header is needed before the chain exists (its genesis date); the blocks stream in later.
  const existingHeader = ChainJournal.readHeader(file);

  // The server's provider is captured when its connection is created, to replay in-process before listening.
  let provider: EthereumProvider | undefined;
  let journal: ChainJournal | undefined;
  let replaying = false;
  let replayedBlocks = 0;
  let syncing: Promise<void> = Promise.resolve();
  /**
   * Raw transactions sent with eth_sendRawTransaction and not yet journaled, by their hash (keccak256 of the
   * bytes): the journal takes the bytes that were sent instead of fetching the mined transaction and
   * re-serialising it (a relayed batch carries tens of kilobytes of calldata, which that round costs the
   * chain CPU on every block). Entered before the chain sees the transaction, so a concurrent request's
   * journal sync that mines it first finds it too.
   */
  const sentRaw = new Map<string, string>();

  const request = async <T>(method: string, params: unknown[] = []): Promise<T> => {
    if (!provider) throw new SettlenetError("INTERNAL", "chain provider not created");
    return (await provider.request({ method, params })) as T;
  };

  /** Appends every block mined since the journal's height, before the answer that mined it is sent. */
  const syncJournal = (): Promise<void> => {
    const run = syncing.then(async () => {
      if (!journal || replaying) return;
      const head = Number(await request<string>("eth_blockNumber"));
      const blocks: JournalBlock[] = [];
      for (let n = journal.height + 1; n <= head; n++) {
        const block = await request<RpcBlock<string>>("eth_getBlockByNumber", [toQuantity(n), false]);
        let txs = block.transactions.map((hash) => sentRaw.get(hash.toLowerCase()));
        // Keyed by the hash of its bytes, an entry found is exactly the mined transaction; any other (signed
        // by the chain's own accounts, or sent before a restart) is re-serialised from the block.
        if (txs.some((raw) => raw === undefined)) {
          const full = await request<RpcBlock>("eth_getBlockByNumber", [toQuantity(n), true]);
          txs = full.transactions.map(rawTransaction);
        }
        for (const hash of block.transactions) sentRaw.delete(hash.toLowerCase());
        blocks.push({ number: n, timestamp: Number(block.timestamp), hash: block.hash, txs: txs as string[] });
      }
      journal.append(blocks);
    });
    syncing = run.catch(() => undefined);
    return run;
  };

  const handlers = {
    newConnection: async (context: Parameters<typeof hre.hooks.runHandlerChain>[2][0], next: (c: never) => Promise<{ provider: EthereumProvider }>) => {
      const connection = await next(context as never);
      provider ??= connection.provider;
      return connection;
    },
    onRequest: async (
      context: unknown,
      connection: unknown,
      rpc: { id: number | string; method: string; params?: unknown },
      next: (c: unknown, n: unknown, r: unknown) => Promise<JsonRpcResponse>,
    ): Promise<JsonRpcResponse> => {
      if (!replaying && UNREPLAYABLE_METHODS.has(rpc.method)) {
        return { jsonrpc: "2.0", id: rpc.id, error: { code: -32601, message: `${rpc.method} is not supported by the Settlenet chain: its journal can only replay mined blocks` } };
      }
      const raw = rpc.method === "eth_sendRawTransaction" && !replaying && Array.isArray(rpc.params) ? (rpc.params[0] as unknown) : undefined;
      const rawHash = typeof raw === "string" && isHexString(raw) ? keccak256(raw).toLowerCase() : undefined;
      if (rawHash) sentRaw.set(rawHash, raw as string);
      const response = await next(context, connection, rpc);
      // Refused, or hashed differently by the chain (it re-encoded it): the entry would never be found.
      if (rawHash && ("error" in response || String(response.result).toLowerCase() !== rawHash)) sentRaw.delete(rawHash);
      if (MINING_METHODS.has(rpc.method) && !("error" in response)) await syncJournal();
      return response;
    },
  };
  hre.hooks.registerHandlers("network", handlers as never);

  const initialDate = existingHeader ? new Date(existingHeader.genesisTimestamp * 1000) : new Date();
  // Automine seals one block per transaction; without allowBlocksWithSameTimestamp each block would be
  // at least one second after the previous, so a busy minute (the demo's hundreds of transactions) would
  // push chain time minutes ahead of the wall clock, and every escrow deadline and settlement cycle with
  // it. Blocks of the same second share its timestamp instead, as on a chain sealing by wall-clock time.
  const server = await createChainServer({ network: "default", override: { initialDate, allowBlocksWithSameTimestamp: true } }, options.host ?? "127.0.0.1", options.port);
  try {
    const genesis = await request<RpcBlock>("eth_getBlockByNumber", ["0x0", false]);
    const chainId = BigInt(await request<string>("eth_chainId")).toString();
    if (existingHeader) {
      let lastTimestamp: number | undefined;
      replaying = true;
      await request("evm_setAutomine", [false]);
      journal = await ChainJournal.replay(file, {
        header: (header) => {
          if (header.genesisHash !== genesis.hash || header.chainId !== chainId) {
            throw new SettlenetError("CHAIN_JOURNAL_MISMATCH", `the journal ${file} was written by a different chain configuration (genesis ${header.genesisHash}, now ${genesis.hash})`, { file });
          }
        },
        block: async (block) => {
          for (const raw of block.txs) await request("eth_sendRawTransaction", [raw]);
          await request("evm_mine", [block.timestamp]);
          // Every block, not only the last: a divergence is reported where it starts, not after the whole replay.
          const replayed = await request<{ latestBlockNumber: number; latestBlockHash: string }>("hardhat_metadata");
          if (replayed.latestBlockNumber !== block.number || replayed.latestBlockHash !== block.hash) {
            throw new SettlenetError("CHAIN_REPLAY_DIVERGED", `replaying ${file} gave block ${replayed.latestBlockNumber} hash ${replayed.latestBlockHash}, journal has block ${block.number} ${block.hash}`, {
              file,
              block: block.number,
            });
          }
          replayedBlocks += 1;
          lastTimestamp = block.timestamp;
        },
      });
      await request("evm_setAutomine", [true]);
      replaying = false;
      if (!journal) throw new SettlenetError("CHAIN_JOURNAL_CORRUPT", `${file} disappeared during the replay`, { file });
      // The chain's clock stays where the last replayed block put it; bring it back to wall-clock time.
      const now = Math.floor(Date.now() / 1000);
      if (lastTimestamp !== undefined && lastTimestamp < now) {
        await request("evm_mine", [now]);
        await syncJournal();
      }
      logger.info({ blocks: replayedBlocks, file }, "chain journal replayed");
    } else {
      journal = ChainJournal.create(file, { kind: "settlenet-chain-journal", version: 1, chainId, genesisTimestamp: Number(genesis.timestamp), genesisHash: genesis.hash });
      logger.info({ file }, "new chain journal");
    }
  } catch (error) {
    journal?.close();
    hre.hooks.unregisterHandlers("network", handlers as never);
    throw error;
  }
  let address: { address: string; port: number };
  try {
    address = await server.listen();
  } catch (error) {
    journal?.close();
    throw new SettlenetError("LISTEN_FAILED", `cannot listen on ${options.host ?? "127.0.0.1"}:${options.port}: ${(error as Error).message}`, { port: options.port }, { cause: error });
  }
  const url = `http://${address.address}:${address.port}`;
  logger.info({ url, height: journal?.height ?? 0 }, "chain listening");
  return {
    url,
    replayedBlocks,
    async close() {
      await server.close();
      await syncing;
      journal?.close();
      hre.hooks.unregisterHandlers("network", handlers as never);
    },
  };
}

