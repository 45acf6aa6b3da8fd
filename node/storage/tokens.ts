/**
 * Token repository: what the token indexer builds from SettlementToken events — per token its supply,
 * each custodian's outstanding supply and latest reserve attestation, the frozen accounts, and the
 * event history — plus its cursor. One indexing step is one atomic, synced batch together with the
 * operation status changes it implies. Key layouts: keyspaces.ts.
 */
import type { z } from "zod";

import type { custodianRecordSchema, frozenAccountSchema, tokenEventSchema } from "../../core/api/tokens.js";
import { SettlenetError } from "../../core/errors.js";
import type { OperationFailure, StoredOperation } from "../../core/records.js";
import type { StorageContext, WriteOp } from "./keyspaces.js";
import { SEP, pad, prefixRange } from "./keyspaces.js";
import type { LevelChangeLog } from "./changes.js";
import { operationPatchWrites } from "./operations.js";

/** A custodian institution of a token, as its events describe it. Money as decimal strings. */
export type CustodianRecord = z.infer<typeof custodianRecordSchema>;

/** A settlement token as indexed from its events. */
export interface TokenRecord {
  token: string;
  /** Sum of mints less burns. */
  totalSupply: string;
  custodians: Record<string, CustodianRecord>;
  /** Latest attestation of any custodian (unix seconds; 0 = none). */
  latestAttestationAt: number;
  frozenAccounts: number;
  updatedBlock: number;
}

/** A frozen account (removed again when unfrozen). */
export type FrozenAccountRecord = z.infer<typeof frozenAccountSchema>;

/** One token event, for the audit trail. */
export type TokenEventRecord = z.infer<typeof tokenEventSchema>;

/** What one token indexing step writes, atomically. */
export interface TokenIndexBatch {
  tokens: TokenRecord[];
  /** Freeze changes: a record to store, or null to remove (unfrozen). */
  frozen: { token: string; account: string; record: FrozenAccountRecord | null }[];
  events: TokenEventRecord[];
  operations: { id: string; status: "executed" | "failed"; execution?: StoredOperation["execution"]; error?: OperationFailure }[];
  cursor: number;
}

/** Reads of the token index. */
export interface TokenRepository {
  get(token: string): Promise<TokenRecord | undefined>;
  frozenAccount(token: string, account: string): Promise<FrozenAccountRecord | undefined>;
  /** Frozen accounts of `token` in address order, up to `limit`. */
  listFrozen(token: string, limit: number): Promise<FrozenAccountRecord[]>;
  /** The newest `limit` events of `token`, newest first. */
  listEvents(token: string, limit: number): Promise<TokenEventRecord[]>;
  /** Last block fully token-indexed, or undefined before the first step. */
  getCursor(): Promise<number | undefined>;
  applyIndexBatch(batch: TokenIndexBatch): Promise<void>;
}

const CURSOR_META = "tokens.cursor";

export const tokenKeys = {
  token: (token: string) => token.toLowerCase(),
  frozen: (token: string, account: string) => `${token.toLowerCase()}${SEP}${account.toLowerCase()}`,
  event: (token: string, blockNumber: number, logIndex: number) => `${token.toLowerCase()}${SEP}${pad(blockNumber, 12)}${SEP}${pad(logIndex, 6)}`,
};

/** TokenRepository on LevelDB (the node database's token keyspaces). */
export class LevelTokenRepository implements TokenRepository {
  constructor(
    private readonly ctx: StorageContext,
    private readonly changes: LevelChangeLog,
  ) {}

  get(token: string): Promise<TokenRecord | undefined> {
    return this.ctx.read(async () => (await this.ctx.spaces.tokens.get(tokenKeys.token(token))) as TokenRecord | undefined);
  }

  frozenAccount(token: string, account: string): Promise<FrozenAccountRecord | undefined> {
    return this.ctx.read(async () => (await this.ctx.spaces.tokenFrozen.get(tokenKeys.frozen(token, account))) as FrozenAccountRecord | undefined);
  }

  listFrozen(token: string, limit: number): Promise<FrozenAccountRecord[]> {
    return this.ctx.read(async () => {
      checkLimit(limit);
      return (await this.ctx.spaces.tokenFrozen.values({ ...prefixRange(`${token.toLowerCase()}${SEP}`), limit }).all()) as FrozenAccountRecord[];
    });
  }

  listEvents(token: string, limit: number): Promise<TokenEventRecord[]> {
    return this.ctx.read(async () => {
      checkLimit(limit);
      return (await this.ctx.spaces.tokenEvents.values({ ...prefixRange(`${token.toLowerCase()}${SEP}`), limit, reverse: true }).all()) as TokenEventRecord[];
    });
  }

  getCursor(): Promise<number | undefined> {
    return this.ctx.read(async () => {
      const value = await this.ctx.spaces.meta.get(CURSOR_META);
      return typeof value === "number" ? value : undefined;
    });
  }

  applyIndexBatch(batch: TokenIndexBatch): Promise<void> {
    return this.ctx.write(async () => {
      const { spaces } = this.ctx;
      const writes: WriteOp[] = [];
      for (const record of batch.tokens) writes.push({ type: "put", sublevel: spaces.tokens, key: tokenKeys.token(record.token), value: record });
      for (const { token, account, record } of batch.frozen) {
        const key = tokenKeys.frozen(token, account);
        writes.push(record ? { type: "put", sublevel: spaces.tokenFrozen, key, value: record } : { type: "del", sublevel: spaces.tokenFrozen, key });
      }
      for (const event of batch.events) {
        writes.push({ type: "put", sublevel: spaces.tokenEvents, key: tokenKeys.event(event.token, event.blockNumber, event.logIndex), value: event });
      }
      const ids = [...new Set(batch.operations.map((change) => change.id.toLowerCase()))];
      const stored = ids.length === 0 ? [] : ((await spaces.ops.getMany(ids)) as (StoredOperation | undefined)[]);
      const now = Date.now();
      const byId = new Map(batch.operations.map((change) => [change.id.toLowerCase(), change]));
      for (const current of stored) {
        const change = current && byId.get(current.id.toLowerCase());
        if (!current || !change) continue;
        const patch = { status: change.status, ...(change.execution ? { execution: change.execution } : {}), ...(change.error ? { error: change.error } : {}) };
        writes.push(...operationPatchWrites(spaces, current, patch, now, this.changes).writes);
      }
      writes.push({ type: "put", sublevel: spaces.meta, key: CURSOR_META, value: batch.cursor });
      await this.ctx.commit(writes);
    });
  }
}

function checkLimit(limit: number): void {
  if (!Number.isInteger(limit) || limit < 1) throw new SettlenetError("INVALID_ARGUMENT", "limit must be a positive integer", { limit });
}
