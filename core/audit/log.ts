/**
 * A hash-chained log of admin, compliance and backup actions, kept in one LevelDB keyspace of the
 * process that performs them (node or gateway).
 *
 * Each entry carries its sequence number, the previous entry's hash and its own hash (SHA-256 of the
 * entry's canonical JSON without `hash`), so removing, reordering or editing any entry breaks the
 * chain at that point, and truncating the tail is caught by the stored head. `verify` walks the whole
 * chain. An action's own writes and its log entry go into the same synced batch (`prepare` inside the
 * caller's write section), so an action is never done without its entry nor logged without being done.
 *
 * Key layout in the keyspace: `e!<seq, 16 digits>` → AuditEntry; `head` → { seq, hash }.
 */
import { createHash } from "node:crypto";

import { z } from "zod";

import { SettlenetError } from "../errors.js";
import type { StorageContext, Sublevel, WriteOp } from "../storage/level.js";

/** The hash before the first entry. */
export const GENESIS_HASH = "0".repeat(64);
const SEQ_WIDTH = 16;
const HEAD_KEY = "head";
const entryKey = (seq: number) => `e!${String(seq).padStart(SEQ_WIDTH, "0")}`;

/** JSON-safe details of an action (no bigint: money as decimal strings). */
export type AuditDetails = { [key: string]: string | number | boolean | null | string[] };

/** What the caller says about an action. */
export interface AuditAction {
  /** Who acted: a credential id, user name or key address, as authenticated (never free text from the request). */
  actor: string;
  /** The role the actor acted in (e.g. "operator", "regulator", "admin"). */
  role: string;
  /** What was done, dotted (e.g. "alert.acknowledge", "backup.download", "apiKey.revoke"). */
  action: string;
  /** What it was done to (an alert id, a merchant id, …). */
  target?: string;
  details?: AuditDetails;
}

export interface AuditEntry extends AuditAction {
  seq: number;
  atMs: number;
  prevHash: string;
  hash: string;
}

const entrySchema = z
  .object({
    seq: z.number().int().positive(),
    atMs: z.number().int().nonnegative(),
    prevHash: z.string().regex(/^[0-9a-f]{64}$/),
    hash: z.string().regex(/^[0-9a-f]{64}$/),
    actor: z.string().min(1),
    role: z.string().min(1),
    action: z.string().min(1),
    target: z.string().optional(),
    details: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null(), z.array(z.string())])).optional(),
  })
  .strict();

const headSchema = z.object({ seq: z.number().int().nonnegative(), hash: z.string() }).strict();

/** JSON with object keys sorted at every level: one text per value, whatever the insertion order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/** The hash an entry must carry: SHA-256 over its canonical JSON without `hash`. */
export function entryHash(entry: Omit<AuditEntry, "hash">): string {
  return createHash("sha256").update(canonicalJson(entry)).digest("hex");
}

/** Outcome of walking the chain. */
export type AuditVerification =
  | { ok: true; entries: number; head: string }
  | { ok: false; entries: number; brokenAt: number; reason: string };

export interface AuditPage {
  entries: AuditEntry[];
  /** Pass as `after` for the next page; absent on the last page. */
  next?: number;
}

