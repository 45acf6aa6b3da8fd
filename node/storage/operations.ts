/**
 * Operation pool repository: stored operations (`ops`), their indexes by payment and by status, and
 * the (signer, nonce) marks of operations that carry a nonce (`nonces`). Key layouts: keyspaces.ts.
 */
import { isDeepStrictEqual } from "node:util";

import type { ChangeDraft } from "../../core/api/changes.js";
import { operationStatusSchema } from "../../core/api/operations.js";
import { SettlenetError } from "../../core/errors.js";
import { disputeReasonMatches } from "../../core/operations/dispute.js";
import { descriptorOf, isTokenOperationKind } from "../../core/operations/index.js";
import type { OperationRepository } from "../services.js";
import { FINAL_OPERATION_STATUSES, type OperationStatus, type StoredOperation } from "../../core/records.js";
import type { LevelChangeLog } from "./changes.js";
import { SEP, pad, prefixRange, type Keyspace, type StorageContext, type Sublevel, type WriteOp } from "./keyspaces.js";

type Spaces = Readonly<Record<Keyspace, Sublevel>>;
type OperationPatch = Partial<Pick<StoredOperation, "status" | "txHash" | "execution" | "error">>;

/** Keys of the operation keyspaces; hex ids and addresses are lower-cased so lookups ignore case. */
export const operationKeys = {
  op: (id: string) => id.toLowerCase(),
  byPayment: (paymentId: string, id: string) => `${paymentId.toLowerCase()}${SEP}${id.toLowerCase()}`,
  byStatus: (status: OperationStatus, receivedAtMs: number, id: string) => `${status}${SEP}${pad(receivedAtMs, 16)}${SEP}${id.toLowerCase()}`,
  /** Escrow nonces: signer ! nonce. Each settlement token has its own nonce space: token ! signer ! nonce. */
  nonce: (signer: string, nonce: bigint, token?: string) =>
    `${token === undefined ? "" : `${token.toLowerCase()}${SEP}`}${signer.toLowerCase()}${SEP}${nonce.toString()}`,
};

/** The (signer, nonce) an operation consumes on-chain, if its kind uses one, and the token whose nonce space it is in. */
function nonceOf(op: StoredOperation): { signer: string; nonce: bigint; token?: string } | undefined {
  const descriptor = descriptorOf(op.op.kind);
  const consumesNonce = descriptor.contract === "token" || descriptor.consumesNonce;
  if (op.signer === null || !consumesNonce || !("nonce" in op.op)) return undefined;
  const token = descriptor.contract === "token" && "token" in op.op ? op.op.token : undefined;
  return { signer: op.signer, nonce: BigInt(op.op.nonce), ...(token !== undefined ? { token } : {}) };
}

/** One status change of `updateMany`. */
export interface OperationUpdate {
  id: string;
  patch: OperationPatch;
}

const isFinal = (status: OperationStatus) => FINAL_OPERATION_STATUSES.includes(status);

/**
 * The stored operation after `patch` and the writes that persist it (record plus status-index move,
 * and the change feed's record of a status change). A final status (executed, failed) never changes:
 * a patch that would leave one keeps the status and applies only its other fields, so a late relay
 * update cannot undo what the indexer saw on-chain. Call inside a write section.
 */
export function operationPatchWrites(
  spaces: Spaces,
  current: StoredOperation,
  patch: OperationPatch,
  nowMs: number,
  changes: LevelChangeLog,
): { next: StoredOperation; writes: WriteOp[] } {
  const status = patch.status !== undefined && !isFinal(current.status) ? patch.status : current.status;
  // A patch that changes nothing writes nothing: the relayer and the indexer each record an execution,
  // and whichever comes second finds it recorded already.
  const fields = Object.entries(patch).filter(([name]) => name !== "status") as [keyof StoredOperation, unknown][];
  if (status === current.status && fields.every(([name, value]) => isDeepStrictEqual(current[name], value))) return { next: current, writes: [] };
  const next: StoredOperation = { ...current, ...patch, status, updatedAtMs: nowMs };
  const writes: WriteOp[] = [{ type: "put", sublevel: spaces.ops, key: operationKeys.op(current.id), value: next }];
  if (status !== current.status) {
    writes.push(
      { type: "del", sublevel: spaces.opsByStatus, key: operationKeys.byStatus(current.status, current.receivedAtMs, current.id) },
      { type: "put", sublevel: spaces.opsByStatus, key: operationKeys.byStatus(status, current.receivedAtMs, current.id), value: "" },
      ...changes.append([operationChangeOf(next)], nowMs),
    );
  }
  return { next, writes };
}

