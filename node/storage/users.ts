/**
 * People who sign in to the node's API (regulators, operators) and their sessions, in the node's
 * local keyspaces (keyspaces.ts). Every change is one synced batch with its audit log entry, so a
 * sign-in, failure, lock-out or user change is never done without being logged nor logged undone.
 */
import { z } from "zod";

import { nodeUserRoleSchema } from "../../core/api/auth.js";
import { passwordHashSchema } from "../../core/auth/passwords.js";
import { sealedSecretSchema } from "../../core/auth/secrets.js";
import type { AuditAction, AuditEntry, AuditLog } from "../../core/audit/log.js";
import { SettlenetError } from "../../core/errors.js";
import type { StorageContext, WriteOp } from "./keyspaces.js";

export const nodeUserRecordSchema = z.strictObject({
  id: z.string().regex(/^usr_[0-9a-f]{24}$/),
  email: z.string().min(3).max(254),
  role: nodeUserRoleSchema,
  password: passwordHashSchema,
  /** The TOTP secret, sealed under the node's user-secrets key (bound to the user id). */
  totp: sealedSecretSchema,
  /** The last TOTP step accepted: a code is good for one sign-in. */
  totpLastStep: z.number().int().nonnegative().optional(),
  /** Failed sign-ins in a row. */
  failures: z.number().int().nonnegative(),
  lockedUntilMs: z.number().int().nonnegative().optional(),
  createdAtMs: z.number().int().nonnegative(),
  createdBy: z.string(),
});
export type NodeUserRecord = z.infer<typeof nodeUserRecordSchema>;

export const nodeSessionRecordSchema = z.strictObject({
  userId: z.string(),
  createdAtMs: z.number().int().nonnegative(),
  lastSeenMs: z.number().int().nonnegative(),
  expiresAtMs: z.number().int().nonnegative(),
});
export type NodeSessionRecord = z.infer<typeof nodeSessionRecordSchema>;

/** What a change of one user writes besides the user itself. */
export interface UserChange<T> {
  /** The user's new record (absent: unchanged). */
  next?: NodeUserRecord;
  writes?: WriteOp[];
  audit?: AuditAction;
  result: T;
}

export class LevelUserRepository {
  constructor(
    private readonly ctx: StorageContext,
    private readonly audit: AuditLog,
  ) {}

  private get spaces() {
    return this.ctx.spaces;
  }

  get(id: string): Promise<NodeUserRecord | undefined> {
    return this.ctx.read(async () => this.parse(await this.spaces.users.get(id)));
  }

  byEmail(email: string): Promise<NodeUserRecord | undefined> {
    return this.ctx.read(async () => {
      const id = (await this.spaces.usersByEmail.get(email.toLowerCase())) as string | undefined;
      return id === undefined ? undefined : this.parse(await this.spaces.users.get(id));
    });
  }

  list(): Promise<NodeUserRecord[]> {
    return this.ctx.read(async () => {
      const users: NodeUserRecord[] = [];
      for await (const value of this.spaces.users.values()) users.push(nodeUserRecordSchema.parse(value));
      return users;
    });
  }

  /** Stores a new user with its audit entry; NODE_USER_EXISTS if the e-mail address is taken. */
  create(user: NodeUserRecord, action: AuditAction): Promise<AuditEntry> {
    return this.ctx.write(async () => {
      if ((await this.spaces.usersByEmail.get(user.email)) !== undefined) {
        throw new SettlenetError("NODE_USER_EXISTS", `a user ${user.email} exists; remove it first`, { email: user.email });
      }
      const { entry, writes } = await this.audit.prepare(action);
      await this.ctx.commit([
        ...writes,
        { type: "put", sublevel: this.spaces.users, key: user.id, value: user },
        {
          type: "put",
          sublevel: this.spaces.usersByEmail,
          key: user.email,
          value: user.id,
        },
      ]);
      return entry;
    });
  }

