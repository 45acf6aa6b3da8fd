/**
 * Sign-in and sessions of people (gateway dashboard users, node users), over a LevelUserStore. What
 * differs between services (who counts as active, how the audit log names a user, what a session
 * records besides its user) comes in as a `UserRealm`; the rules are these:
 *
 * - An unknown e-mail, a wrong password and a wrong or reused code answer alike (SIGNIN_FAILED) after
 *   the same scrypt work.
 * - `maxFailures` failures in a row lock the user for `lockoutSeconds` and end its sessions; while
 *   locked every attempt is SIGNIN_LOCKED and nothing is checked, so the lock cannot be used to test
 *   passwords.
 * - A session ends after `sessionIdleSeconds` without use or `sessionAbsoluteSeconds` after sign-in.
 *
 * Every sign-in, failure, lock-out and sign-out is in the audit log, in the batch of the change it
 * records; no secret ever is.
 */
import type { AuditAction, AuditDetails } from "../audit/log.js";
import { SettlenetError } from "../errors.js";
import { hashPassword, verifyPassword, type PasswordHash } from "./passwords.js";
import type { SealedSecret, SecretBox } from "./secrets.js";
import { isSessionToken, newSessionToken, tokenHash } from "./sessions.js";
import type { AuthSessionRecord, AuthUserRecord, LevelUserStore, UserChange } from "./store.js";
import { newTotpSecret, otpauthUri, verifyTotp } from "./totp.js";

/** Lock-out and session lifetimes. */
export interface SignInPolicy {
  /** Failed sign-ins in a row that lock a user. */
  maxFailures: number;
  /** How long a locked user refuses every sign-in. */
  lockoutSeconds: number;
  /** A session unused this long ends. */
  sessionIdleSeconds: number;
  /** A session ends this long after sign-in, however active. */
  sessionAbsoluteSeconds: number;
}

/** What a service says about its users. */
export interface UserRealm<U extends AuthUserRecord, S extends AuthSessionRecord> {
  /** The AAD the user's TOTP secret is sealed with. */
  totpContext(userId: string): string;
  /** Whether the user may sign in and keep its sessions (enrolled, not disabled). */
  isActive(user: U): boolean;
  /** The audit actor of a signed-in user. */
  actor(user: U): { actor: string; role: string };
  /** The audit target and details that name a user in entries about it. */
  subject(user: U): { target: string; details: AuditDetails };
  /** A new session's record. */
  session(user: U, times: AuthSessionRecord): S;
}

export interface SignInModules<U extends AuthUserRecord, S extends AuthSessionRecord> {
  users: LevelUserStore<U, S>;
  secrets: SecretBox;
  now: () => number;
}

/** A new session: the token goes into the cookie and is stored only as its hash. */
export interface NewSession<U, S> {
  token: string;
  user: U;
  session: S;
}

/** The session a cookie's token names, with its user. */
export interface LiveSession<U, S> {
  hash: string;
  token: string;
  session: S;
  user: U;
}

const ANONYMOUS = { actor: "anonymous", role: "none" } as const;
const signInFailed = () => new SettlenetError("SIGNIN_FAILED", "the e-mail address, password or code is not valid", {});
const locked = (untilMs: number, nowMs: number) =>
  new SettlenetError("SIGNIN_LOCKED", "too many failed sign-ins: the user is locked for now", { retryAfterSeconds: Math.max(1, Math.ceil((untilMs - nowMs) / 1000)) });

/** A password hash and a fresh TOTP secret sealed for `userId`; the secret and its URI are for this answer only. */
export async function enrol(userId: string, email: string, password: string, secrets: SecretBox, totpContext: string, issuer?: string): Promise<{ password: PasswordHash; totp: SealedSecret; secret: string; uri: string }> {
  const secret = newTotpSecret();
  return { password: await hashPassword(password), totp: secrets.seal(secret, totpContext), secret, uri: otpauthUri(secret, email, issuer) };
}

