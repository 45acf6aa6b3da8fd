/**
 * Balance indexer: mirrors every account's balance of each settlement token and its allowance to the
 * escrow (Transfer and Approval events) from the deployment block into the balance keyspace
 * (node/storage/balances.ts), one atomic step per block range with its own cursor ("balances.cursor"),
 * so a node that had none builds it from the start while the other indexers go on. Each stored step is
 * told (`onStep`): the pays executed up to its block are in the mirrored balances from then on, and no
 * longer pending debits. Validation refuses on the API a pay the mirror says its payer cannot fund
 * (node/validation/funds.ts).
 *
 * The allowance is the last approved value: a spent finite allowance is not counted down (transferFrom
 * emits no Approval), so the mirror can only overstate it, never refuse what the chain would take.
 */
import { Interface, getAddress, type AbstractProvider } from "ethers";

import { loadArtifact } from "../../core/protocol/artifacts.js";
import type { Deployment } from "../../core/protocol/deployment.js";
import { tokenNamesOf } from "../../core/operations/index.js";
import type { ChainHeads } from "../chain/heads.js";
import type { Logger } from "../services.js";
import type { AccountFundsChange, LevelBalanceRepository } from "../storage/balances.js";
import { EventDecoder, fetchLogs, type ChainLog } from "./events.js";
import { ChainFollower, FollowedIndexer, stepUpTo } from "./follower.js";

export interface BalanceIndexerOptions {
  deployment: Deployment;
  /**
   * Pause between steps (default 1,000 ms): not every head, since each step is a request the chain
   * serves and a synced write; pending debits cover what the mirror has not seen yet.
   */
  stepIntervalMs?: number;
  /** Widest block range of one getLogs call and one atomic step (default 2000). */
  maxBlocksPerStep?: number;
  /** Blocks behind the head to stay (default 0). */
  confirmations?: number;
}

export interface BalanceIndexerModules {
  provider: AbstractProvider;
  storage: { balances: LevelBalanceRepository };
  logger: Logger;
  /** The node's head poll: each step mirrors up to the head it last saw (without it, the chain is asked). */
  heads?: ChainHeads;
  /** The mirror holds every block up to `cursor` (after each stored step). */
  onStep?: (cursor: number) => void;
}

const ZERO = "0x0000000000000000000000000000000000000000";

/** Follows token balances into storage; see the module comment. */
export class BalanceIndexer extends FollowedIndexer {
  private readonly tokenEvents = new EventDecoder(new Interface(loadArtifact("SettlementToken").abi), ["Transfer", "Approval"]);
  private readonly tokens: Set<string>;
  private readonly escrow: string;
  private readonly addresses: string[];
  private readonly maxBlocksPerStep: number;
  private readonly confirmations: number;
  protected readonly follower: ChainFollower;
  private mirrored: number | undefined;

  constructor(
    private readonly options: BalanceIndexerOptions,
    private readonly modules: BalanceIndexerModules,
  ) {
    super();
    this.tokens = new Set(tokenNamesOf(options.deployment).keys());
    this.escrow = options.deployment.contracts.escrow.toLowerCase();
    this.addresses = [...this.tokens].map((address) => getAddress(address));
    this.maxBlocksPerStep = options.maxBlocksPerStep ?? 2000;
    this.confirmations = options.confirmations ?? 0;
    this.follower = new ChainFollower({ name: "balance indexer", pollIntervalMs: options.stepIntervalMs ?? 1_000 }, { logger: modules.logger, sync: (head) => this.sync(head) });
  }

  /** The last block the mirror holds (undefined until the first step or cursor read). */
  get cursor(): number | undefined {
    return this.mirrored;
  }

  private async sync(knownHead?: number): Promise<number> {
    const { provider, storage } = this.modules;
    const cursor = (await storage.balances.getCursor()) ?? this.options.deployment.deploymentBlock - 1;
    this.mirrored = cursor;
    const head = (knownHead ?? this.modules.heads?.latest ?? (await provider.getBlockNumber())) - this.confirmations;
    const stored = (_: void, to: number) => {
      this.mirrored = to;
      this.modules.onStep?.(to);
    };
    return stepUpTo({ cursor, head, maxBlocksPerStep: this.maxBlocksPerStep }, (from, to) => this.step(from, to), stored, this.modules.logger);
  }

  /** Mirrors blocks [from, to] and stores the result with the cursor. */
  private async step(from: number, to: number): Promise<void> {
    const { provider, storage, logger } = this.modules;
    const logs = await fetchLogs(provider, { address: this.addresses, topics: this.tokenEvents.topics, fromBlock: from, toBlock: to });
    const ordered = logs.filter((log) => !log.removed).sort((a, b) => a.blockNumber - b.blockNumber || a.index - b.index);

    const moves: { log: ChainLog; name: string; from: string; to: string; value: bigint }[] = [];
    for (const log of ordered) {
      if (!this.tokens.has(log.address.toLowerCase())) continue;
      const event = this.tokenEvents.decode(log);
      if (!event) continue;
      const [first, second] = event.name === "Transfer" ? ["from", "to"] : ["owner", "spender"];
      moves.push({ log, name: event.name, from: String(event.arg(first as string)), to: String(event.arg(second as string)), value: event.arg("value") as bigint });
    }

    // Every account the step touches, read once.
    const accounts = new Map<string, { token: string; account: string; balance: bigint; escrowAllowance: bigint }>();
    const keyOf = (token: string, account: string) => `${token.toLowerCase()}:${account.toLowerCase()}`;
    const wanted = new Map<string, { token: string; account: string }>();
    for (const move of moves) {
      const token = move.log.address;
      if (move.name === "Transfer") {
        for (const account of [move.from, move.to]) if (account !== ZERO) wanted.set(keyOf(token, account), { token, account });
      } else if (move.to.toLowerCase() === this.escrow) {
        wanted.set(keyOf(token, move.from), { token, account: move.from });
      }
    }
    const keys = [...wanted.values()];
    const stored = await storage.balances.getMany(keys);
    keys.forEach((k, i) => {
      const funds = stored[i];
      accounts.set(keyOf(k.token, k.account), { token: getAddress(k.token), account: getAddress(k.account), balance: BigInt(funds?.balance ?? "0"), escrowAllowance: BigInt(funds?.escrowAllowance ?? "0") });
    });
    for (const move of moves) {
      const token = move.log.address;
      if (move.name === "Transfer") {
        const sender = accounts.get(keyOf(token, move.from));
        if (sender) sender.balance -= move.value;
        const receiver = accounts.get(keyOf(token, move.to));
        if (receiver) receiver.balance += move.value;
      } else if (move.to.toLowerCase() === this.escrow) {
        const owner = accounts.get(keyOf(token, move.from));
        if (owner) owner.escrowAllowance = move.value;
      }
    }
    const changes: AccountFundsChange[] = [...accounts.values()].map((a) => ({ token: a.token, account: a.account, balance: a.balance.toString(), escrowAllowance: a.escrowAllowance.toString() }));
    await storage.balances.applyStep(changes, to);
    if (changes.length > 0) logger.debug({ from, to, accounts: changes.length }, "mirrored token balances");
  }
}
