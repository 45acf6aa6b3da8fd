/**
 * Token indexer: follows the events of the deployment's settlement tokens (Minted, Burned, Redeemed,
 * ReservesAttested, FreezeChanged, CustodianChanged) from the deployment block into the token
 * repository — supply per custodian, attested reserves and their time, frozen accounts, the event
 * history — and marks the stored token operations a relayed *WithSig call executed, on every node.
 * Each step (a block range) is one atomic batch with its own cursor ("tokens.cursor"), so a crash never
 * half-indexes; RPC errors are retried with exponential backoff. It runs beside the escrow indexer
 * (indexer.ts) rather than inside it so each keeps its own, simple step.
 */
import { Interface, getAddress, type AbstractProvider, type Log, type LogDescription } from "ethers";

import { SettlenetError } from "../../core/errors.js";
import type { ChainHeads } from "../chain/heads.js";
import { ChainFollower, FollowedIndexer, stepUpTo } from "./follower.js";
import { loadArtifact } from "../../core/protocol/artifacts.js";
import type { Deployment } from "../../core/protocol/deployment.js";
import { TOKEN_EXECUTION_EVENTS, fromTokenCall, tokenDescriptorOf, tokenNamesOf, tokenOperationDigest, type TokenOperation } from "../../core/operations/index.js";
import type { Logger } from "../services.js";
import type { CustodianRecord, FrozenAccountRecord, TokenEventRecord, TokenIndexBatch, TokenRecord, TokenRepository } from "../storage/tokens.js";

export interface TokenIndexerOptions {
  deployment: Deployment;
  /** Pause between steps once caught up with the head. */
  pollIntervalMs: number;
  /** Widest block range of one getLogs call and one atomic step (default 2000). */
  maxBlocksPerStep?: number;
  /** Blocks behind the head to stay (default 0). */
  confirmations?: number;
}

export interface TokenIndexerModules {
  provider: AbstractProvider;
  storage: { tokens: TokenRepository };
  logger: Logger;
  /** The node's head poll: steps run when it sees a new block instead of on a timer of their own. */
  heads?: ChainHeads;
  /** Operation ids a step marked executed (after the step is stored). */
  onSettled?: (ids: string[]) => void;
}

const TOKEN_EVENTS = ["Minted", "Burned", "Redeemed", "ReservesAttested", "FreezeChanged", "CustodianChanged"] as const;

/** Follows settlement token events into storage; see the module comment. */
export class TokenIndexer extends FollowedIndexer {
  private readonly iface = new Interface(loadArtifact("SettlementToken").abi);
  private readonly topics: string[];
  /** Token address (lower-case) → its EIP-712 domain name. */
  private readonly names: Map<string, string>;
  private readonly chainId: bigint;
  private readonly maxBlocksPerStep: number;
  private readonly confirmations: number;
  protected readonly follower: ChainFollower;

  constructor(
    private readonly options: TokenIndexerOptions,
    private readonly modules: TokenIndexerModules,
  ) {
    super();
    this.topics = TOKEN_EVENTS.map((name) => {
      const event = this.iface.getEvent(name);
      if (!event) throw new SettlenetError("ABI_MISMATCH", `SettlementToken ABI lacks event ${name}`, { event: name });
      return event.topicHash;
    });
    this.names = tokenNamesOf(options.deployment);
    this.chainId = BigInt(options.deployment.chainId);
    this.maxBlocksPerStep = options.maxBlocksPerStep ?? 2000;
    this.confirmations = options.confirmations ?? 0;
    this.follower = new ChainFollower({ name: "token indexer", pollIntervalMs: options.pollIntervalMs }, { logger: modules.logger, sync: (head) => this.sync(head), ...(modules.heads ? { heads: modules.heads } : {}) });
  }

  private async sync(knownHead?: number): Promise<number> {
    const { provider, storage } = this.modules;
    const cursor = (await storage.tokens.getCursor()) ?? this.options.deployment.deploymentBlock - 1;
    const head = (knownHead ?? (await provider.getBlockNumber())) - this.confirmations;
    const stored = (settled: string[]) => {
      if (settled.length > 0) this.modules.onSettled?.(settled);
    };
    return stepUpTo({ cursor, head, maxBlocksPerStep: this.maxBlocksPerStep }, (from, to) => this.step(from, to), stored, this.modules.logger);
  }