/** Signs in with e-mail, password and TOTP code (see the module comment). */
export async function signIn<U extends AuthUserRecord, S extends AuthSessionRecord>(
  input: { email: string; password: string; totp: string },
  realm: UserRealm<U, S>,
  modules: SignInModules<U, S>,
  policy: SignInPolicy,
): Promise<NewSession<U, S>> {
  const { users } = modules;
  const email = input.email.toLowerCase();
  const known = await users.byEmail(email);
  const startMs = modules.now();
  if (known?.lockedUntilMs !== undefined && known.lockedUntilMs > startMs) {
    const { target, details } = realm.subject(known);
    await users.appendAudit({ ...ANONYMOUS, action: "session.signInRefused", target, details: { ...details, reason: "locked" } });
    throw locked(known.lockedUntilMs, startMs);
  }
  const passwordOk = await verifyPassword(input.password, known && realm.isActive(known) ? known.password : undefined);
  const unknown: AuditAction = { ...ANONYMOUS, action: "session.signInFailed", details: { email, reason: "unknown" } };
  if (!known) {
    await users.appendAudit(unknown);
    throw signInFailed();
  }
  type Outcome = { failed: true } | { locked: number } | { started: NewSession<U, S> };
  const outcome = await users.change<Outcome>(known.id, async (current): Promise<UserChange<U, Outcome>> => {
    const now = modules.now();
    // Removed, disabled or not enrolled meanwhile.
    if (!current || !realm.isActive(current) || !current.totp) return { audit: unknown, result: { failed: true } };
    if (current.lockedUntilMs !== undefined && current.lockedUntilMs > now) return { result: { locked: current.lockedUntilMs } };
    const step = passwordOk ? verifyTotp(modules.secrets.open(current.totp, realm.totpContext(current.id)), input.totp, now, current.totpLastStep) : undefined;
    const { target, details } = realm.subject(current);
    if (step === undefined) {
      const failures = current.failures + 1;
      const reason = passwordOk ? "totp" : "password";
      if (failures >= policy.maxFailures) {
        const lockedUntilMs = now + policy.lockoutSeconds * 1000;
        return {
          next: { ...current, failures: 0, lockedUntilMs },
          writes: await users.sessionDeletes(current.id),
          audit: { ...ANONYMOUS, action: "user.lockout", target, details: { ...details, reason, failures, lockedUntil: new Date(lockedUntilMs).toISOString() } },
          result: { failed: true },
        };
      }
      return { next: { ...current, failures }, audit: { ...ANONYMOUS, action: "session.signInFailed", target, details: { ...details, reason, failures } }, result: { failed: true } };
    }
    const token = newSessionToken();
    const session = realm.session(current, { userId: current.id, createdAtMs: now, lastSeenMs: now, expiresAtMs: now + policy.sessionAbsoluteSeconds * 1000 });
    const next: U = { ...current, failures: 0, totpLastStep: step };
    delete next.lockedUntilMs;
    return {
      next,
      writes: users.sessionWrites(tokenHash(token), session),
      audit: { ...realm.actor(current), action: "session.signIn", target, details },
      result: { started: { token, user: next, session } },
    };
  });
  if ("started" in outcome) return outcome.started;
  if ("locked" in outcome) throw locked(outcome.locked, modules.now());
  throw signInFailed();
}

/**
 * The live session of `token`, or undefined if there is none, it expired (idle or absolute) or its
 * user is gone or no longer active. Activity is recorded at most once a minute (or a tenth of the idle
 * period), so requests do not each cost a write; idle time counts from the last recorded activity.
 */
export async function resolveSession<U extends AuthUserRecord, S extends AuthSessionRecord>(
  token: string,
  realm: Pick<UserRealm<U, S>, "isActive">,
  modules: Omit<SignInModules<U, S>, "secrets">,
  policy: Pick<SignInPolicy, "sessionIdleSeconds">,
): Promise<LiveSession<U, S> | undefined> {
  if (!isSessionToken(token)) return undefined;
  const hash = tokenHash(token);
  const session = await modules.users.getSession(hash);
  if (!session) return undefined;
  const now = modules.now();
  if (now >= session.expiresAtMs || now - session.lastSeenMs >= policy.sessionIdleSeconds * 1000) {
    await modules.users.endSession(hash);
    return undefined;
  }
  const user = await modules.users.get(session.userId);
  if (!user || !realm.isActive(user)) return undefined;
  const touchEveryMs = Math.min(60_000, (policy.sessionIdleSeconds * 1000) / 10);
  if (now - session.lastSeenMs < touchEveryMs) return { hash, token, session, user };
  await modules.users.touchSession(hash, now);
  return { hash, token, session: { ...session, lastSeenMs: now }, user };
}

/** The idle expiry (from the last recorded activity) and the absolute expiry of a session. */
export function sessionExpiry(session: AuthSessionRecord, policy: Pick<SignInPolicy, "sessionIdleSeconds">) {
  return {
    expiresAt: new Date(Math.min(session.expiresAtMs, session.lastSeenMs + policy.sessionIdleSeconds * 1000)).toISOString(),
    absoluteExpiresAt: new Date(session.expiresAtMs).toISOString(),
  };
}

/** Ends a session (sign-out), in the audit log. */
export function signOut<U extends AuthUserRecord, S extends AuthSessionRecord>(active: LiveSession<U, S>, realm: UserRealm<U, S>, modules: Pick<SignInModules<U, S>, "users">): Promise<void> {
  const { target, details } = realm.subject(active.user);
  return modules.users.endSession(active.hash, { ...realm.actor(active.user), action: "session.signOut", target, details });
}
