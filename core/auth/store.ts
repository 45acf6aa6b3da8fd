/**
 * The LevelDB repository of people who sign in (gateway dashboard users, node users) and their
 * sessions: the keyspaces are the service's own (it names them once in its keyspaces.ts and passes
 * them in), the logic is this one. Each change is one synced batch with its audit entry; the checks a
 * change depends on (e-mail unique, the TOTP step not used before, the account not locked) are made
 * inside the same write section, so two requests racing cannot both pass them.
 */
import type { AuditAction, AuditEntry, AuditLog } from "../audit/log.js";
import type { StorageContext, Sublevel, WriteOp } from "../storage/level.js";
import type { PasswordHash } from "./passwords.js";
import type { SealedSecret } from "./secrets.js";

/** What every stored user has, whatever else its service keeps. */
export interface AuthUserRecord {
  id: string;
  /** Lower case; unique within the service. */
  email: string;
  /** scrypt hash (passwords.ts); absent until enrolled. */
  password?: PasswordHash | undefined;
  /** The base32 TOTP secret, sealed (secrets.ts) and bound to the user id; absent until enrolled. */
  totp?: SealedSecret | undefined;
  /** The TOTP step of the last accepted code: that code and earlier ones are refused. */
  totpLastStep?: number | undefined;
  /** Consecutive failed sign-ins since the last success or lock-out. */
  failures: number;
  lockedUntilMs?: number | undefined;
}

/** What every stored session has: its key is the SHA-256 of the cookie's token. */
export interface AuthSessionRecord {
  userId: string;
  createdAtMs: number;
  lastSeenMs: number;
  /** Absolute expiry, whatever the activity. */
  expiresAtMs: number;
}

/** The keyspaces a service gives its user repository. */
export interface UserKeyspaces {
  /** user id → user record */
  users: Sublevel;
  /** e-mail (lower case) → user id */
  usersByEmail: Sublevel;
  /** SHA-256 of a session token → session record */
  sessions: Sublevel;
  /** user id ! token hash → "" (without it, ending a user's sessions scans them all) */
  sessionsByUser?: Sublevel | undefined;
}

/** What a change to a user writes (LevelUserStore.change). */
export interface UserChange<U, T> {
  /** The user's new record (absent: unchanged). */
  next?: U;
  writes?: WriteOp[];
  audit?: AuditAction;
  result: T;
}

/** How stored values become records (a zod parse, or a plain cast where the service writes them itself). */
export interface UserParsers<U, S> {
  user(value: unknown): U;
  session(value: unknown): S;
}

const SEP = "!";
const byUserRange = (userId: string) => ({ gte: `${userId}${SEP}`, lt: `${userId}${SEP}\uffff` });

export class LevelUserStore<U extends AuthUserRecord, S extends AuthSessionRecord> {
  constructor(
    protected readonly ctx: Pick<StorageContext<never>, "read" | "write" | "commit">,
    protected readonly spaces: UserKeyspaces,
    protected readonly audit: AuditLog,
    protected readonly parse: UserParsers<U, S>,
  ) {}

  get(id: string): Promise<U | undefined> {
    return this.ctx.read(() => this.userAt(id));
  }

  byEmail(email: string): Promise<U | undefined> {
    return this.ctx.read(() => this.userByEmail(email));
  }

  /** The user an id or e-mail names (inside or outside a write section). */
  protected async userByEmail(email: string): Promise<U | undefined> {
    const id = (await this.spaces.usersByEmail.get(email.toLowerCase())) as string | undefined;
    return id === undefined ? undefined : this.userAt(id);
  }

  protected async userAt(id: string): Promise<U | undefined> {
    const value: unknown = await this.spaces.users.get(id);
    return value === undefined ? undefined : this.parse.user(value);
  }

  /**
   * Stores a new user with `extra` writes and its audit entry in one batch; `taken()` is thrown if
   * the e-mail address is in use, `check` runs first inside the same write section.
   */
  protected insert(user: U, extra: WriteOp[], action: AuditAction, taken: () => Error, check?: () => Promise<void>): Promise<AuditEntry> {
    return this.ctx.write(async () => {
      await check?.();
      if ((await this.spaces.usersByEmail.get(user.email)) !== undefined) throw taken();
      const { entry, writes } = await this.audit.prepare(action);
      await this.ctx.commit([
        { type: "put", sublevel: this.spaces.users, key: user.id, value: user },
        { type: "put", sublevel: this.spaces.usersByEmail, key: user.email, value: user.id },
        ...extra,
        ...writes,
      ]);
      return entry;
    });
  }

