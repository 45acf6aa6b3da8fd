/**
 * The node's mirror of settlement token balances (`balances` keyspace): each account's balance and its
 * allowance to the escrow, as of the balance indexer's cursor (node/indexer/balances.ts). Validation
 * reads it to refuse on the API a pay its payer cannot fund (node/validation/funds.ts). A step's
 * accounts are written in one synced batch with the cursor, so the mirror is always the chain's state
 * at one block.
 *
 * | sublevel | key               | value          |
 * | -------- | ----------------- | -------------- |
 * | balances | token ! account   | AccountFunds   |
 * | meta     | "balances.cursor" | last block mirrored |
 */
import { SEP, type StorageContext, type WriteOp } from "./keyspaces.js";

const CURSOR_META = "balances.cursor";

/** An account's funds on one token, integers in decimal. */
export interface AccountFunds {
  balance: string;
  /** Its allowance to the escrow as last approved (the maximum uint256: unlimited). */
  escrowAllowance: string;
}

/** One account's funds after a step. */
export interface AccountFundsChange extends AccountFunds {
  token: string;
  account: string;
}

export const balanceKeys = {
  account: (token: string, account: string) => `${token.toLowerCase()}${SEP}${account.toLowerCase()}`,
};

const NONE: AccountFunds = { balance: "0", escrowAllowance: "0" };

/** The balance mirror on LevelDB; see the module comment. */
export class LevelBalanceRepository {
  constructor(private readonly ctx: StorageContext) {}

  /** The last block mirrored (undefined: none yet). */
  getCursor(): Promise<number | undefined> {
    return this.ctx.read(async () => {
      const value = await this.ctx.spaces.meta.get(CURSOR_META);
      return typeof value === "number" ? value : undefined;
    });
  }

  /** The funds of each (token, account), in order; an account never seen has none. */
  getMany(keys: readonly { token: string; account: string }[]): Promise<AccountFunds[]> {
    if (keys.length === 0) return Promise.resolve([]);
    return this.ctx.read(async () => {
      const values = (await this.ctx.spaces.balances.getMany(keys.map((k) => balanceKeys.account(k.token, k.account)))) as (AccountFunds | undefined)[];
      return values.map((value) => value ?? NONE);
    });
  }

  /** Stores a step's changed accounts and its cursor in one synced batch. */
  applyStep(changes: readonly AccountFundsChange[], cursor: number): Promise<void> {
    return this.ctx.write(async () => {
      const { spaces } = this.ctx;
      const writes: WriteOp[] = changes.map(({ token, account, balance, escrowAllowance }) => ({
        type: "put",
        sublevel: spaces.balances,
        key: balanceKeys.account(token, account),
        value: { balance, escrowAllowance } satisfies AccountFunds,
      }));
      writes.push({ type: "put", sublevel: spaces.meta, key: CURSOR_META, value: cursor });
      await this.ctx.commit(writes);
    });
  }
}