/** The audit log over one keyspace (see the module comment). */
export class AuditLog {
  constructor(
    private readonly ctx: StorageContext<string>,
    private readonly space: Sublevel,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * The entry for `action` and the writes that append it. Call inside the caller's `ctx.write`
   * section and commit the writes with the action's own, so both land in one synced batch.
   */
  async prepare(action: AuditAction): Promise<{ entry: AuditEntry; writes: WriteOp[] }> {
    const head = headSchema.parse((await this.space.get(HEAD_KEY)) ?? { seq: 0, hash: GENESIS_HASH });
    const body: Omit<AuditEntry, "hash"> = {
      seq: head.seq + 1,
      atMs: this.now(),
      prevHash: head.hash,
      actor: action.actor,
      role: action.role,
      action: action.action,
      ...(action.target === undefined ? {} : { target: action.target }),
      ...(action.details === undefined ? {} : { details: action.details }),
    };
    const entry: AuditEntry = { ...body, hash: entryHash(body) };
    return {
      entry,
      writes: [
        { type: "put", sublevel: this.space, key: entryKey(entry.seq), value: entry },
        { type: "put", sublevel: this.space, key: HEAD_KEY, value: { seq: entry.seq, hash: entry.hash } },
      ],
    };
  }

  /** Appends an entry on its own (for actions with no writes of their own, such as a backup download). */
  append(action: AuditAction): Promise<AuditEntry> {
    return this.ctx.write(async () => {
      const { entry, writes } = await this.prepare(action);
      await this.ctx.commit(writes);
      return entry;
    });
  }

  /** Entries in order, after sequence number `after`. */
  list(options: { after?: number; limit: number }): Promise<AuditPage> {
    return this.ctx.read(async () => {
      const entries: AuditEntry[] = [];
      const gt = entryKey(options.after ?? 0);
      for await (const value of this.space.values({ gt, lt: "e!~", limit: options.limit + 1 })) entries.push(value as AuditEntry);
      const more = entries.length > options.limit;
      if (more) entries.pop();
      const last = entries.at(-1);
      return more && last ? { entries, next: last.seq } : { entries };
    });
  }

  /** Walks the whole chain: consecutive sequence numbers, each link and hash, and the stored head. */
  verify(): Promise<AuditVerification> {
    return this.ctx.read(async () => {
      const walk = new AuditChainWalk();
      for await (const raw of this.space.values({ gt: "e!", lt: "e!~" })) {
        const broken = walk.next(raw);
        if (broken) return broken;
      }
      return walk.end((await this.space.get(HEAD_KEY)) ?? { seq: 0, hash: GENESIS_HASH });
    });
  }

  /** The stored head (sequence number and hash of the last entry). */
  head(): Promise<{ seq: number; hash: string }> {
    return this.ctx.read(async () => headSchema.parse((await this.space.get(HEAD_KEY)) ?? { seq: 0, hash: GENESIS_HASH }));
  }

  /** Like `verify`, but throws `AUDIT_LOG_BROKEN` naming where the chain breaks. */
  async assertIntact(): Promise<{ entries: number; head: string }> {
    const result = await this.verify();
    if (!result.ok) throw new SettlenetError("AUDIT_LOG_BROKEN", `audit log broken at entry ${result.brokenAt}: ${result.reason}`, { brokenAt: result.brokenAt });
    return { entries: result.entries, head: result.head };
  }
}

/**
 * Checks a log entry by entry, in order (from the store, or from the pages of a node's API): each
 * entry well-formed, numbered after the one before, linked to it and hashing to its `hash`; `end`
 * checks the head against the last entry, so a cut-off tail is found too.
 */
export class AuditChainWalk {
  private expectedSeq = 1;
  private prev = GENESIS_HASH;

  /** Checks the next entry; the failure if the chain breaks there. */
  next(raw: unknown): Extract<AuditVerification, { ok: false }> | undefined {
    const expectedSeq = this.expectedSeq;
    const parsed = entrySchema.safeParse(raw);
    if (!parsed.success) return { ok: false, entries: expectedSeq - 1, brokenAt: expectedSeq, reason: "entry is malformed" };
    const entry = parsed.data as AuditEntry;
    if (entry.seq !== expectedSeq) return { ok: false, entries: expectedSeq - 1, brokenAt: expectedSeq, reason: `entry ${expectedSeq} is missing (found ${entry.seq})` };
    if (entry.prevHash !== this.prev) return { ok: false, entries: expectedSeq - 1, brokenAt: entry.seq, reason: "entry does not link to the one before it" };
    const { hash, ...body } = entry;
    if (entryHash(body) !== hash) return { ok: false, entries: expectedSeq - 1, brokenAt: entry.seq, reason: "entry was altered (hash differs)" };
    this.prev = hash;
    this.expectedSeq += 1;
    return undefined;
  }

  /** The outcome once every entry was given, against the log's stored head. */
  end(rawHead: unknown): AuditVerification {
    const count = this.expectedSeq - 1;
    const head = headSchema.safeParse(rawHead);
    if (!head.success) return { ok: false, entries: count, brokenAt: count + 1, reason: "head is malformed" };
    if (head.data.seq !== count || head.data.hash !== this.prev) {
      return { ok: false, entries: count, brokenAt: count + 1, reason: `log ends at entry ${count} but its head names entry ${head.data.seq}` };
    }
    return { ok: true, entries: count, head: this.prev };
  }
}
