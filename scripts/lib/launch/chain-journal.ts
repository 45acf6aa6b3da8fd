/**
 * A persistent local chain. Hardhat's EDR keeps its state in memory only (NomicFoundation/edr#409:
 * no dump/load of state), so the launcher's chain journals every mined block — its timestamp and its
 * signed transactions — to an append-only file before the JSON-RPC answer that mined it goes out,
 * and a restarted chain replays that journal block by block with the same timestamps. EDR is
 * deterministic, so the replayed chain has the same block hashes, state and event logs, and nodes and
 * the gateway resume against the chain they left.
 *
 * Methods that change state without a block (hardhat_setBalance, evm_revert, ...) cannot be replayed
 * and are refused.
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, writeSync } from "node:fs";

import { Transaction, keccak256 } from "ethers";
import { z } from "zod";

import { SettlenetError } from "../../../core/errors.js";

const hex = z.string().regex(/^0x[0-9a-fA-F]*$/);

const headerSchema = z.strictObject({
  kind: z.literal("settlenet-chain-journal"),
  version: z.literal(1),
  chainId: z.string(),
  /** Genesis timestamp (seconds): the replayed chain starts at the same date. */
  genesisTimestamp: z.number().int().nonnegative(),
  genesisHash: hex,
});

const blockSchema = z.strictObject({
  number: z.number().int().positive(),
  timestamp: z.number().int().nonnegative(),
  hash: hex,
  /** Signed raw transactions in block order. */
  txs: z.array(hex),
});

export type JournalHeader = z.infer<typeof headerSchema>;
export type JournalBlock = z.infer<typeof blockSchema>;

/** JSON-RPC methods after which new blocks may exist. */
export const MINING_METHODS = new Set(["eth_sendRawTransaction", "eth_sendTransaction", "evm_mine", "hardhat_mine"]);

/** JSON-RPC methods that change state outside of blocks (or rewind it), so a journal cannot replay them. */
export const UNREPLAYABLE_METHODS = new Set([
  "evm_revert",
  "evm_snapshot",
  "evm_setAutomine",
  "evm_setIntervalMining",
  "evm_setBlockGasLimit",
  "hardhat_reset",
  "hardhat_setBalance",
  "hardhat_setCode",
  "hardhat_setNonce",
  "hardhat_setStorageAt",
  "hardhat_impersonateAccount",
  "hardhat_stopImpersonatingAccount",
  "hardhat_setCoinbase",
  "hardhat_setPrevRandao",
  "hardhat_setNextBlockBaseFeePerGas",
  "hardhat_setMinGasPrice",
  "hardhat_dropTransaction",
  "hardhat_dropAllTransactions",
]);

/** A transaction as eth_getBlockByNumber(…, true) returns it. */
export interface RpcTransaction {
  hash: string;
  type: string;
  chainId?: string;
  nonce: string;
  to: string | null;
  gas: string;
  gasPrice?: string;
  maxFeePerGas?: string;
  maxPriorityFeePerGas?: string;
  value: string;
  input: string;
  accessList?: { address: string; storageKeys: string[] }[];
  v: string;
  r: string;
  s: string;
  yParity?: string;
}

/** Re-serialises a mined transaction to the signed bytes that were sent; refuses if the hash differs. */
export function rawTransaction(tx: RpcTransaction): string {
  const type = Number(tx.type);
  const signed = Transaction.from({
    type,
    ...(tx.chainId !== undefined ? { chainId: BigInt(tx.chainId) } : {}),
    nonce: Number(tx.nonce),
    to: tx.to,
    gasLimit: BigInt(tx.gas),
    ...(type === 2 ? { maxFeePerGas: BigInt(tx.maxFeePerGas ?? "0"), maxPriorityFeePerGas: BigInt(tx.maxPriorityFeePerGas ?? "0") } : { gasPrice: BigInt(tx.gasPrice ?? "0") }),
    value: BigInt(tx.value),
    data: tx.input,
    ...(type !== 0 ? { accessList: tx.accessList ?? [] } : {}),
    signature: { r: tx.r, s: tx.s, ...(type === 0 ? { v: Number(tx.v) } : { yParity: Number(tx.yParity ?? tx.v) as 0 | 1 }) },
  });
  const raw = signed.serialized;
  if (keccak256(raw).toLowerCase() !== tx.hash.toLowerCase()) {
    throw new SettlenetError("CHAIN_JOURNAL_UNSUPPORTED_TX", `transaction ${tx.hash} (type ${type}) cannot be re-serialised exactly`, { hash: tx.hash, type });
  }
  return raw;
}

/** The journal file: one header line, then one line per block (JSON Lines), each write fsynced. */
export class ChainJournal {
  private fd: number | undefined;

  private constructor(
    readonly file: string,
    readonly header: JournalHeader,
    readonly blocks: JournalBlock[],
  ) {}

  /** Reads an existing journal (a torn last line from a crash is dropped); undefined if there is none. */
  static read(file: string): ChainJournal | undefined {
    if (!existsSync(file)) return undefined;
    const lines = readFileSync(file, "utf8").split("\n");
    const parse = <T>(schema: z.ZodType<T>, line: string, at: number): T => {
      const result = schema.safeParse(JSON.parse(line));
      if (!result.success) throw new SettlenetError("CHAIN_JOURNAL_CORRUPT", `${file}:${at + 1}: ${result.error.issues[0]?.message ?? "invalid"}`, { file, line: at + 1 });
      return result.data;
    };
    const first = lines[0];
    if (!first) throw new SettlenetError("CHAIN_JOURNAL_CORRUPT", `${file} has no header`, { file });
    const header = parse(headerSchema, first, 0);
    const blocks: JournalBlock[] = [];
    for (const [i, line] of lines.entries()) {
      if (i === 0 || line.trim() === "") continue;
      let block: JournalBlock;
      try {
        block = parse(blockSchema, line, i);
      } catch (error) {
        // Only the last line may be torn (a crash during its write); it was never acknowledged.
        if (i >= lines.length - 2 && error instanceof SyntaxError) break;
        throw error;
      }
      const expected = (blocks.at(-1)?.number ?? 0) + 1;
      if (block.number !== expected) throw new SettlenetError("CHAIN_JOURNAL_CORRUPT", `${file}:${i + 1}: block ${block.number}, expected ${expected}`, { file, line: i + 1 });
      blocks.push(block);
    }
    return new ChainJournal(file, header, blocks);
  }

  /** Creates a new journal with its header (overwrites). */
  static create(file: string, header: JournalHeader): ChainJournal {
    const journal = new ChainJournal(file, header, []);
    const fd = openSync(file, "w");
    writeSync(fd, `${JSON.stringify(header)}\n`);
    fsyncSync(fd);
    journal.fd = fd;
    return journal;
  }

  get height(): number {
    return this.blocks.at(-1)?.number ?? 0;
  }

  /** Appends blocks (in order, contiguous with the journal) in one synced write. */
  append(blocks: JournalBlock[]): void {
    if (blocks.length === 0) return;
    this.fd ??= openSync(this.file, "a");
    writeSync(this.fd, blocks.map((b) => `${JSON.stringify(b)}\n`).join(""));
    fsyncSync(this.fd);
    this.blocks.push(...blocks);
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