/** The change feed's record of `op` now in its status. */
export function operationChangeOf(op: StoredOperation): ChangeDraft {
  return {
    type: "operation",
    id: op.id,
    kind: op.kind,
    paymentId: op.paymentId,
    status: op.status,
    ...(op.txHash !== undefined ? { txHash: op.txHash } : {}),
    ...(op.execution !== undefined ? { execution: op.execution } : {}),
    ...(op.error !== undefined ? { error: op.error } : {}),
  };
}

/** OperationRepository on LevelDB. */
export class LevelOperationRepository implements OperationRepository {
  constructor(
    private readonly ctx: StorageContext,
    private readonly changes: LevelChangeLog,
  ) {}

  private get spaces(): Spaces {
    return this.ctx.spaces;
  }

  get(id: string): Promise<StoredOperation | undefined> {
    return this.ctx.read(async () => (await this.spaces.ops.get(operationKeys.op(id))) as StoredOperation | undefined);
  }

  has(id: string): Promise<boolean> {
    return this.ctx.read(() => this.spaces.ops.has(operationKeys.op(id)));
  }

  /** Several operations by id, in order (undefined where unknown). */
  getMany(ids: string[]): Promise<(StoredOperation | undefined)[]> {
    if (ids.length === 0) return Promise.resolve([]);
    return this.ctx.read(async () => (await this.spaces.ops.getMany(ids.map(operationKeys.op))) as (StoredOperation | undefined)[]);
  }

  /**
   * Atomic, synced: the operations, their payment and status indexes and their (signer, nonce) marks,
   * and with `gossip` their gossip-outbox entries (this node must still publish them); the outbox
   * entries of `published` are removed in the same batch (as by `markPublished`).
   * Operations already stored are left as they are (storing again must not reset a later status),
   * except a failed release sent again, which starts over as accepted (its id is fixed per payment).
   */
  putAccepted(ops: StoredOperation[], options: { gossip?: boolean; published?: readonly string[] } = {}): Promise<void> {
    return this.ctx.write(async () => {
      const unique = [...new Map(ops.map((op) => [operationKeys.op(op.id), op])).values()];
      if (unique.length === 0) return;
      const present = await this.spaces.ops.hasMany(unique.map((op) => operationKeys.op(op.id)));
      const writes: WriteOp[] = [];
      const accepted: ChangeDraft[] = [];
      const again = unique.filter((op, i) => present[i] && op.kind === "release");
      const failed = new Map<string, StoredOperation>();
      if (again.length > 0) {
        const stored = (await this.spaces.ops.getMany(again.map((op) => operationKeys.op(op.id)))) as (StoredOperation | undefined)[];
        for (const record of stored) if (record?.status === "failed") failed.set(record.id, record);
      }
      unique.forEach((op, i) => {
        const retried = failed.get(op.id);
        if (present[i] && !retried) return;
        if (retried) writes.push({ type: "del", sublevel: this.spaces.opsByStatus, key: operationKeys.byStatus(retried.status, retried.receivedAtMs, retried.id) });
        accepted.push(operationChangeOf(op));
        writes.push(
          { type: "put", sublevel: this.spaces.ops, key: operationKeys.op(op.id), value: op },
          { type: "put", sublevel: this.spaces.opsByStatus, key: operationKeys.byStatus(op.status, op.receivedAtMs, op.id), value: "" },
        );
        // Token operations belong to no payment.
        if (!isTokenOperationKind(op.kind)) {
          writes.push({ type: "put", sublevel: this.spaces.opsByPayment, key: operationKeys.byPayment(op.paymentId, op.id), value: "" });
        }
        const mark = nonceOf(op);
        if (mark) writes.push({ type: "put", sublevel: this.spaces.nonces, key: operationKeys.nonce(mark.signer, mark.nonce, mark.token), value: op.id });
        if (options.gossip) writes.push({ type: "put", sublevel: this.spaces.gossipOutbox, key: operationKeys.op(op.id), value: "" });
      });
      writes.push(...this.changes.append(accepted, Date.now()));
      for (const id of options.published ?? []) writes.push({ type: "del", sublevel: this.spaces.gossipOutbox, key: operationKeys.op(id) });
      await this.ctx.commit(writes);
    });
  }

