/**
 * The one transaction sender of a key. Every component that signs transactions with the institution's
 * key (escrow batches, token operations, cycle finalization) sends through the same instance, because
 * the key has one nonce sequence: a second sender with its own idea of the next nonce makes one of
 * the two fail NONCE_EXPIRED (or replace the other's transaction).
 *
 * - Pipelined: nonce, signature and the record before the broadcast run one transaction at a time
 *   (nonce order); the broadcasts follow in the same order, each after the one before it has been
 *   answered, so several transactions are in flight with consecutive nonces while the next one is
 *   signed and recorded. After a failed broadcast the nonce is re-read from the chain ("pending") and
 *   the transactions signed before it are not broadcast (their senders resolve them like a crash).
 * - Gas and fees: a caller may give a fixed gas limit (the relay's batches, whose gas is fixed per
 *   item); otherwise the gas is estimated, which also simulates the call (a revert is the caller's to
 *   decode). Fee data is read at most once per `feeTtlMs`.
 * - Crash safety: `beforeBroadcast` runs with the signed transaction's hash before it is broadcast, so
 *   a crash at any point leaves a record that `lookup` resolves from the chain on the next start.
 * - Receipts: polled; a transaction the chain node no longer knows after `droppedAfterMs` is dropped.
 */
import {
  BaseWallet,
  JsonRpcApiProvider,
  Transaction,
  getAddress,
  keccak256,
  type FeeData,
  type Provider,
  type Signer,
  type TransactionReceipt,
  type TransactionResponse,
} from "ethers";
import { Counter, type Registry } from "prom-client";

import { revertDataOf } from "../../core/chain/outcome.js";
import { SettlenetError } from "../../core/errors.js";
import type { Logger } from "../services.js";
import { signDigest } from "./digest-signer.js";
import { signRawCall } from "./raw-transaction.js";

export interface TransactionSenderOptions {
  /** How often a sent transaction's receipt is polled. */
  receiptPollMs?: number;
  /** A sent transaction unknown to the chain node after this long is considered dropped. */
  droppedAfterMs?: number;
  /** Cap of the backoff between retried chain reads. */
  maxRetryDelayMs?: number;
  /** How long fee data read from the chain is used for new transactions. */
  feeTtlMs?: number;
}

export interface TransactionSenderModules {
  /** The key, connected to the chain. */
  wallet: Signer;
  logger: Logger;
  metrics?: Registry;
}

/** A contract call to send. */
export interface TransactionRequest {
  to: string;
  data: string | Uint8Array;
  /** The gas limit; absent: estimated (which also simulates the call) and raised by `extraGas`. */
  gasLimit?: bigint;
  /** Without `gasLimit`: gas added to 5/4 of the estimate. */
  extraGas?: bigint;
  /** What the transaction is for (a metrics label): escrow_batch, token, finalize. */
  purpose: string;
}

export interface SendHooks {
  /** Runs with the signed transaction's hash before the broadcast; if it throws, nothing is broadcast. */
  beforeBroadcast?: (txHash: string) => Promise<void>;
}

export interface SentTransaction {
  hash: string;
  nonce: number;
}

/** A transaction the chain node knows of: mined (receipt), pending (transaction only), or neither. */
export interface KnownTransaction {
  receipt: TransactionReceipt | null;
  transaction: TransactionResponse | null;
}

/** Code of the error `send` throws when a signed (and recorded) transaction's broadcast failed: it may have reached the chain. */
export const BROADCAST_UNCONFIRMED = "TX_BROADCAST_UNCONFIRMED";

const BASE_RETRY_DELAY_MS = 100;

/** A transaction signed and recorded, waiting for its turn to be broadcast. */
interface Signed {
  serialized: string;
  hash: string;
  nonce: number;
  /** The nonce epoch it was signed in: after a failed broadcast, the earlier epoch's transactions are not broadcast. */
  epoch: number;
}