  /** Removes a user (by id or e-mail) and ends its sessions; NODE_USER_NOT_FOUND if there is none. */
  remove(idOrEmail: string, action: (user: NodeUserRecord) => AuditAction): Promise<NodeUserRecord> {
    return this.ctx.write(async () => {
      const id = idOrEmail.startsWith("usr_") ? idOrEmail : ((await this.spaces.usersByEmail.get(idOrEmail.toLowerCase())) as string | undefined);
      const user = id === undefined ? undefined : this.parse(await this.spaces.users.get(id));
      if (!user) throw new SettlenetError("NODE_USER_NOT_FOUND", `no user ${idOrEmail}`, { user: idOrEmail });
      const { writes } = await this.audit.prepare(action(user));
      await this.ctx.commit([
        ...writes,
        ...(await this.sessionDeletes(user.id)),
        { type: "del", sublevel: this.spaces.users, key: user.id },
        { type: "del", sublevel: this.spaces.usersByEmail, key: user.email },
      ]);
      return user;
    });
  }

  /**
   * Changes one user in an exclusive write section: `fn` sees the stored record (undefined if gone)
   * and returns what to write; the user, the writes and the audit entry land in one synced batch.
   */
  change<T>(id: string, fn: (current: NodeUserRecord | undefined) => Promise<UserChange<T>>): Promise<T> {
    return this.ctx.write(async () => {
      const current = this.parse(await this.spaces.users.get(id));
      const change = await fn(current);
      const writes: WriteOp[] = [...(change.writes ?? [])];
      if (change.next)
        writes.push({
          type: "put",
          sublevel: this.spaces.users,
          key: change.next.id,
          value: change.next,
        });
      if (change.audit) writes.push(...(await this.audit.prepare(change.audit)).writes);
      if (writes.length > 0) await this.ctx.commit(writes);
      return change.result;
    });
  }

  /** Appends an audit entry for an attempt that changes no user (an unknown e-mail, a locked account). */
  appendAudit(action: AuditAction): Promise<AuditEntry> {
    return this.audit.append(action);
  }

  getSession(hash: string): Promise<NodeSessionRecord | undefined> {
    return this.ctx.read(async () => {
      const value: unknown = await this.spaces.sessions.get(hash);
      return value === undefined ? undefined : nodeSessionRecordSchema.parse(value);
    });
  }

  sessionWrites(hash: string, session: NodeSessionRecord): WriteOp[] {
    return [
      {
        type: "put",
        sublevel: this.spaces.sessions,
        key: hash,
        value: session,
      },
    ];
  }

  /** Deletes of every session of `userId` (read inside the caller's write section). */
  async sessionDeletes(userId: string): Promise<WriteOp[]> {
    const deletes: WriteOp[] = [];
    for await (const [key, value] of this.spaces.sessions.iterator<string, unknown>({})) {
      if ((value as { userId?: string }).userId === userId) deletes.push({ type: "del", sublevel: this.spaces.sessions, key });
    }
    return deletes;
  }

  /** Records activity on a session (idle expiry counts from here). */
  touchSession(hash: string, nowMs: number): Promise<void> {
    return this.ctx.write(async () => {
      const current: unknown = await this.spaces.sessions.get(hash);
      if (current === undefined) return;
      await this.ctx.commit([
        {
          type: "put",
          sublevel: this.spaces.sessions,
          key: hash,
          value: {
            ...nodeSessionRecordSchema.parse(current),
            lastSeenMs: nowMs,
          },
        },
      ]);
    });
  }

  /** Ends a session, with its audit entry if given (sign-out) or without (expiry found on use). */
  endSession(hash: string, action?: AuditAction): Promise<void> {
    return this.ctx.write(async () => {
      const writes: WriteOp[] = [{ type: "del", sublevel: this.spaces.sessions, key: hash }];
      if (action) writes.push(...(await this.audit.prepare(action)).writes);
      await this.ctx.commit(writes);
    });
  }

  private parse(value: unknown): NodeUserRecord | undefined {
    return value === undefined ? undefined : nodeUserRecordSchema.parse(value);
  }
}
