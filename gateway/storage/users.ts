/**
 * Dashboard users, their sessions and invitations (key layouts: keyspaces.ts). Each change is one
 * synced batch with its audit entry; the checks a change depends on (e-mail unique, the TOTP step not
 * used before, the account not locked, a merchant keeping an owner) are made inside the same write
 * section, so two requests racing cannot both pass them.
 */
import type { AuditAction, AuditLog } from "../../core/audit/log.js";
import { SettlenetError } from "../../core/errors.js";
import type { InvitationRecord, SessionRecord, UserRecord } from "../domain/records.js";
import { SEP, prefixRange, type StorageContext, type WriteOp } from "./keyspaces.js";

/** What a change to a user writes (LevelUserRepository.change). */
export interface UserChange<T> {
  next?: UserRecord;
  writes?: WriteOp[];
  audit?: AuditAction;
  result: T;
}

export class LevelUserRepository {
  constructor(
    private readonly ctx: StorageContext,
    private readonly audit: AuditLog,
  ) {}

  get(id: string): Promise<UserRecord | undefined> {
    return this.ctx.read(async () => (await this.ctx.spaces.users.get(id)) as UserRecord | undefined);
  }

  byEmail(email: string): Promise<UserRecord | undefined> {
    return this.ctx.read(async () => {
      const id = (await this.ctx.spaces.usersByEmail.get(email)) as string | undefined;
      return id === undefined ? undefined : ((await this.ctx.spaces.users.get(id)) as UserRecord | undefined);
    });
  }

  listByMerchant(merchantId: string): Promise<UserRecord[]> {
    return this.ctx.read(async () => {
      const keys = await this.ctx.spaces.usersByMerchant.keys(prefixRange(`${merchantId}${SEP}`)).all();
      const users = await this.ctx.spaces.users.getMany(keys.map((k) => k.slice(merchantId.length + 1)));
      return users.filter((u): u is UserRecord => u !== undefined) as UserRecord[];
    });
  }

  /** Adds a user (with its invitation, if any); USER_EXISTS if the e-mail is taken. */
  create(user: UserRecord, invitation: { hash: string; record: InvitationRecord } | undefined, audit: AuditAction): Promise<void> {
    const { users, usersByEmail, usersByMerchant, merchants, invitations, invitationsByUser } = this.ctx.spaces;
    return this.ctx.write(async () => {
      if (!(await merchants.has(user.merchantId))) throw new SettlenetError("MERCHANT_NOT_FOUND", `no merchant ${user.merchantId}`, { merchantId: user.merchantId });
      if ((await usersByEmail.get(user.email)) !== undefined) throw new SettlenetError("USER_EXISTS", "a user with this e-mail address already exists", {});
      await this.ctx.commit([
        { type: "put", sublevel: users, key: user.id, value: user },
        { type: "put", sublevel: usersByEmail, key: user.email, value: user.id },
        { type: "put", sublevel: usersByMerchant, key: `${user.merchantId}${SEP}${user.id}`, value: "" },
        ...(invitation
          ? ([
              { type: "put", sublevel: invitations, key: invitation.hash, value: invitation.record },
              { type: "put", sublevel: invitationsByUser, key: user.id, value: invitation.hash },
            ] as WriteOp[])
          : []),
        ...(await this.audit.prepare(audit)).writes,
      ]);
    });
  }

  /**
   * Changes one user under the write lock: `change` gets the current record and returns the next one
   * (or none to change nothing), its audit entry and any other writes, or throws.
   */
  change<T>(userId: string, change: (current: UserRecord | undefined) => Promise<UserChange<T>> | UserChange<T>): Promise<T> {
    return this.ctx.write(async () => {
      const current = (await this.ctx.spaces.users.get(userId)) as UserRecord | undefined;
      const outcome = await change(current);
      const writes: WriteOp[] = [...(outcome.writes ?? [])];
      if (outcome.next) writes.push({ type: "put", sublevel: this.ctx.spaces.users, key: userId, value: outcome.next });
      if (outcome.audit) writes.push(...(await this.audit.prepare(outcome.audit)).writes);
      if (writes.length > 0) await this.ctx.commit(writes);
      return outcome.result;
    });
  }

