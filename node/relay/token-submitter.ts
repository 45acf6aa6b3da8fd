/**
 * Token operations (mint, burn, attestReserves, freeze) on-chain: one transaction each to their
 * SettlementToken's *WithSig function (the token has no batch entry point). The call is simulated
 * first (the gas estimate): a decoded revert settles the operation without a transaction
 * (NonceAlreadyUsed → executed by someone else; any other custom error → failed), so failover
 * relayers of an operation the chain refuses spend no gas on it either.
 */
import { Interface, getAddress, type TransactionReceipt } from "ethers";
import type { Counter } from "prom-client";

import { outcomeOf, revertDataOf, type ChainOutcome } from "../../core/chain/outcome.js";
import { loadArtifact } from "../../core/protocol/artifacts.js";
import { toTokenCall, type TokenOperation } from "../../core/operations/index.js";
import type { StoredOperation } from "../../core/records.js";
import type { Logger, Storage } from "../services.js";
import { describe, unconfirmedTxHash, type TransactionSender } from "./sender.js";
import { DONE, type RelayEntry, type Settlement, type Submission } from "./submission.js";

export interface TokenSubmitterModules {
  sender: TransactionSender;
  storage: Storage;
  logger: Logger;
  /** Operations the chain refused as already executed, by the operation's origin. */
  duplicates?: Counter<"origin">;
}

/** Sends token operations one at a time and records their outcomes. */
export class TokenSubmitter {
  private readonly iface = new Interface(loadArtifact("SettlementToken").abi);
  private readonly sender: TransactionSender;
  private readonly storage: Storage;
  private readonly log: Logger;

  constructor(private readonly modules: TokenSubmitterModules) {
    this.sender = modules.sender;
    this.storage = modules.storage;
    this.log = modules.logger;
  }

  /** Sends one token operation; its settlement resolves once the outcome is stored. */
  async submit(entry: RelayEntry, signal: AbortSignal): Promise<Submission> {
    const op = entry.parsed as TokenOperation;
    try {
      const sent = await this.sender.send(
        { ...this.request(op), extraGas: 20_000n, purpose: "token" },
        { beforeBroadcast: (txHash) => this.markSubmitted(entry, txHash) },
      );
      this.log.info({ id: entry.op.id, kind: op.kind, txHash: sent.hash, nonce: sent.nonce }, "token operation sent");
      return { sent: true, settled: this.settle(sent.hash, entry, signal) };
    } catch (error) {
      const txHash = unconfirmedTxHash(error);
      if (txHash) return { sent: false, error, settled: this.recover(txHash, entry, signal) };
      const data = revertDataOf(error);
      // The simulation reverted: the chain refuses the operation as it stands, no transaction needed.
      if (data !== undefined) return { sent: false, settled: this.record(entry, outcomeOf(op.kind, data)) };
      return { sent: false, error, settled: Promise.resolve({ requeue: [entry], backoff: false }) };
    }
  }

  /** Resolves a token operation recorded "submitted" in transaction `txHash`. */
  async recover(txHash: string, entry: RelayEntry, signal: AbortSignal): Promise<Settlement> {
    const found = await this.sender.lookup(txHash, signal);
    if (!found) return DONE;
    if (!found.receipt && !found.transaction) {
      this.log.info({ txHash, id: entry.op.id }, "submitted token transaction never reached the chain; re-sending");
      return { requeue: [entry], backoff: false };
    }
    return found.receipt ? this.apply(found.receipt, entry, signal) : this.settle(txHash, entry, signal);
  }

  private request(op: TokenOperation): { to: string; data: string } {
    const call = toTokenCall(op);
    return { to: getAddress(op.token), data: this.iface.encodeFunctionData(call.functionName, call.args) };
  }

  private async markSubmitted(entry: RelayEntry, txHash: string): Promise<void> {
    await this.storage.operations.updateMany([{ id: entry.op.id, patch: { status: "submitted", txHash } }]);
  }

  /** Waits for a token transaction's receipt; re-sends the operation if the transaction was dropped. */
  private async settle(txHash: string, entry: RelayEntry, signal: AbortSignal): Promise<Settlement> {
    const receipt = await this.sender.waitForReceipt(txHash, signal);
    if (receipt === undefined) return DONE;
    if (receipt === "dropped") {
      this.log.warn({ txHash, id: entry.op.id }, "sent token transaction was dropped; re-sending it");
      return { requeue: [entry], backoff: false };
    }
    return this.apply(receipt, entry, signal);
  }

  /** Records a mined token transaction: executed, or (reverted) the outcome a fresh simulation decodes. */
  private async apply(receipt: TransactionReceipt, entry: RelayEntry, signal: AbortSignal): Promise<Settlement> {
    if (receipt.status === 1) {
      const timestamp = await this.sender.blockTimestamp(receipt.blockNumber, signal);
      if (timestamp === undefined) return DONE;
      const execution = { txHash: receipt.hash, blockNumber: receipt.blockNumber, relayer: await this.sender.address(), timestamp };
      return this.record(entry, { kind: "executed" }, execution);
    }
    // A receipt carries no revert data: simulate again to learn why (usually another relayer executed it first).
    const data = await this.sender.revertDataOfCall(this.request(entry.parsed as TokenOperation));
    const outcome: ChainOutcome = data === undefined ? { kind: "retry" } : outcomeOf(entry.parsed.kind, data);
    // Sent and mined for an operation that had run already: a duplicate.
    if (outcome.kind === "alreadyExecuted") this.modules.duplicates?.inc({ origin: entry.op.origin });
    return this.record(entry, outcome);
  }

  /** Stores a token operation's outcome, or hands it back to be sent again. */
  private async record(entry: RelayEntry, outcome: ChainOutcome, execution?: StoredOperation["execution"]): Promise<Settlement> {
    const id = entry.op.id;
    try {
      switch (outcome.kind) {
        case "executed":
          await this.storage.operations.updateMany([{ id, patch: { status: "executed", ...(execution ? { execution } : {}) } }]);
          this.log.info({ id, txHash: execution?.txHash }, "token operation executed");
          break;
        case "alreadyExecuted":
          this.log.debug({ id, code: outcome.code }, "token operation was already executed");
          await this.storage.operations.updateMany([{ id, patch: { status: "executed" } }]);
          break;
        case "failed":
          this.log.info({ id, code: outcome.error.code }, "token operation refused by the chain");
          await this.storage.operations.updateMany([{ id, patch: { status: "failed", error: outcome.error } }]);
          break;
        case "retry":
          return { requeue: [{ ...entry, emptyReverts: entry.emptyReverts + 1 }], backoff: true };
      }
    } catch (error) {
      // Left as it was ("submitted" or "accepted"): the next start resolves it again.
      this.log.error({ error: describe(error), id }, "cannot record a token operation's outcome");
    }
    return DONE;
  }
}