  /**
   * Changes one user in an exclusive write section: `fn` sees the stored record (undefined if gone)
   * and returns what to write; the user, the writes and the audit entry land in one synced batch.
   */
  change<T>(id: string, fn: (current: U | undefined) => Promise<UserChange<U, T>> | UserChange<U, T>): Promise<T> {
    return this.ctx.write(async () => {
      const change = await fn(await this.userAt(id));
      const writes: WriteOp[] = [...(change.writes ?? [])];
      if (change.next) writes.push({ type: "put", sublevel: this.spaces.users, key: id, value: change.next });
      if (change.audit) writes.push(...(await this.audit.prepare(change.audit)).writes);
      if (writes.length > 0) await this.ctx.commit(writes);
      return change.result;
    });
  }

  /** The deletes that remove a user and its e-mail index (inside a write section). */
  removalWrites(user: U): WriteOp[] {
    return [
      { type: "del", sublevel: this.spaces.users, key: user.id },
      { type: "del", sublevel: this.spaces.usersByEmail, key: user.email },
    ];
  }

  /** Appends an audit entry for an attempt that changes no user (an unknown e-mail, a locked account). */
  appendAudit(action: AuditAction): Promise<AuditEntry> {
    return this.audit.append(action);
  }

  getSession(hash: string): Promise<S | undefined> {
    return this.ctx.read(async () => {
      const value: unknown = await this.spaces.sessions.get(hash);
      return value === undefined ? undefined : this.parse.session(value);
    });
  }

  /** A new session's writes, to join a change's batch. */
  sessionWrites(hash: string, session: S): WriteOp[] {
    const { sessions, sessionsByUser } = this.spaces;
    return [
      { type: "put", sublevel: sessions, key: hash, value: session },
      ...(sessionsByUser ? [{ type: "put", sublevel: sessionsByUser, key: `${session.userId}${SEP}${hash}`, value: "" } as WriteOp] : []),
    ];
  }

  /** The deletes of every session of `userId` (read inside the caller's write section). */
  async sessionDeletes(userId: string): Promise<WriteOp[]> {
    const { sessions, sessionsByUser } = this.spaces;
    if (sessionsByUser) {
      const keys = await sessionsByUser.keys(byUserRange(userId)).all();
      return keys.flatMap((key) => [
        { type: "del", sublevel: sessionsByUser, key } as WriteOp,
        { type: "del", sublevel: sessions, key: key.slice(userId.length + 1) } as WriteOp,
      ]);
    }
    const deletes: WriteOp[] = [];
    for await (const [key, value] of sessions.iterator<string, unknown>({})) {
      if (this.parse.session(value).userId === userId) deletes.push({ type: "del", sublevel: sessions, key });
    }
    return deletes;
  }

  /** Records activity on a session (its idle expiry counts from here). */
  touchSession(hash: string, lastSeenMs: number): Promise<void> {
    return this.ctx.write(async () => {
      const value: unknown = await this.spaces.sessions.get(hash);
      if (value === undefined) return;
      await this.ctx.commit([{ type: "put", sublevel: this.spaces.sessions, key: hash, value: { ...this.parse.session(value), lastSeenMs } }]);
    });
  }

  /** Ends a session, with its audit entry if given (sign-out) or without (expiry found on use). */
  endSession(hash: string, action?: AuditAction): Promise<void> {
    return this.ctx.write(async () => {
      const value: unknown = await this.spaces.sessions.get(hash);
      if (value === undefined) return;
      const { sessions, sessionsByUser } = this.spaces;
      await this.ctx.commit([
        { type: "del", sublevel: sessions, key: hash },
        ...(sessionsByUser ? [{ type: "del", sublevel: sessionsByUser, key: `${this.parse.session(value).userId}${SEP}${hash}` } as WriteOp] : []),
        ...(action ? (await this.audit.prepare(action)).writes : []),
      ]);
    });
  }
}