  /** Indexes blocks [from, to] and stores the result with the cursor; returns the executed operation ids. */
  private async step(from: number, to: number): Promise<string[]> {
    const { provider, storage, logger } = this.modules;
    const addresses = [...this.names.keys()].map((address) => getAddress(address));
    const logs = addresses.length === 0 ? [] : await provider.getLogs({ address: addresses, fromBlock: from, toBlock: to, topics: [this.topics] });
    const events: { log: Log; event: LogDescription }[] = [];
    for (const log of logs) {
      if (log.removed || !this.names.has(log.address.toLowerCase())) continue;
      const event = this.iface.parseLog(log);
      if (event) events.push({ log, event });
    }
    events.sort((a, b) => a.log.blockNumber - b.log.blockNumber || a.log.index - b.log.index);

    const times = new Map<number, number>();
    for (const number of new Set(events.map(({ log }) => log.blockNumber))) {
      const block = await provider.getBlock(number);
      if (!block) throw new SettlenetError("RPC_INCONSISTENT", "the RPC returned logs for a block it does not know", { blockNumber: number });
      times.set(number, block.timestamp);
    }

    const records = new Map<string, TokenRecord>();
    const frozen = new Map<string, TokenIndexBatch["frozen"][number]>();
    const batch: TokenIndexBatch = { tokens: [], frozen: [], events: [], operations: [], cursor: to };
    const txs = new Map<string, Promise<{ from: string; op?: TokenOperation }>>();

    for (const { log, event } of events) {
      const token = getAddress(log.address);
      const key = token.toLowerCase();
      let record = records.get(key);
      if (!record) {
        record = (await storage.tokens.get(token)) ?? { token, totalSupply: "0", custodians: {}, latestAttestationAt: 0, frozenAccounts: 0, updatedBlock: 0 };
        records.set(key, record);
      }
      const timestamp = times.get(log.blockNumber) ?? 0;
      const args = event.args;
      const value = (name: string) => args.getValue(name) as unknown;
      switch (event.name) {
        case "Minted":
        case "Burned": {
          const amount = BigInt(value("amount") as bigint);
          const sign = event.name === "Minted" ? 1n : -1n;
          const custodian = custodianOf(record, String(value("custodian")));
          custodian.outstanding = (BigInt(custodian.outstanding) + sign * amount).toString();
          record.totalSupply = (BigInt(record.totalSupply) + sign * amount).toString();
          break;
        }
        case "ReservesAttested": {
          const custodian = custodianOf(record, String(value("custodian")));
          custodian.reserves = String(value("amount"));
          custodian.statementHash = String(value("statementHash"));
          custodian.attestedAt = timestamp;
          custodian.outstanding = String(value("outstanding"));
          record.latestAttestationAt = Math.max(record.latestAttestationAt, timestamp);
          break;
        }
        case "CustodianChanged":
          custodianOf(record, String(value("institution"))).custodian = Boolean(value("custodian"));
          break;
        case "FreezeChanged": {
          const account = getAddress(String(value("account")));
          const fKey = `${key}:${account.toLowerCase()}`;
          const wasFrozen = frozen.has(fKey) ? frozen.get(fKey)?.record != null : (await storage.tokens.frozenAccount(token, account)) !== undefined;
          const nowFrozen = Boolean(value("frozen"));
          const entry: FrozenAccountRecord | null = nowFrozen
            ? { token, account, regulator: getAddress(String(value("regulator"))), reason: String(value("reason")), blockNumber: log.blockNumber, txHash: log.transactionHash, timestamp }
            : null;
          frozen.set(fKey, { token, account, record: entry });
          if (wasFrozen !== nowFrozen) record.frozenAccounts += nowFrozen ? 1 : -1;
          break;
        }
      }
      record.updatedBlock = log.blockNumber;
      batch.events.push(eventRecord(token, log, event, timestamp));

      if (TOKEN_EXECUTION_EVENTS.has(event.name)) {
        let tx = txs.get(log.transactionHash);
        if (!tx) {
          tx = this.relayedOperation(log.transactionHash);
          txs.set(log.transactionHash, tx);
        }
        const { from: relayer, op } = await tx;
        const name = op ? this.names.get(op.token.toLowerCase()) : undefined;
        // A redemption emits Burned and Redeemed: only its own kind's event settles it, once.
        if (op && name !== undefined && op.token.toLowerCase() === key && tokenDescriptorOf(op.kind).executedBy === event.name) {
          const id = tokenOperationDigest(op, { chainId: this.chainId, tokenName: name });
          batch.operations.push({ id, status: "executed", execution: { txHash: log.transactionHash, blockNumber: log.blockNumber, relayer, timestamp } });
        }
      }
    }
    batch.tokens = [...records.values()];
    batch.frozen = [...frozen.values()];
    await storage.tokens.applyIndexBatch(batch);
    logger.debug({ from, to, events: events.length, operations: batch.operations.length }, "indexed token blocks");
    return batch.operations.map((change) => change.id);
  }

  /** The sender of a transaction and, for a direct *WithSig call on a token, the token operation it carried. */
  private async relayedOperation(hash: string): Promise<{ from: string; op?: TokenOperation }> {
    const tx = await this.modules.provider.getTransaction(hash);
    if (!tx) throw new SettlenetError("RPC_INCONSISTENT", "the RPC returned a log of a transaction it does not know", { txHash: hash });
    const token = tx.to ? getAddress(tx.to) : undefined;
    if (!token || !this.names.has(token.toLowerCase())) return { from: tx.from };
    let call;
    try {
      call = this.iface.parseTransaction({ data: tx.data });
    } catch {
      return { from: tx.from };
    }
    if (!call) return { from: tx.from };
    const op = fromTokenCall(token, call.name, call.args);
    return op ? { from: tx.from, op } : { from: tx.from };
  }
}

function custodianOf(record: TokenRecord, institution: string): CustodianRecord {
  const id = getAddress(institution);
  let custodian = record.custodians[id];
  if (!custodian) {
    custodian = { institution: id, custodian: false, outstanding: "0", reserves: "0", statementHash: "0x" + "00".repeat(32), attestedAt: 0 };
    record.custodians[id] = custodian;
  }
  return custodian;
}

function eventRecord(token: string, log: Log, event: LogDescription, timestamp: number): TokenEventRecord {
  const args: Record<string, string | boolean> = {};
  event.fragment.inputs.forEach((input, i) => {
    const value: unknown = event.args[i];
    args[input.name] = typeof value === "boolean" ? value : String(value);
  });
  return { token, event: event.name, blockNumber: log.blockNumber, txHash: log.transactionHash, logIndex: log.index, timestamp, args };
}
