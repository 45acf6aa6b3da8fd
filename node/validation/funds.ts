/**
 * Refuses on the API a pay its payer cannot fund: its amount, added to the payer's pending debits, must
 * fit in the payer's balance and in its allowance to the escrow. The balance and allowance are the
 * node's mirror (node/indexer/balances.ts), a step a second behind the chain; the pending debits are
 * the operations this node holds that take from an account and whose execution the mirror does not
 * hold yet (own and gossiped, accepted, submitted, or executed in a block the mirror has not reached),
 * kept in memory and rebuilt from storage at start: pays count against the payer's balance and its
 * allowance to the escrow, redemptions and burns against the holder's balance only.
 *
 * A refusal is never made on the mirror alone: where it says the funds fall short, the chain is read
 * now (the payer may have been funded since the mirror's block), and the larger of the two is taken.
 * While the mirror catches up (more than `maxLagBlocks` behind the head), nothing is refused: the chain
 * stays the judge, as for every operation, and a pay it refuses fails there. Only the API path checks:
 * a peer's view of a payer's funds may differ from this node's without anyone being at fault.
 */
import { Interface, type AbstractProvider } from "ethers";
import { Counter, Gauge, type Registry } from "prom-client";

import type { ChangeDraft } from "../../core/api/changes.js";

import type { Operation } from "../../core/operations/index.js";
import { loadArtifact } from "../../core/protocol/artifacts.js";
import type { StoredOperation } from "../../core/records.js";
import type { OperationRepository } from "../services.js";
import type { AccountFunds } from "../storage/balances.js";
import { refusal } from "./refusal.js";

export interface FundsGuardOptions {
  escrow: string;
  /** The mirror judges only while at most this many blocks behind the head. */
  maxLagBlocks: number;
}

export interface FundsGuardModules {
  balances: { getMany(keys: readonly { token: string; account: string }[]): Promise<AccountFunds[]> };
  provider: AbstractProvider;
  /** The mirror's last block, and the chain's head as last polled (undefined: not known yet). */
  mirrored(): number | undefined;
  head(): number | undefined;
  /** Where the mirror's block, the pending pays and the confirming chain reads are reported. */
  metrics?: Registry;
}

/** What a group's pays may spend, per payer and token: the larger of the mirror's and the chain's figures. */
export type GroupFunds = ReadonlyMap<string, { balance: bigint; escrowAllowance: bigint }>;

interface Debit {
  key: string;
  amount: bigint;
  /** A pay: it also spends the account's allowance to the escrow. */
  pay: boolean;
}

/** What an operation takes from an account's balance (undefined: nothing this check counts). */
function debitOf(op: Operation | StoredOperation["op"]): Debit | undefined {
  switch (op.kind) {
    case "pay":
      return { key: keyOf(op.terms.token, op.terms.payer), amount: BigInt(op.terms.amount), pay: true };
    case "redeem":
      return { key: keyOf(op.token, op.holder), amount: BigInt(op.amount), pay: false };
    case "burn":
      return { key: keyOf(op.token, op.from), amount: BigInt(op.amount), pay: false };
    default:
      return undefined;
  }
}

/** Adds `amount` (may be negative) to `key`'s sum; a sum that reaches 0 is dropped. */
function addTo(sums: Map<string, bigint>, key: string, amount: bigint): void {
  const sum = (sums.get(key) ?? 0n) + amount;
  if (sum > 0n) sums.set(key, sum);
  else sums.delete(key);
}

const keyOf = (token: string, payer: string) => `${token.toLowerCase()}:${payer.toLowerCase()}`;
const token = new Interface(loadArtifact("SettlementToken").abi);

/** See the module comment. */
export class FundsGuard {
  /** Pending debits by operation id (lower case). */
  private readonly debits = new Map<string, Debit>();
  /** Their sum per account and token: every debit against the balance, the pays' against the allowance to the escrow. */
  private readonly pendingBalance = new Map<string, bigint>();
  private readonly pendingAllowance = new Map<string, bigint>();
  /** Pending debits executed in a block the mirror has not reached: id → that block. */
  private readonly paidAhead = new Map<string, number>();
  private freshReads = 0;