  /** Atomic, synced status change (moves the status index); NOT_FOUND for an unknown id. */
  update(id: string, patch: OperationPatch): Promise<StoredOperation> {
    return this.ctx.write(async () => {
      const current = (await this.spaces.ops.get(operationKeys.op(id))) as StoredOperation | undefined;
      if (!current) throw new SettlenetError("NOT_FOUND", "no stored operation with this id", { id });
      const { next, writes } = operationPatchWrites(this.spaces, current, patch, Date.now(), this.changes);
      await this.ctx.commit(writes);
      return next;
    });
  }

  attachReasonText(id: string, text: string): Promise<boolean> {
    return this.ctx.write(async () => {
      const current = (await this.spaces.ops.get(operationKeys.op(id))) as StoredOperation | undefined;
      if (current?.op.kind !== "dispute" || current.op.reasonText !== undefined || !disputeReasonMatches(text, current.op.reason)) return false;
      const next: StoredOperation = { ...current, op: { ...current.op, reasonText: text }, updatedAtMs: Date.now() };
      await this.ctx.commit([{ type: "put", sublevel: this.spaces.ops, key: operationKeys.op(id), value: next }]);
      return true;
    });
  }

  /**
   * Many status changes in one atomic, synced batch (the relayer records a whole mined batch at once).
   * Unknown ids are NOT_FOUND and nothing is written; several changes of one id apply in order.
   */
  updateMany(updates: OperationUpdate[]): Promise<StoredOperation[]> {
    return this.ctx.write(async () => {
      if (updates.length === 0) return [];
      const keys = [...new Set(updates.map((update) => operationKeys.op(update.id)))];
      const stored = (await this.spaces.ops.getMany(keys)) as (StoredOperation | undefined)[];
      const current = new Map<string, StoredOperation>();
      keys.forEach((key, i) => {
        const op = stored[i];
        if (!op) throw new SettlenetError("NOT_FOUND", "no stored operation with this id", { id: key });
        current.set(key, op);
      });
      const now = Date.now();
      // A LevelDB batch applies in order, so a key written twice (a status-index entry put by one change
      // and deleted by the next) ends as the last write left it.
      const writes: WriteOp[] = [];
      const results: StoredOperation[] = [];
      for (const { id, patch } of updates) {
        const key = operationKeys.op(id);
        const before = current.get(key) as StoredOperation;
        const { next, writes: opWrites } = operationPatchWrites(this.spaces, before, patch, now, this.changes);
        current.set(key, next);
        results.push(next);
        writes.push(...opWrites);
      }
      await this.ctx.commit(writes);
      return results;
    });
  }

  /** Up to `limit` operations in `status`, oldest received first. */
  listByStatus(status: OperationStatus, limit: number): Promise<StoredOperation[]> {
    return this.ctx.read(async () => {
      if (!Number.isInteger(limit) || limit < 0) throw new SettlenetError("INVALID_ARGUMENT", "limit must be a non-negative integer", { limit });
      if (limit === 0) return [];
      const keys = await this.spaces.opsByStatus.keys({ ...prefixRange(`${status}${SEP}`), limit }).all();
      return this.resolve(keys.map((key) => key.slice(key.lastIndexOf(SEP) + 1)));
    });
  }