/** Signs and sends the transactions of one key; see the module comment. */
export class TransactionSender {
  private readonly receiptPollMs: number;
  private readonly droppedAfterMs: number;
  private readonly maxRetryDelayMs: number;
  private readonly wallet: Signer;
  private readonly provider: Provider;
  private readonly log: Logger;
  private readonly feeTtlMs: number;
  private readonly m: { sent: Counter<"purpose">; refused: Counter<"purpose" | "code">; dropped: Counter };
  private addressOf: Promise<string> | undefined;
  private chainIdOf: Promise<bigint> | undefined;
  private fees: { data: Promise<FeeData>; at: number } | undefined;
  private nextNonce: number | undefined;
  /** The nonce of the last transaction broadcast, or of the last one mined when told (-1 before any). */
  private lastNonce = -1;
  /** Bumped whenever the nonce sequence is re-read from the chain. */
  private epoch = 0;
  /** The signing (nonce order) of the transaction being signed (one at a time). */
  private lock: Promise<unknown> = Promise.resolve();
  /** The broadcast of the last transaction signed: the next one is broadcast after it. */
  private broadcastTail: Promise<unknown> = Promise.resolve();

  constructor(options: TransactionSenderOptions, modules: TransactionSenderModules) {
    this.receiptPollMs = options.receiptPollMs ?? 100;
    this.droppedAfterMs = options.droppedAfterMs ?? 30_000;
    // Chain reads are retried often enough that transactions sent before an outage are resolved soon after it.
    this.maxRetryDelayMs = options.maxRetryDelayMs ?? 1_000;
    this.feeTtlMs = options.feeTtlMs ?? 1_000;
    if (!modules.wallet.provider) throw new SettlenetError("RELAY_NO_PROVIDER", "the sender's wallet must be connected to a provider");
    this.provider = modules.wallet.provider;
    this.wallet = modules.wallet;
    this.log = modules.logger.child({ module: "sender" });
    const registers = modules.metrics ? [modules.metrics] : [];
    this.m = {
      sent: new Counter({ name: "settlenet_transactions_sent_total", help: "Transactions broadcast, by purpose", labelNames: ["purpose"], registers }),
      refused: new Counter({ name: "settlenet_transactions_not_sent_total", help: "Transactions not broadcast (estimation, signing or broadcast failed), by purpose and error code", labelNames: ["purpose", "code"], registers }),
      dropped: new Counter({ name: "settlenet_transactions_dropped_total", help: "Broadcast transactions the chain node lost", registers }),
    };
  }

  /** The key's address. */
  address(): Promise<string> {
    this.addressOf ??= this.wallet.getAddress().then((address) => getAddress(address));
    return this.addressOf;
  }

  /** Signs a 32-byte digest with the key (65 bytes r ‖ s ‖ v, v 27 or 28); for messages the node signs besides transactions. */
  signDigest(digest: string): string {
    if (!(this.wallet instanceof BaseWallet)) throw new SettlenetError("RELAY_NO_SIGNING_KEY", "the sender's key cannot sign a digest");
    return signDigest(this.wallet.signingKey, digest).serialized;
  }

  /**
   * Signs and broadcasts a call with the key's next nonce, estimating its gas unless `gasLimit` is
   * given. Throws what failed: a CALL_EXCEPTION from the estimate (the call reverts: `revertDataOf`
   * reads why), or, once the transaction was signed and `beforeBroadcast` ran, a
   * BROADCAST_UNCONFIRMED error carrying `txHash` (it may or may not have reached the chain).
   */
  async send(request: TransactionRequest, hooks: SendHooks = {}): Promise<SentTransaction> {
    try {
      const from = await this.address();
      // Kept as bytes: hex only where a JSON-RPC call needs it (the estimate, a signer without a local key).
      const data = typeof request.data === "string" ? Buffer.from(request.data.slice(2), "hex") : request.data;
      const [gasLimit, fees, chainId] = await Promise.all([
        request.gasLimit ?? this.wallet.estimateGas({ to: request.to, data: hexOf(data), from }).then((estimate) => (estimate * 5n) / 4n + (request.extraGas ?? 0n)),
        this.feeData(),
        this.chainId(),
      ]);
      const signed = await this.serialized(() => this.signAndRecord({ to: request.to, data, gasLimit, chainId, fees }, hooks));
      await signed.broadcast;
      this.m.sent.inc({ purpose: request.purpose });
      return { hash: signed.hash, nonce: signed.nonce };
    } catch (error) {
      this.m.refused.inc({ purpose: request.purpose, code: codeOf(error) });
      throw error;
    }
  }