  constructor(
    private readonly options: FundsGuardOptions,
    private readonly modules: FundsGuardModules,
  ) {
    const registers = modules.metrics ? [modules.metrics] : [];
    const pendingPays = () => this.pendingPays;
    const chainReads = () => this.freshReads;
    new Gauge({
      name: "settlenet_balance_mirror_block",
      help: "The last block whose token balances and allowances to the escrow this node mirrors (it refuses on its API the pays their payers cannot fund)",
      registers,
      collect() {
        const block = modules.mirrored();
        if (block !== undefined) this.set(block);
      },
    });
    new Gauge({
      name: "settlenet_funds_pending_pays",
      help: "Pays this node holds that the balance mirror has not seen paid: debits counted against their payers' balances (redemptions and burns count too, and are not in this figure)",
      registers,
      collect() {
        this.set(pendingPays());
      },
    });
    new Counter({
      name: "settlenet_funds_chain_reads_total",
      help: "Chain reads of a payer's balance and allowance, made to confirm a shortfall the mirror showed before refusing a pay",
      registers,
      collect() {
        this.reset();
        this.inc(chainReads());
      },
    });
  }

  /** The storage's changes as they are recorded: a debit stops being pending when it fails, or once the mirror holds the block that executed it. */
  onChanges(drafts: readonly ChangeDraft[]): void {
    for (const draft of drafts) {
      // Only ids held as debits are looked at further (paid and release ignore the others).
      if (draft.type !== "operation") continue;
      if (draft.status === "failed") this.release(draft.id);
      else if (draft.status === "executed") this.paid(draft.id, draft.execution?.blockNumber ?? -1);
    }
  }

  /**
   * Counts `op` (parsed or in its stored wire form) as a pending debit until `release`: a pay of its
   * payer, a redemption of its holder, a burn of the account it burns from; other kinds take nothing.
   */
  reserve(id: string, op: Operation | StoredOperation["op"]): void {
    const lower = id.toLowerCase();
    if (this.debits.has(lower)) return;
    const debit = debitOf(op);
    if (!debit) return;
    this.debits.set(lower, debit);
    addTo(this.pendingBalance, debit.key, debit.amount);
    if (debit.pay) addTo(this.pendingAllowance, debit.key, debit.amount);
  }

  /**
   * The debit `id` was executed in `block`: no longer pending once the mirror holds that block (released
   * any earlier, it would count neither as pending nor in the mirrored balance).
   */
  paid(id: string, block: number): void {
    const lower = id.toLowerCase();
    if (!this.debits.has(lower)) return;
    if (block <= (this.modules.mirrored() ?? -1)) this.release(lower);
    else this.paidAhead.set(lower, block);
  }

  /** The mirror now holds every block up to `cursor`: the debits executed in them are no longer pending. */
  mirroredUpTo(cursor: number): void {
    for (const [id, block] of this.paidAhead) if (block <= cursor) this.release(id);
  }

  /** The debit `id` failed (or is executed and mirrored): no longer pending. */
  release(id: string): void {
    const lower = id.toLowerCase();
    this.paidAhead.delete(lower);
    const debit = this.debits.get(lower);
    if (!debit) return;
    this.debits.delete(lower);
    addTo(this.pendingBalance, debit.key, -debit.amount);
    if (debit.pay) addTo(this.pendingAllowance, debit.key, -debit.amount);
  }

  /**
   * Counts the stored operations still waiting (accepted or submitted) that take from an account as
   * pending debits: at start, before anything is validated. Returns how many.
   */
  async restore(operations: Pick<OperationRepository, "forEachReceivedSince">): Promise<number> {
    const before = this.debits.size;
    await operations.forEachReceivedSince(0, (stored) => this.reserve(stored.id, stored.op), 500, ["accepted", "submitted"]);
    return this.debits.size - before;
  }

  /** Pays held as pending debits. */
  get pendingPays(): number {
    let pays = 0;
    for (const debit of this.debits.values()) if (debit.pay) pays += 1;
    return pays;
  }

  /** Operations held as pending debits: pays, redemptions and burns. */
  get pendingDebits(): number {
    return this.debits.size;
  }

