/**
 * People who sign in to the node's API (regulators, operators) and their sessions, in the node's
 * local keyspaces (keyspaces.ts), over the shared user repository (core/auth/store.ts). Every change is one synced batch with its audit log entry, so a
 * sign-in, failure, lock-out or user change is never done without being logged nor logged undone.
 */
import { z } from "zod";

import { nodeUserRoleSchema } from "../../core/api/auth.js";
import { passwordHashSchema } from "../../core/auth/passwords.js";
import { sealedSecretSchema } from "../../core/auth/secrets.js";
import { LevelUserStore, type UserChange as StoreChange } from "../../core/auth/store.js";
import type { AuditAction, AuditEntry, AuditLog } from "../../core/audit/log.js";
import { SettlenetError } from "../../core/errors.js";
import type { StorageContext } from "./keyspaces.js";

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
  /** Disabled by an operator: no sign-in, no session, until enabled again. */
  disabledAtMs: z.number().int().nonnegative().optional(),
  disabledBy: z.string().optional(),
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
export type UserChange<T> = StoreChange<NodeUserRecord, T>;

/** Node users over the shared user repository (core/auth/store.ts); the node lists and removes by id or e-mail. */
export class LevelUserRepository extends LevelUserStore<NodeUserRecord, NodeSessionRecord> {
  constructor(ctx: StorageContext, audit: AuditLog) {
    const { users, usersByEmail, sessions } = ctx.spaces;
    super(ctx, { users, usersByEmail, sessions }, audit, { user: (v) => nodeUserRecordSchema.parse(v), session: (v) => nodeSessionRecordSchema.parse(v) });
  }

  list(): Promise<NodeUserRecord[]> {
    return this.ctx.read(async () => {
      const users: NodeUserRecord[] = [];
      for await (const value of this.spaces.users.values()) users.push(this.parse.user(value));
      return users;
    });
  }

  /** Stores a new user with its audit entry; NODE_USER_EXISTS if the e-mail address is taken. */
  create(user: NodeUserRecord, action: AuditAction): Promise<AuditEntry> {
    return this.insert(user, [], action, () => new SettlenetError("NODE_USER_EXISTS", `a user ${user.email} exists; remove it first`, { email: user.email }));
  }

  /** The user an id or e-mail names (inside a write section). */
  async named(idOrEmail: string): Promise<NodeUserRecord | undefined> {
    return idOrEmail.startsWith("usr_") ? this.userAt(idOrEmail) : this.userByEmail(idOrEmail);
  }

  /** Removes a user (by id or e-mail) and ends its sessions; NODE_USER_NOT_FOUND if there is none. */
  remove(idOrEmail: string, action: (user: NodeUserRecord) => AuditAction): Promise<NodeUserRecord> {
    return this.ctx.write(async () => {
      const user = await this.named(idOrEmail);
      if (!user) throw nodeUserNotFound(idOrEmail);
      const { writes } = await this.audit.prepare(action(user));
      await this.ctx.commit([...writes, ...(await this.sessionDeletes(user.id)), ...this.removalWrites(user)]);
      return user;
    });
  }
}

export const nodeUserNotFound = (idOrEmail: string) => new SettlenetError("NODE_USER_NOT_FOUND", `no user ${idOrEmail}`, { user: idOrEmail });
