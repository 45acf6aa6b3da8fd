/**
 * The one transaction sender of a key. Every component that signs transactions with the institution's
 * key (escrow batches, token operations, cycle finalization) sends through the same instance, because
 * the key has one nonce sequence: a second sender with its own idea of the next nonce makes one of
 * the two fail NONCE_EXPIRED (or replace the other's transaction).
 *
 * - Nonces: assigned here, one transaction at a time (sign → record → broadcast runs under a lock),
 *   consecutive while broadcasts succeed; re-read from the chain ("pending") after any failure or a
 *   dropped transaction.
 * - Gas and fees: the gas estimate (which also simulates the call: a revert is the caller's to
 *   decode) and the fee data are read side by side, before the lock, so waiting for the lock costs no
 *   chain round trip.
 * - Crash safety: `beforeBroadcast` runs with the signed transaction's hash before it is broadcast, so
 *   a crash at any point leaves a record that `lookup` resolves from the chain on the next start.
 * - Receipts: polled; a transaction the chain node no longer knows after `droppedAfterMs` is dropped.
 */
import { Transaction, getAddress, type Provider, type Signer, type TransactionReceipt, type TransactionResponse } from "ethers";
import { Counter, type Registry } from "prom-client";

import { revertDataOf } from "../../core/chain/outcome.js";
import { SettlenetError } from "../../core/errors.js";
import type { Logger } from "../services.js";

export interface TransactionSenderOptions {
  /** How often a sent transaction's receipt is polled. */
  receiptPollMs?: number;
  /** A sent transaction unknown to the chain node after this long is considered dropped. */
  droppedAfterMs?: number;
  /** Cap of the backoff between retried chain reads. */
  maxRetryDelayMs?: number;
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
  data: string;
  /** Gas added to 5/4 of the estimate (a batch needs more: each item runs with 63/64 of the gas left). */
  extraGas: bigint;
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

/** Signs and sends the transactions of one key; see the module comment. */
export class TransactionSender {
  private readonly receiptPollMs: number;
  private readonly droppedAfterMs: number;
  private readonly maxRetryDelayMs: number;
  private readonly wallet: Signer;
  private readonly provider: Provider;
  private readonly log: Logger;
  private readonly m: { sent: Counter<"purpose">; refused: Counter<"purpose" | "code">; dropped: Counter };
  private addressOf: Promise<string> | undefined;
  private nextNonce: number | undefined;
  /** The send holding the nonce (one at a time). */
  private lock: Promise<unknown> = Promise.resolve();

  constructor(options: TransactionSenderOptions, modules: TransactionSenderModules) {
    this.receiptPollMs = options.receiptPollMs ?? 100;
    this.droppedAfterMs = options.droppedAfterMs ?? 30_000;
    this.maxRetryDelayMs = options.maxRetryDelayMs ?? 5_000;
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

  /**
   * Estimates, signs and broadcasts a call with the key's next nonce. Throws what failed: a
   * CALL_EXCEPTION from the estimate (the call reverts: `revertDataOf` reads why), or, once the
   * transaction was signed and `beforeBroadcast` ran, a BROADCAST_UNCONFIRMED error carrying `txHash`.
   */
  async send(request: TransactionRequest, hooks: SendHooks = {}): Promise<SentTransaction> {
    try {
      const from = await this.address();
      const call = { to: request.to, data: request.data, from };
      const [estimate, fees] = await Promise.all([this.wallet.estimateGas(call), this.provider.getFeeData()]);
      const fee = fees.maxFeePerGas !== null && fees.maxPriorityFeePerGas !== null ? { maxFeePerGas: fees.maxFeePerGas, maxPriorityFeePerGas: fees.maxPriorityFeePerGas } : {};
      const gasLimit = (estimate * 5n) / 4n + request.extraGas;
      const sent = await this.serialized(() => this.signAndBroadcast({ ...call, gasLimit, ...fee }, hooks));
      this.m.sent.inc({ purpose: request.purpose });
      return sent;
    } catch (error) {
      this.m.refused.inc({ purpose: request.purpose, code: codeOf(error) });
      throw error;
    }
  }

  private async signAndBroadcast(transaction: { to: string; data: string; from: string; gasLimit: bigint }, hooks: SendHooks): Promise<SentTransaction> {
    let hash: string | undefined;
    let nonce: number | undefined;
    try {
      nonce = this.nextNonce ?? (await this.provider.getTransactionCount(transaction.from, "pending"));
      const signed = await this.wallet.signTransaction(await this.wallet.populateTransaction({ ...transaction, nonce }));
      const signedHash = Transaction.from(signed).hash;
      if (!signedHash) throw new SettlenetError("RELAY_UNSIGNED", "signed transaction has no hash");
      await hooks.beforeBroadcast?.(signedHash);
      hash = signedHash;
      await this.provider.broadcastTransaction(signed);
      this.nextNonce = nonce + 1;
      return { hash, nonce };
    } catch (error) {
      // Whatever failed, the chain's count is the truth for the next transaction.
      this.nextNonce = undefined;
      if (hash === undefined) throw error;
      throw new SettlenetError(BROADCAST_UNCONFIRMED, "the broadcast of a signed transaction failed; it may have reached the chain", { txHash: hash, nonce, code: codeOf(error) }, { cause: error });
    }
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
  async waitForReceipt(txHash: string, signal: AbortSignal): Promise<TransactionReceipt | "dropped" | undefined> {
    let checkedAt = Date.now();
    while (!signal.aborted) {
      try {
        const receipt = await this.provider.getTransactionReceipt(txHash);
        if (receipt) return receipt;
        if (Date.now() - checkedAt > this.droppedAfterMs) {
          checkedAt = Date.now();
          if (!(await this.provider.getTransaction(txHash))) {
            this.log.warn({ txHash }, "sent transaction was dropped");
            this.m.dropped.inc();
            this.nextNonce = undefined;
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