  /**
   * Under the nonce lock: assigns the nonce, signs, records (beforeBroadcast) and queues the
   * broadcast behind the previous one. Returns the hash, the nonce and the broadcast to await.
   */
  private async signAndRecord(
    tx: { to: string; data: Uint8Array; gasLimit: bigint; chainId: bigint; fees: FeeData },
    hooks: SendHooks,
  ): Promise<{ hash: string; nonce: number; broadcast: Promise<void> }> {
    const epoch = this.epoch;
    const nonce = this.nextNonce ?? (await this.provider.getTransactionCount(await this.address(), "pending"));
    const signed = await this.sign(tx, nonce, epoch);
    await hooks.beforeBroadcast?.(signed.hash);
    // A failed broadcast meanwhile re-reads the chain's count; otherwise the next nonce follows this one.
    if (this.epoch === epoch) this.nextNonce = nonce + 1;
    const broadcast = this.broadcastTail.then(() => this.broadcast(signed));
    this.broadcastTail = broadcast.catch(() => undefined);
    return { hash: signed.hash, nonce, broadcast };
  }

  private async sign(tx: { to: string; data: Uint8Array; gasLimit: bigint; chainId: bigint; fees: FeeData }, nonce: number, epoch: number): Promise<Signed> {
    const { fees } = tx;
    const pricing =
      fees.maxFeePerGas !== null && fees.maxPriorityFeePerGas !== null
        ? { type: 2 as const, maxFeePerGas: fees.maxFeePerGas, maxPriorityFeePerGas: fees.maxPriorityFeePerGas }
        : { type: 0 as const, gasPrice: fees.gasPrice ?? 0n };
    if (this.wallet instanceof BaseWallet) {
      // Signs the transaction as built: no populate round trips, no hex round trips of the calldata.
      const signed = signRawCall({ to: tx.to, gasLimit: tx.gasLimit, chainId: tx.chainId, nonce, pricing }, tx.data, this.wallet.signingKey);
      return { ...signed, nonce, epoch };
    }
    const transaction = Transaction.from({ to: tx.to, data: hexOf(tx.data), gasLimit: tx.gasLimit, chainId: tx.chainId, nonce, ...pricing });
    const serialized = await this.wallet.signTransaction({ ...transaction.toJSON(), from: await this.address() });
    return { serialized, hash: keccak256(serialized), nonce, epoch };
  }

  /** Broadcasts `signed` unless the nonce sequence was re-read since it was signed; BROADCAST_UNCONFIRMED if it failed or was held back. */
  private async broadcast(signed: Signed): Promise<void> {
    const unconfirmed = (cause: unknown, code: string) =>
      new SettlenetError(BROADCAST_UNCONFIRMED, "the broadcast of a signed transaction failed; it may have reached the chain", { txHash: signed.hash, nonce: signed.nonce, code }, { cause });
    if (signed.epoch !== this.epoch) {
      throw unconfirmed(undefined, "TX_HELD_BACK");
    }
    try {
      if (this.provider instanceof JsonRpcApiProvider) await this.provider.send("eth_sendRawTransaction", [signed.serialized]);
      else await this.provider.broadcastTransaction(signed.serialized);
      this.lastNonce = Math.max(this.lastNonce, signed.nonce);
    } catch (error) {
      // Whatever failed, the chain's count is the truth for the next transaction.
      this.resetNonce();
      throw unconfirmed(error, codeOf(error));
    }
  }

  private resetNonce(): void {
    this.nextNonce = undefined;
    this.epoch++;
  }

  private chainId(): Promise<bigint> {
    this.chainIdOf ??= this.provider.getNetwork().then((network) => network.chainId);
    return this.chainIdOf;
  }

  /** Fee data, read again once older than feeTtlMs (a failed read is not kept). */
  private feeData(): Promise<FeeData> {
    const now = Date.now();
    if (!this.fees || now - this.fees.at > this.feeTtlMs) {
      const data = this.provider.getFeeData();
      this.fees = { data, at: now };
      data.catch(() => {
        if (this.fees?.data === data) this.fees = undefined;
      });
    }
    return this.fees.data;
  }

