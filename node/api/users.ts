/**
 * People who sign in to the node's API: regulators, operators and arbiters, each bound to one role and acting
 * with exactly that role's routes. A user has a scrypt password hash and a TOTP secret sealed under
 * the node's user-secrets key; a session is a random token in a cookie, stored only as its SHA-256.
 *
 * The sealing key is its own file (0600, beside the config, created on first use) rather than derived
 * from the operator keystore's password: changing that password must not lock every user out, the
 * `node user` commands must not need the operator's signing-key password, and a database backup does
 * not open the secrets without the file.
 *
 * Sign-in: an unknown e-mail, a wrong password and a wrong or reused code answer alike
 * (SIGNIN_FAILED) after the same scrypt work; `maxFailures` failures in a row lock the user for
 * `lockoutSeconds`, during which nothing is checked. Every sign-in, failure, lock-out, sign-out and
 * user change is in the audit log, in the batch of the change it records; no secret ever is.
 */
import { randomBytes } from "node:crypto";
import { mkdir, open, readFile } from "node:fs/promises";
import { dirname } from "node:path";

import { z } from "zod";

import { NODE_CSRF_LABEL, type NodeUserRole } from "../../core/api/auth.js";
import type { SessionView } from "../../core/api/session.js";
import { hashPassword, passwordSchema, verifyPassword } from "../../core/auth/passwords.js";
import { SecretBox } from "../../core/auth/secrets.js";
import { csrfTokenOf, isSessionToken, newSessionToken, tokenHash } from "../../core/auth/sessions.js";
import { newTotpSecret, otpauthUri, verifyTotp } from "../../core/auth/totp.js";
import type { AuditAction } from "../../core/audit/log.js";
import { SettlenetError } from "../../core/errors.js";
import type { LevelUserRepository, NodeSessionRecord, NodeUserRecord, UserChange } from "../storage/users.js";

/** Lock-out and session lifetimes (node.json `api.signIn`). */
export interface SignInOptions {
  maxFailures: number;
  lockoutSeconds: number;
  sessionIdleSeconds: number;
  sessionAbsoluteSeconds: number;
  /** Sign-in attempts per client address and window. */
  rateLimit: { max: number; timeWindowMs: number };
}

export interface UserModules {
  users: LevelUserRepository;
  secrets: SecretBox;
  now: () => number;
}

export const emailSchema = z
  .string()
  .max(254)
  .pipe(z.email("expected an e-mail address"))
  .transform((e) => e.toLowerCase());
export { passwordSchema };

const totpContext = (userId: string) => `node-user-totp:${userId}`;

/** Loads the user-secrets key, creating it (32 random bytes, mode 0600) if the file does not exist. */
export async function loadOrCreateUserSecrets(file: string): Promise<SecretBox> {
  try {
    return new SecretBox(await readFile(file));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") {
      if (error instanceof SettlenetError) throw new SettlenetError("USER_SECRETS_KEY_INVALID", `${file} does not hold a 32-byte key`, { file });
      throw error;
    }
  }
  await mkdir(dirname(file), { recursive: true });
  const key = randomBytes(32);
  try {
    const handle = await open(file, "wx", 0o600);
    try {
      await handle.writeFile(key);
      await handle.sync();
    } finally {
      await handle.close();
    }
    return new SecretBox(key);
  } catch (error) {
    // Another process created it first: use theirs.
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return new SecretBox(await readFile(file));
    throw error;
  }
}

/** A user as lists and answers show it (never its hash or secret). */
export function userView(user: NodeUserRecord) {
  return {
    id: user.id,
    email: user.email,
    role: user.role,
    createdAtMs: user.createdAtMs,
    createdBy: user.createdBy,
    ...(user.lockedUntilMs !== undefined ? { lockedUntilMs: user.lockedUntilMs } : {}),
  };
}