  /**
   * Up to `limit` operations in `status` received before `beforeMs`, oldest first, as id and receipt
   * time: keys of the status index only, so the work is bounded by `limit` whatever the pool's size.
   */
  listReceivedBefore(status: OperationStatus, beforeMs: number, limit: number): Promise<{ id: string; receivedAtMs: number }[]> {
    return this.ctx.read(async () => {
      if (!Number.isInteger(limit) || limit < 0) throw new SettlenetError("INVALID_ARGUMENT", "limit must be a non-negative integer", { limit });
      if (limit === 0) return [];
      const gte = `${status}${SEP}`;
      const keys = await this.spaces.opsByStatus.keys({ gte, lt: `${gte}${pad(Math.max(0, Math.floor(beforeMs)), 16)}`, limit }).all();
      return keys.map((key) => {
        const [, at, id] = key.split(SEP) as [string, string, string];
        return { id, receivedAtMs: Number(at) };
      });
    });
  }

  /** Up to `limit` operations in the gossip outbox (stored with `gossip`, not yet marked published). */
  listUnpublished(limit: number): Promise<StoredOperation[]> {
    return this.ctx.read(async () => {
      if (!Number.isInteger(limit) || limit < 0) throw new SettlenetError("INVALID_ARGUMENT", "limit must be a non-negative integer", { limit });
      if (limit === 0) return [];
      return this.resolve(await this.spaces.gossipOutbox.keys({ limit }).all());
    });
  }

  /** Takes operations out of the gossip outbox (they were handed to the gossip network). */
  markPublished(ids: string[]): Promise<void> {
    if (ids.length === 0) return Promise.resolve();
    return this.ctx.write(() => this.ctx.commit(ids.map((id) => ({ type: "del" as const, sublevel: this.spaces.gossipOutbox, key: operationKeys.op(id) }))));
  }

  /** Every stored operation of a payment, oldest received first. */
  listByPayment(paymentId: string): Promise<StoredOperation[]> {
    return this.ctx.read(async () => {
      const prefix = `${paymentId.toLowerCase()}${SEP}`;
      const keys = await this.spaces.opsByPayment.keys(prefixRange(prefix)).all();
      const ops = await this.resolve(keys.map((key) => key.slice(prefix.length)));
      return ops.sort((a, b) => a.receivedAtMs - b.receivedAtMs);
    });
  }

  /**
   * Calls `visit` with every stored operation received at or after `sinceMs` (of `statuses`: all by default), status by status in
   * pages of `pageSize`, so memory stays bounded whatever their number. An operation whose status
   * changes during the walk may be visited twice or not at all: walk before anything writes.
   */
  async forEachReceivedSince(sinceMs: number, visit: (op: StoredOperation) => void, pageSize = 500, statuses: readonly OperationStatus[] = operationStatusSchema.options): Promise<void> {
    for (const status of statuses) {
      const { lt } = prefixRange(`${status}${SEP}`);
      let gte = operationKeys.byStatus(status, sinceMs, "");
      for (;;) {
        const page = await this.ctx.read(async () => {
          const keys = await this.spaces.opsByStatus.keys({ gte, lt, limit: pageSize }).all();
          return { keys, ops: await this.resolve(keys.map((key) => key.slice(key.lastIndexOf(SEP) + 1))) };
        });
        for (const op of page.ops) visit(op);
        const last = page.keys.at(-1);
        if (last === undefined || page.keys.length < pageSize) break;
        // The smallest key after `last`.
        gte = `${last}\u0000`;
      }
    }
  }

  /** True if (signer, nonce) was already used by a stored operation (in `token`'s nonce space for token operations). */
  nonceSeen(signer: string, nonce: bigint, token?: string): Promise<boolean> {
    return this.ctx.read(() => this.spaces.nonces.has(operationKeys.nonce(signer, nonce, token)));
  }

  private async resolve(ids: string[]): Promise<StoredOperation[]> {
    if (ids.length === 0) return [];
    const ops = (await this.spaces.ops.getMany(ids)) as (StoredOperation | undefined)[];
    return ops.filter((op): op is StoredOperation => op !== undefined);
  }
}
