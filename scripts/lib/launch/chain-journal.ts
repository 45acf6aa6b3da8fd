/**
 * A persistent local chain. Hardhat's EDR keeps its state in memory only and can neither dump nor load
 * it (no hardhat_dumpState/anvil_dumpState, NomicFoundation/edr#409; a genesis state's storage is
 * ignored, edr#911), and a block's hash commits to the whole state, so the only way back to the same
 * chain — same block hashes, state and event logs — is to execute its blocks again. The launcher's
 * chain therefore journals every mined block (its timestamp and its signed transactions) to an
 * append-only file before the JSON-RPC answer that mined it goes out, and a restarted chain replays
 * that journal block by block with the same timestamps. EDR is deterministic, so the replayed chain is
 * the same, and nodes and the gateway resume against the chain they left.
 *
 * The journal is streamed, never held: the replay reads it a chunk at a time and keeps one block in
 * memory, and the running chain remembers only the height and the last hash. Each replayed block's
 * hash is compared with the journal's, so a divergence is reported at the block where it happens.
 *
 * Methods that change state without a block (hardhat_setBalance, evm_revert, ...) cannot be replayed
 * and are refused.
 */
import { closeSync, existsSync, fsyncSync, ftruncateSync, openSync, readSync, writeSync } from "node:fs";

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

/** One line of the journal file: its text (without the newline), where it ends, and whether a newline ended it. */
interface Line {
  text: string;
  /** Byte offset just past the line (and its newline, if any). */
  end: number;
  terminated: boolean;
}

/** The lines of `file`, read `chunkBytes` at a time: memory holds one chunk and the line being read. */
export function* readLines(file: string, chunkBytes = 1 << 16): Generator<Line> {
  const fd = openSync(file, "r");
  try {
    const chunk = Buffer.alloc(chunkBytes);
    let pending: Buffer[] = [];
    let offset = 0;
    for (;;) {
      const read = readSync(fd, chunk, 0, chunkBytes, null);
      if (read === 0) break;
      let start = 0;
      for (let nl = chunk.indexOf(10, 0); nl !== -1 && nl < read; nl = chunk.indexOf(10, start)) {
        pending.push(chunk.subarray(start, nl));
        const bytes = Buffer.concat(pending);
        offset += bytes.length + 1;
        pending = [];
        yield { text: bytes.toString("utf8"), end: offset, terminated: true };
        start = nl + 1;
      }
      // The rest of the chunk continues on the next read; copied, since the chunk buffer is reused.
      if (start < read) pending.push(Buffer.from(chunk.subarray(start, read)));
    }
    if (pending.length > 0) {
      const bytes = Buffer.concat(pending);
      offset += bytes.length;
      yield { text: bytes.toString("utf8"), end: offset, terminated: false };
    }
  } finally {
    closeSync(fd);
  }
}

function parseLine<T>(schema: z.ZodType<T>, file: string, line: Line, at: number): T {
  let json: unknown;
  try {
    json = JSON.parse(line.text);
  } catch (error) {
    throw new SettlenetError("CHAIN_JOURNAL_CORRUPT", `${file}:${at}: not JSON`, { file, line: at }, { cause: error });
  }
  const result = schema.safeParse(json);
  if (!result.success) throw new SettlenetError("CHAIN_JOURNAL_CORRUPT", `${file}:${at}: ${result.error.issues[0]?.message ?? "invalid"}`, { file, line: at });
  return result.data;
}

/** What a replay is told, in order: the header (before any block), then every block. */
export interface ReplayHandlers {
  header(header: JournalHeader): Promise<void> | void;
  block(block: JournalBlock): Promise<void>;
}

/**
 * The journal file: one header line, then one line per block (JSON Lines), each append fsynced. Only
 * the height and the last block's hash stay in memory.
 */
export class ChainJournal {
  private fd: number | undefined;

  private constructor(
    readonly file: string,
    readonly header: JournalHeader,
    private last: { number: number; hash: string } | undefined,
  ) {}

  /** The header of an existing journal (its first line only); undefined if there is no journal. */
  static readHeader(file: string): JournalHeader | undefined {
    if (!existsSync(file)) return undefined;
    for (const line of readLines(file)) return parseLine(headerSchema, file, line, 1);
    throw new SettlenetError("CHAIN_JOURNAL_CORRUPT", `${file} has no header`, { file });
  }

  /**
   * Streams an existing journal through `handlers` (header first, then each block in order, awaited
   * one at a time) and returns it ready for appending; undefined if there is no journal. A torn last
   * line (a crash during its write, so never acknowledged) is cut off the file, so appends continue
   * after the last complete block.
   */
  static async replay(file: string, handlers: ReplayHandlers): Promise<ChainJournal | undefined> {
    if (!existsSync(file)) return undefined;
    let header: JournalHeader | undefined;
    let last: { number: number; hash: string } | undefined;
    let validBytes = 0;
    let at = 0;
    for (const line of readLines(file)) {
      at += 1;
      // Every append ends its lines with a newline in one write, so an unterminated last line is a write
      // a crash cut short: its fsync never returned and no answer acknowledged its blocks.
      if (!line.terminated) break;
      if (line.text.trim() === "") {
        validBytes = line.end;
        continue;
      }
      if (!header) {
        header = parseLine(headerSchema, file, line, at);
        await handlers.header(header);
        validBytes = line.end;
        continue;
      }
      const block = parseLine(blockSchema, file, line, at);
      const expected = (last?.number ?? 0) + 1;
      if (block.number !== expected) throw new SettlenetError("CHAIN_JOURNAL_CORRUPT", `${file}:${at}: block ${block.number}, expected ${expected}`, { file, line: at });
      await handlers.block(block);
      last = { number: block.number, hash: block.hash };
      validBytes = line.end;
    }
    if (!header) throw new SettlenetError("CHAIN_JOURNAL_CORRUPT", `${file} has no header`, { file });
    // Cut a torn tail off, so the next append starts on a line of its own.
    const fd = openSync(file, "r+");
    try {
      ftruncateSync(fd, validBytes);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    return new ChainJournal(file, header, last);
  }

  /** Creates a new journal with its header (overwrites). */
  static create(file: string, header: JournalHeader): ChainJournal {
    const journal = new ChainJournal(file, header, undefined);
    const fd = openSync(file, "w");
    writeSync(fd, `${JSON.stringify(header)}\n`);
    fsyncSync(fd);
    journal.fd = fd;
    return journal;
  }

  get height(): number {
    return this.last?.number ?? 0;
  }

  /** The hash of the last journaled block (undefined before the first). */
  get lastHash(): string | undefined {
    return this.last?.hash;
  }

  /** Appends blocks (in order, contiguous with the journal) in one synced write. */
  append(blocks: JournalBlock[]): void {
    if (blocks.length === 0) return;
    const expected = this.height + 1;
    if (blocks[0]?.number !== expected) throw new SettlenetError("CHAIN_JOURNAL_CORRUPT", `append of block ${blocks[0]?.number} to a journal at height ${this.height}`, { file: this.file });
    this.fd ??= openSync(this.file, "a");
    writeSync(this.fd, blocks.map((b) => `${JSON.stringify(b)}\n`).join(""));
    fsyncSync(this.fd);
    const lastBlock = blocks.at(-1) as JournalBlock;
    this.last = { number: lastBlock.number, hash: lastBlock.hash };
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