/** How the audit log names a user. */
export const userActorOf = (user: Pick<NodeUserRecord, "id" | "email">) => `user:${user.id}:${user.email}`;

/** Creates a user enrolled at once: the otpauth:// URI (holding the TOTP secret) is in this answer only. */
export async function createUser(input: { email: string; role: NodeUserRole; password: string }, by: string, modules: UserModules) {
  const parsed = z.strictObject({ email: emailSchema, password: passwordSchema }).safeParse({ email: input.email, password: input.password });
  if (!parsed.success) throw new SettlenetError("MALFORMED", parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "), {});
  const { email, password } = parsed.data;
  const id = `usr_${randomBytes(12).toString("hex")}`;
  const secret = newTotpSecret();
  const user: NodeUserRecord = {
    id,
    email,
    role: input.role,
    password: await hashPassword(password),
    totp: modules.secrets.seal(secret, totpContext(id)),
    failures: 0,
    createdAtMs: modules.now(),
    createdBy: by,
  };
  await modules.users.create(user, {
    actor: by,
    role: "operator",
    action: "user.create",
    target: id,
    details: { email, role: user.role },
  });
  return {
    user: userView(user),
    otpauthUri: otpauthUri(secret, email, "Settlenet node"),
  };
}

/** Removes a user by id or e-mail, ending its sessions. */
export async function removeUser(idOrEmail: string, by: string, modules: Pick<UserModules, "users">) {
  const removed = await modules.users.remove(idOrEmail, (user) => ({
    actor: by,
    role: "operator",
    action: "user.remove",
    target: user.id,
    details: { email: user.email, role: user.role },
  }));
  return userView(removed);
}

/** A new session: the token goes into the cookie and is stored only as its hash. */
export interface StartedSession {
  token: string;
  view: SessionView;
}

const signInFailed = () => new SettlenetError("SIGNIN_FAILED", "the e-mail address, password or code is not valid", {});
const locked = (untilMs: number, nowMs: number) =>
  new SettlenetError("SIGNIN_LOCKED", "too many failed sign-ins: the user is locked for now", { retryAfterSeconds: Math.max(1, Math.ceil((untilMs - nowMs) / 1000)) });
const ANONYMOUS = { actor: "anonymous", role: "none" } as const;

/** The view of a session: expiries from its last recorded activity and its sign-in. */
export function sessionView(user: NodeUserRecord, token: string, session: NodeSessionRecord, options: SignInOptions): SessionView {
  return {
    user: { id: user.id, email: user.email, role: user.role },
    csrfToken: csrfTokenOf(token, NODE_CSRF_LABEL),
    expiresAt: new Date(Math.min(session.expiresAtMs, session.lastSeenMs + options.sessionIdleSeconds * 1000)).toISOString(),
    absoluteExpiresAt: new Date(session.expiresAtMs).toISOString(),
  };
}

/** Signs in with e-mail, password and TOTP code (see the module comment). */
export async function signIn(input: { email: string; password: string; totp: string }, modules: UserModules, options: SignInOptions): Promise<StartedSession> {
  const { users } = modules;
  const email = input.email.toLowerCase();
  const known = await users.byEmail(email);
  const startMs = modules.now();
  if (known?.lockedUntilMs !== undefined && known.lockedUntilMs > startMs) {
    await users.appendAudit({
      ...ANONYMOUS,
      action: "session.signInRefused",
      target: known.id,
      details: { email, reason: "locked" },
    });
    throw locked(known.lockedUntilMs, startMs);
  }
  const passwordOk = await verifyPassword(input.password, known?.password);
  if (!known) {
    await users.appendAudit({
      ...ANONYMOUS,
      action: "session.signInFailed",
      details: { email, reason: "unknown" },
    });
    throw signInFailed();
  }
  type Outcome = { failed: true } | { locked: number } | { started: StartedSession };
  const outcome = await users.change<Outcome>(known.id, async (current): Promise<UserChange<Outcome>> => {
    const now = modules.now();
    // Removed meanwhile.
    if (!current)
      return {
        audit: {
          ...ANONYMOUS,
          action: "session.signInFailed",
          details: { email, reason: "unknown" },
        },
        result: { failed: true },
      };
    if (current.lockedUntilMs !== undefined && current.lockedUntilMs > now) return { result: { locked: current.lockedUntilMs } };
    const step = passwordOk ? verifyTotp(modules.secrets.open(current.totp, totpContext(current.id)), input.totp, now, current.totpLastStep) : undefined;
    if (step === undefined) {
      const failures = current.failures + 1;
      const reason = passwordOk ? "totp" : "password";
      if (failures >= options.maxFailures) {
        const lockedUntilMs = now + options.lockoutSeconds * 1000;
        return {
          next: { ...current, failures: 0, lockedUntilMs },
          writes: await users.sessionDeletes(current.id),
          audit: {
            ...ANONYMOUS,
            action: "user.lockout",
            target: current.id,
            details: {
              email,
              reason,
              failures,
              lockedUntil: new Date(lockedUntilMs).toISOString(),
            },
          },
          result: { failed: true },
        };
      }
      return {
        next: { ...current, failures },
        audit: {
          ...ANONYMOUS,
          action: "session.signInFailed",
          target: current.id,
          details: { email, reason, failures },
        },
        result: { failed: true },
      };
    }
    const token = newSessionToken();
    const session: NodeSessionRecord = {
      userId: current.id,
      createdAtMs: now,
      lastSeenMs: now,
      expiresAtMs: now + options.sessionAbsoluteSeconds * 1000,
    };
    const next: NodeUserRecord = {
      ...current,
      failures: 0,
      totpLastStep: step,
    };
    delete next.lockedUntilMs;
    return {
      next,
      writes: users.sessionWrites(tokenHash(token), session),
      audit: {
        actor: userActorOf(current),
        role: current.role,
        action: "session.signIn",
        target: current.id,
      },
      result: {
        started: { token, view: sessionView(next, token, session, options) },
      },
    };
  });
  if ("started" in outcome) return outcome.started;
  if ("locked" in outcome) throw locked(outcome.locked, modules.now());
  throw signInFailed();
}

/** The session a cookie's token names, with its user. */
export interface ActiveSession {
  hash: string;
  token: string;
  session: NodeSessionRecord;
  user: NodeUserRecord;
}

/**
 * The live session of `token`, or undefined if there is none, it expired (idle or absolute) or its
 * user is gone. Activity is recorded at most once a minute (or a tenth of the idle period), so
 * requests do not each cost a write.
 */
export async function resolveSession(token: string, modules: UserModules, options: SignInOptions): Promise<ActiveSession | undefined> {
  if (!isSessionToken(token)) return undefined;
  const hash = tokenHash(token);
  const session = await modules.users.getSession(hash);
  if (!session) return undefined;
  const now = modules.now();
  if (now >= session.expiresAtMs || now - session.lastSeenMs >= options.sessionIdleSeconds * 1000) {
    await modules.users.endSession(hash);
    return undefined;
  }
  const user = await modules.users.get(session.userId);
  if (!user) return undefined;
  const touchEveryMs = Math.min(60_000, (options.sessionIdleSeconds * 1000) / 10);
  if (now - session.lastSeenMs < touchEveryMs) return { hash, token, session, user };
  await modules.users.touchSession(hash, now);
  return { hash, token, session: { ...session, lastSeenMs: now }, user };
}

/** Ends a session (sign-out), in the audit log. */
export function signOut(active: ActiveSession, modules: Pick<UserModules, "users">): Promise<void> {
  const action: AuditAction = {
    actor: userActorOf(active.user),
    role: active.user.role,
    action: "session.signOut",
    target: active.user.id,
  };
  return modules.users.endSession(active.hash, action);
}