  /** Chain reads made to confirm a shortfall the mirror showed (a failed read leaves the payer's pays unjudged). */
  get confirmations(): number {
    return this.freshReads;
  }

  /**
   * The funds the pays among `ops` may spend, read before the group's synchronous checks (undefined:
   * the mirror is catching up, nothing is refused). The chain is read for the payers whose mirrored
   * funds do not cover their pending debits plus the group's pays.
   */
  async prepare(ops: readonly Operation[]): Promise<GroupFunds | undefined> {
    const pays = ops.filter((op): op is Extract<Operation, { kind: "pay" }> => op.kind === "pay");
    if (pays.length === 0) return new Map();
    const mirrored = this.modules.mirrored();
    const head = this.modules.head();
    if (mirrored === undefined || head === undefined || head - mirrored > this.options.maxLagBlocks) return undefined;
    const wanted = new Map<string, { token: string; account: string; balance: bigint; allowance: bigint }>();
    for (const op of pays) {
      const key = keyOf(op.terms.token, op.terms.payer);
      const entry = wanted.get(key) ?? { token: op.terms.token, account: op.terms.payer, balance: this.pendingBalance.get(key) ?? 0n, allowance: this.pendingAllowance.get(key) ?? 0n };
      entry.balance += BigInt(op.terms.amount);
      entry.allowance += BigInt(op.terms.amount);
      wanted.set(key, entry);
    }
    const keys = [...wanted.entries()];
    const stored = await this.modules.balances.getMany(keys.map(([, k]) => k));
    const funds = new Map<string, { balance: bigint; escrowAllowance: bigint }>();
    await Promise.all(
      keys.map(async ([key, k], i) => {
        const record = stored[i] as AccountFunds;
        let balance = BigInt(record.balance);
        let escrowAllowance = BigInt(record.escrowAllowance);
        if (balance < k.balance || escrowAllowance < k.allowance) {
          // Unconfirmed, a shortfall is not judged here: the chain refuses the pay if it must.
          const fresh = await this.read(k.token, k.account).catch(() => undefined);
          if (!fresh) return;
          if (fresh.balance > balance) balance = fresh.balance;
          if (fresh.escrowAllowance > escrowAllowance) escrowAllowance = fresh.escrowAllowance;
        }
        funds.set(key, { balance, escrowAllowance });
      }),
    );
    return funds;
  }

  /**
   * Throws PAYER_INSUFFICIENT_BALANCE or PAYER_ALLOWANCE_MISSING if the pay `op`, with the payer's
   * pending debits (earlier operations of the same group included, once reserved), exceeds `funds`.
   * Synchronous, so that the check and the reservation of a group run without another group between them.
   */
  check(op: Operation, funds: GroupFunds | undefined): void {
    if (op.kind !== "pay" || !funds) return;
    const key = keyOf(op.terms.token, op.terms.payer);
    const available = funds.get(key);
    if (!available) return;
    const amount = BigInt(op.terms.amount);
    const meta = { payer: op.terms.payer, token: op.terms.token, amount: op.terms.amount.toString() };
    // The balance itself is not told: the refusal reaches whoever submitted the pay.
    if (available.balance < (this.pendingBalance.get(key) ?? 0n) + amount) throw refusal("PAYER_INSUFFICIENT_BALANCE", "api", `the payer's balance does not cover ${op.terms.amount} with its pending payments and redemptions`, meta);
    if (available.escrowAllowance < (this.pendingAllowance.get(key) ?? 0n) + amount) throw refusal("PAYER_ALLOWANCE_MISSING", "api", `the payer's allowance to the escrow does not cover ${op.terms.amount} with its pending payments`, meta);
  }

  private async read(tokenAddress: string, account: string): Promise<{ balance: bigint; escrowAllowance: bigint }> {
    this.freshReads += 1;
    const { provider } = this.modules;
    const [balance, allowance] = await Promise.all([
      provider.call({ to: tokenAddress, data: token.encodeFunctionData("balanceOf", [account]) }),
      provider.call({ to: tokenAddress, data: token.encodeFunctionData("allowance", [account, this.options.escrow]) }),
    ]);
    return { balance: BigInt(balance), escrowAllowance: BigInt(allowance) };
  }
}