  /** Runs `fn` once every earlier call has finished (nonces are assigned one transaction at a time). */
  private serialized<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => undefined);
    return run;
  }

  /**
   * Polls for the receipt of a transaction this process broadcast. "dropped" once the chain node no
   * longer knows it (checked every `droppedAfterMs`); undefined if `signal` aborts first.
   */
  waitForReceipt(txHash: string, signal: AbortSignal): Promise<TransactionReceipt | "dropped" | undefined> {
    return this.pollReceipt(txHash, signal, () => this.provider.getTransactionReceipt(txHash));
  }

  /**
   * As waitForReceipt, but the receipt is read as the JSON-RPC returns it and only the logs `keep`
   * selects are kept: a batch's receipt carries every item's events, and ethers' formatting of each
   * (a checksummed address, checked hex) cost the relaying node more than the outcome it reads there.
   */
  waitForMined(txHash: string, signal: AbortSignal, keep: (log: MinedLog) => boolean): Promise<MinedReceipt | "dropped" | undefined> {
    const provider = this.provider;
    if (!(provider instanceof JsonRpcApiProvider)) {
      return this.pollReceipt(txHash, signal, async () => {
        const receipt = await provider.getTransactionReceipt(txHash);
        return receipt ? minedReceiptOf(receipt, keep) : null;
      });
    }
    return this.pollReceipt(txHash, signal, async () => {
      const raw = (await provider.send("eth_getTransactionReceipt", [txHash])) as RawReceipt | null;
      if (!raw) return null;
      return {
        hash: raw.transactionHash,
        blockNumber: Number(raw.blockNumber),
        status: raw.status === undefined || raw.status === null ? null : Number(raw.status),
        gasUsed: BigInt(raw.gasUsed),
        logs: raw.logs.filter(keep).map((log) => ({ address: log.address, topics: log.topics, data: log.data })),
      };
    });
  }

  private async pollReceipt<R>(txHash: string, signal: AbortSignal, read: () => Promise<R | null>): Promise<R | "dropped" | undefined> {
    let checkedAt = Date.now();
    while (!signal.aborted) {
      try {
        const receipt = await read();
        if (receipt) return receipt;
        if (Date.now() - checkedAt > this.droppedAfterMs) {
          checkedAt = Date.now();
          if (!(await this.provider.getTransaction(txHash))) {
            this.log.warn({ txHash }, "sent transaction was dropped");
            this.m.dropped.inc();
            this.resetNonce();
            return "dropped";
          }
        }
      } catch (error) {
        this.log.debug({ error: describe(error), txHash }, "receipt not readable yet");
      }
      await sleep(this.receiptPollMs, signal);
    }
    return undefined;
  }

  /**
   * What the chain knows of a transaction sent earlier, perhaps by an earlier run (its hash recorded
   * by `beforeBroadcast`); reads are retried until they succeed; undefined if `signal` aborts first.
   */
  lookup(txHash: string, signal: AbortSignal): Promise<KnownTransaction | undefined> {
    return this.retrying("look up a sent transaction", signal, async () => ({
      receipt: await this.provider.getTransactionReceipt(txHash),
      transaction: await this.provider.getTransaction(txHash),
    }));
  }

  /** The timestamp of mined block `blockNumber` (retried until read); undefined if `signal` aborts first. */
  blockTimestamp(blockNumber: number, signal: AbortSignal): Promise<number | undefined> {
    return this.retrying("read the block of a mined transaction", signal, async () => {
      const block = await this.provider.getBlock(blockNumber);
      if (!block) throw new SettlenetError("RELAY_BLOCK_MISSING", "block of a mined transaction not found", { blockNumber });
      return block.timestamp;
    });
  }

  /** The gas limit of the chain's latest block. */
  async blockGasLimit(): Promise<bigint> {
    const block = await this.provider.getBlock("latest");
    if (!block) throw new SettlenetError("RELAY_BLOCK_MISSING", "the chain has no latest block");
    return block.gasLimit;
  }

  /** The nonce the key's next transaction takes as far as this sender knows (0 before its first one, unless told the key's mined count). */
  nextNonceHint(): number {
    return this.nextNonce ?? this.lastNonce + 1;
  }

  /**
   * Takes note that the key has `count` transactions mined (read from the chain, for instance at start:
   * the key may have sent transactions before this sender existed), so that the hint is not below it.
   */
  noteMinedCount(count: number): void {
    this.lastNonce = Math.max(this.lastNonce, count - 1);
  }

  /** Transactions of `address` mined so far (its "latest" nonce). */
  minedTransactionCount(address: string): Promise<number> {
    return this.provider.getTransactionCount(address, "latest");
  }

  /** True if `address` has transactions the chain node holds but has not mined ("pending" nonce above "latest"). */
  async hasPendingTransactions(address: string): Promise<boolean> {
    const [pending, latest] = await Promise.all([this.provider.getTransactionCount(address, "pending"), this.provider.getTransactionCount(address, "latest")]);
    return pending > latest;
  }

  /** Revert data of the call if it reverts now; undefined if it would succeed or the chain cannot be read. */
  async revertDataOfCall(request: { to: string; data: string }): Promise<string | undefined> {
    try {
      await this.provider.call({ ...request, from: await this.address() });
    } catch (error) {
      return revertDataOf(error);
    }
    return undefined;
  }

  /** Runs `fn` until it succeeds, backing off between attempts; undefined once `signal` aborts. */
  private async retrying<T>(what: string, signal: AbortSignal, fn: () => Promise<T>): Promise<T | undefined> {
    for (let attempt = 0; !signal.aborted; attempt++) {
      try {
        return await fn();
      } catch (error) {
        this.log.debug({ error: describe(error), attempt }, `cannot ${what} yet`);
        const delay = Math.min(this.maxRetryDelayMs, BASE_RETRY_DELAY_MS * 2 ** Math.min(attempt, 20));
        await sleep(delay * (0.5 + Math.random() / 2), signal);
      }
    }
    return undefined;
  }
}