  /** A session's write (put), to join a change's batch. */
  sessionWrites(hash: string, session: SessionRecord): WriteOp[] {
    return [
      { type: "put", sublevel: this.ctx.spaces.sessions, key: hash, value: session },
      { type: "put", sublevel: this.ctx.spaces.sessionsByUser, key: `${session.userId}${SEP}${hash}`, value: "" },
    ];
  }

  getSession(hash: string): Promise<SessionRecord | undefined> {
    return this.ctx.read(async () => (await this.ctx.spaces.sessions.get(hash)) as SessionRecord | undefined);
  }

  /** Records activity on a session (its idle expiry starts again). */
  touchSession(hash: string, lastSeenMs: number): Promise<void> {
    return this.ctx.write(async () => {
      const current = (await this.ctx.spaces.sessions.get(hash)) as SessionRecord | undefined;
      if (!current) return;
      await this.ctx.commit([{ type: "put", sublevel: this.ctx.spaces.sessions, key: hash, value: { ...current, lastSeenMs } }]);
    });
  }

  /** Ends a session (sign-out, expiry), with its audit entry if given. */
  endSession(hash: string, audit?: AuditAction): Promise<void> {
    return this.ctx.write(async () => {
      const current = (await this.ctx.spaces.sessions.get(hash)) as SessionRecord | undefined;
      if (!current) return;
      await this.ctx.commit([
        { type: "del", sublevel: this.ctx.spaces.sessions, key: hash },
        { type: "del", sublevel: this.ctx.spaces.sessionsByUser, key: `${current.userId}${SEP}${hash}` },
        ...(audit ? (await this.audit.prepare(audit)).writes : []),
      ]);
    });
  }

  /** The deletes of every session of a user (inside a write section). */
  async sessionDeletes(userId: string): Promise<WriteOp[]> {
    const keys = await this.ctx.spaces.sessionsByUser.keys(prefixRange(`${userId}${SEP}`)).all();
    return keys.flatMap((key) => [
      { type: "del", sublevel: this.ctx.spaces.sessionsByUser, key } as WriteOp,
      { type: "del", sublevel: this.ctx.spaces.sessions, key: key.slice(userId.length + 1) } as WriteOp,
    ]);
  }

  getInvitation(hash: string): Promise<InvitationRecord | undefined> {
    return this.ctx.read(() => this.invitation(hash));
  }

  /** The invitation a token hash names (inside a write section). */
  async invitation(hash: string): Promise<InvitationRecord | undefined> {
    return (await this.ctx.spaces.invitations.get(hash)) as InvitationRecord | undefined;
  }

  /** The deletes of a user's pending invitation (inside a write section). */
  async invitationDeletes(userId: string): Promise<WriteOp[]> {
    const hash = (await this.ctx.spaces.invitationsByUser.get(userId)) as string | undefined;
    if (hash === undefined) return [];
    return [
      { type: "del", sublevel: this.ctx.spaces.invitations, key: hash },
      { type: "del", sublevel: this.ctx.spaces.invitationsByUser, key: userId },
    ];
  }

  /** The deletes that remove a user and its indexes (inside a write section). */
  removalWrites(user: UserRecord): WriteOp[] {
    return [
      { type: "del", sublevel: this.ctx.spaces.users, key: user.id },
      { type: "del", sublevel: this.ctx.spaces.usersByEmail, key: user.email },
      { type: "del", sublevel: this.ctx.spaces.usersByMerchant, key: `${user.merchantId}${SEP}${user.id}` },
    ];
  }

  /** Active owners of a merchant other than `exceptUserId` (inside a write section). */
  async otherActiveOwners(merchantId: string, exceptUserId: string): Promise<number> {
    const keys = await this.ctx.spaces.usersByMerchant.keys(prefixRange(`${merchantId}${SEP}`)).all();
    const users = (await this.ctx.spaces.users.getMany(keys.map((k) => k.slice(merchantId.length + 1)))) as (UserRecord | undefined)[];
    return users.filter((u) => u && u.id !== exceptUserId && u.role === "owner" && u.status === "active").length;
  }

  /** Appends an audit entry on its own (a failed sign-in for an unknown e-mail changes nothing else). */
  appendAudit(audit: AuditAction): Promise<unknown> {
    return this.audit.append(audit);
  }
}