/** A log of a mined transaction, as a receipt gives it. */
export interface MinedLog {
  address: string;
  topics: readonly string[];
  data: string;
}

/** What a receipt says of a mined transaction, with the logs its reader kept. */
export interface MinedReceipt {
  hash: string;
  blockNumber: number;
  /** 1 executed, 0 reverted (null: a pre-Byzantium receipt without a status). */
  status: number | null;
  gasUsed: bigint;
  logs: MinedLog[];
}

interface RawReceipt {
  transactionHash: string;
  blockNumber: string;
  status?: string | null;
  gasUsed: string;
  logs: MinedLog[];
}

/** A receipt read through ethers, in the form of waitForMined's. */
export function minedReceiptOf(receipt: TransactionReceipt, keep: (log: MinedLog) => boolean): MinedReceipt {
  return { hash: receipt.hash, blockNumber: receipt.blockNumber, status: receipt.status, gasUsed: receipt.gasUsed, logs: receipt.logs.filter(keep) };
}

/** The txHash of a BROADCAST_UNCONFIRMED error: a transaction that may be on the chain. */
export function unconfirmedTxHash(error: unknown): string | undefined {
  if (!(error instanceof SettlenetError) || error.code !== BROADCAST_UNCONFIRMED) return undefined;
  const hash = error.meta["txHash"];
  return typeof hash === "string" ? hash : undefined;
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(finish, ms);
    signal.addEventListener("abort", finish, { once: true });
    function finish() {
      clearTimeout(timer);
      signal.removeEventListener("abort", finish);
      resolve();
    }
  });
}

function codeOf(error: unknown): string {
  if (error instanceof SettlenetError && error.code === BROADCAST_UNCONFIRMED) return String(error.meta["code"] ?? error.code);
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : "UNKNOWN";
}

/** Error summary for logs (never the transaction payload). */
export function describe(error: unknown): { code?: string; message: string } {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    const cause = error.cause instanceof Error ? `: ${error.cause.message.slice(0, 150)}` : "";
    return { ...(typeof code === "string" ? { code } : {}), message: (error.message + cause).slice(0, 200) };
  }
  return { message: String(error) };
}

function hexOf(data: Uint8Array): string {
  return "0x" + Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("hex");
}
