/**
 * Dashboard users of a merchant: invitations, password and TOTP enrolment, sign-in with lock-out,
 * sessions, roles and removal. Returns values and throws coded errors (routes/dashboard maps them to
 * HTTP). Secrets: the password only as a scrypt hash, the TOTP secret only sealed under the master
 * key, session and invitation tokens only as SHA-256; none of them is ever logged or audited.
 * Every sign-in, failure, lock-out, invitation, role change and removal lands in the audit log in the
 * batch of the change it records.
 */
import { randomBytes } from "node:crypto";

import { z } from "zod";

import { passwordSchema } from "../../core/auth/passwords.js";
import { csrfTokenMatches as sessionCsrfMatches, csrfTokenOf as sessionCsrfOf, tokenHash } from "../../core/auth/sessions.js";
import {
  enrol,
  resolveSession as resolveUserSession,
  sessionExpiry,
  signIn as signInUser,
  signOut as signOutUser,
  type LiveSession,
  type SignInPolicy,
  type UserRealm,
} from "../../core/auth/signin.js";
import { SettlenetError } from "../../core/errors.js";
import type { GatewayStorage } from "../storage/db.js";
import type { AdminActor } from "./merchants.js";
import { USER_ROLES, type SessionRecord, type UserRecord, type UserRole } from "./records.js";
import type { SecretBox } from "./secrets.js";

/** Session lifetimes, lock-out and invitation expiry (config.ts dashboardConfigSchema gives the defaults). */
export interface DashboardOptions extends SignInPolicy {
  /** How long an invitation token is valid. */
  invitationTtlSeconds: number;
}

export const DEFAULT_DASHBOARD_OPTIONS: DashboardOptions = {
  sessionIdleSeconds: 30 * 60,
  sessionAbsoluteSeconds: 12 * 3600,
  maxFailures: 5,
  lockoutSeconds: 15 * 60,
  invitationTtlSeconds: 72 * 3600,
};

export interface UserModules {
  storage: GatewayStorage;
  secrets: SecretBox;
  now: () => number;
}

export const emailSchema = z.string().max(254).pipe(z.email("expected an e-mail address")).transform((e) => e.toLowerCase());
export const roleSchema = z.enum(USER_ROLES);
export const userIdSchema = z.string().regex(/^usr_[0-9a-f]{24}$/, "expected a user id (usr_…)");
export { passwordSchema };
/** A TOTP code as typed: six digits. */
export const totpCodeSchema = z.string().regex(/^[0-9]{6}$/, "expected the 6-digit code of the authenticator app");

const totpContext = (userId: string) => `user-totp:${userId}`;
const sha256 = tokenHash;
const CSRF_LABEL = "settlenet-dashboard-csrf";

/** The user as the dashboard shows it (never its hash or secret). */
export function userView(user: UserRecord) {
  return {
    id: user.id,
    merchantId: user.merchantId,
    email: user.email,
    role: user.role,
    status: user.status,
    createdAt: new Date(user.createdAtMs).toISOString(),
    ...(user.lockedUntilMs !== undefined ? { lockedUntil: new Date(user.lockedUntilMs).toISOString() } : {}),
  };
}
export type UserView = ReturnType<typeof userView>;

/** The audit actor of a signed-in user. */
export function userActor(user: Pick<UserRecord, "id" | "role">): AdminActor {
  return { actor: `user:${user.id}`, role: user.role };
}

/** The CSRF token of a session: bound to the cookie's token, which only its holder knows (HttpOnly). */
export function csrfTokenOf(sessionToken: string): string {
  return sessionCsrfOf(sessionToken, CSRF_LABEL);
}

/** Whether `given` is the CSRF token of `sessionToken` (constant time). */
export function csrfTokenMatches(sessionToken: string, given: string | undefined): boolean {
  return sessionCsrfMatches(sessionToken, CSRF_LABEL, given);
}

function newUser(merchantId: string, email: string, role: UserRole, nowMs: number): UserRecord {
  return { id: `usr_${randomBytes(12).toString("hex")}`, merchantId, email, role, status: "invited", failures: 0, createdAtMs: nowMs };
}

/** Invites `email` to `merchantId` with `role`: the token is shown only in this answer. */
export async function inviteUser(
  merchantId: string,
  input: { email: string; role: UserRole },
  by: AdminActor,
  modules: UserModules,
  options: Pick<DashboardOptions, "invitationTtlSeconds">,
): Promise<{ user: UserView; invitationToken: string; expiresAt: string }> {
  const now = modules.now();
  const user = newUser(merchantId, input.email, input.role, now);
  const invitationToken = `inv_${randomBytes(32).toString("base64url")}`;
  const expiresAtMs = now + options.invitationTtlSeconds * 1000;
  await modules.storage.users.create(
    user,
    { hash: sha256(invitationToken), record: { userId: user.id, merchantId, expiresAtMs } },
    { ...by, action: "user.invite", target: merchantId, details: { userId: user.id, email: user.email, role: user.role } },
  );
  return { user: userView(user), invitationToken, expiresAt: new Date(expiresAtMs).toISOString() };
}

/** Enrols TOTP for a user setting its password; the secret is returned only here. */
async function enrolment(user: UserRecord, password: string, modules: UserModules) {
  const enrolled = await enrol(user.id, user.email, password, modules.secrets, totpContext(user.id));
  const next: UserRecord = { ...user, status: "active", password: enrolled.password, totp: enrolled.totp, failures: 0 };
  delete next.totpLastStep;
  delete next.lockedUntilMs;
  return { next, secret: enrolled.secret, uri: enrolled.uri };
}

/**
 * Accepts an invitation: sets the password and enrols TOTP. INVITATION_INVALID for an unknown, used or
 * expired token (not told apart). The otpauth:// URI is in this answer only.
 */
export async function acceptInvitation(token: string, password: string, modules: UserModules): Promise<{ user: UserView; otpauthUri: string }> {
  const hash = sha256(token);
  const invitation = await modules.storage.users.getInvitation(hash);
  const invalid = () => new SettlenetError("INVITATION_INVALID", "the invitation is unknown, already used or expired", {});
  if (!invitation || invitation.expiresAtMs <= modules.now()) throw invalid();
  const user = await modules.storage.users.get(invitation.userId);
  if (!user || user.status !== "invited") throw invalid();
  const enrolled = await enrolment(user, password, modules);
  return modules.storage.users.change(user.id, async (current) => {
    const still = await modules.storage.users.invitation(hash);
    if (!current || current.status !== "invited" || !still || still.expiresAtMs <= modules.now()) throw invalid();
    return {
      next: enrolled.next,
      writes: await modules.storage.users.invitationDeletes(user.id),
      audit: { ...userActor(current), action: "user.invitationAccept", target: current.merchantId, details: { userId: current.id, email: current.email } },
      result: { user: userView(enrolled.next), otpauthUri: enrolled.uri },
    };
  });
}

/**
 * A merchant's first (or another) owner, by the operator: with a password, enrolled at once (the TOTP
 * secret and URI returned this once); without, invited (the token returned this once).
 */
export async function createOwner(
  merchantId: string,
  input: { email: string; password?: string | undefined },
  by: AdminActor,
  modules: UserModules,
  options: Pick<DashboardOptions, "invitationTtlSeconds">,
): Promise<{ user: UserView; invitationToken: string; expiresAt: string } | { user: UserView; otpauthUri: string; totpSecret: string }> {
  if (input.password === undefined) return inviteUser(merchantId, { email: input.email, role: "owner" }, by, modules, options);
  const user = newUser(merchantId, input.email, "owner", modules.now());
  const enrolled = await enrolment(user, input.password, modules);
  await modules.storage.users.create(enrolled.next, undefined, { ...by, action: "user.createOwner", target: merchantId, details: { userId: user.id, email: user.email } });
  return { user: userView(enrolled.next), otpauthUri: enrolled.uri, totpSecret: enrolled.secret };
}

/** A new session: the token goes into the cookie and is stored only as its hash. */
export interface StartedSession {
  token: string;
  csrfToken: string;
  user: UserView;
  session: SessionRecord;
}

/** What the shared sign-in (core/auth/signin.ts) needs to know of dashboard users. */
const realm: UserRealm<UserRecord, SessionRecord> = {
  totpContext,
  isActive: (user) => user.status === "active",
  actor: userActor,
  subject: (user) => ({ target: user.merchantId, details: { userId: user.id } }),
  session: (user, times) => ({ ...times, merchantId: user.merchantId }),
};

const signInModules = (modules: UserModules) => ({ users: modules.storage.users, secrets: modules.secrets, now: modules.now });

/** Signs in with e-mail, password and TOTP code (the rules: core/auth/signin.ts). */
export async function signIn(input: { email: string; password: string; totp: string }, modules: UserModules, options: DashboardOptions): Promise<StartedSession> {
  const started = await signInUser(input, realm, signInModules(modules), options);
  return { token: started.token, csrfToken: csrfTokenOf(started.token), user: userView(started.user), session: started.session };
}

/** The session a cookie's token names, with its user. */
export type ActiveSession = LiveSession<UserRecord, SessionRecord>;

/** The live session of `token`: SESSION_REQUIRED if there is none, it expired (idle or absolute) or its user is gone. */
export async function resolveSession(token: string, modules: UserModules, options: DashboardOptions): Promise<ActiveSession> {
  const active = await resolveUserSession(token, realm, signInModules(modules), options);
  if (!active) throw new SettlenetError("SESSION_REQUIRED", "sign in first: no session, or it has ended", {});
  return active;
}

export { sessionExpiry };

/** Ends a session (sign-out). */
export function signOut(active: ActiveSession, modules: UserModules): Promise<void> {
  return signOutUser(active, realm, signInModules(modules));
}

/** The merchant's users. */
export async function listUsers(merchantId: string, modules: Pick<UserModules, "storage">): Promise<UserView[]> {
  return (await modules.storage.users.listByMerchant(merchantId)).map(userView);
}

const userNotFound = (userId: string) => new SettlenetError("USER_NOT_FOUND", "the merchant has no user with this id", { userId });
const lastOwner = () => new SettlenetError("LAST_OWNER", "a merchant keeps at least one active owner: make another user owner first", {});

/** Changes a user's role (it applies to the user's live sessions at once). */
export function setRole(merchantId: string, userId: string, role: UserRole, by: AdminActor, modules: UserModules): Promise<UserView> {
  return modules.storage.users.change(userId, async (current) => {
    if (!current || current.merchantId !== merchantId) throw userNotFound(userId);
    if (current.role === role) return { result: userView(current) };
    if (current.role === "owner" && current.status === "active" && (await modules.storage.users.otherActiveOwners(merchantId, userId)) === 0) throw lastOwner();
    const next = { ...current, role };
    return { next, audit: { ...by, action: "user.roleChange", target: merchantId, details: { userId, from: current.role, to: role } }, result: userView(next) };
  });
}

/** Removes a user with its sessions and pending invitation. */
export function removeUser(merchantId: string, userId: string, by: AdminActor, modules: UserModules): Promise<{ id: string; removed: true }> {
  return modules.storage.users.change(userId, async (current) => {
    if (!current || current.merchantId !== merchantId) throw userNotFound(userId);
    if (current.role === "owner" && current.status === "active" && (await modules.storage.users.otherActiveOwners(merchantId, userId)) === 0) throw lastOwner();
    return {
      writes: [...modules.storage.users.removalWrites(current), ...(await modules.storage.users.sessionDeletes(userId)), ...(await modules.storage.users.invitationDeletes(userId))],
      audit: { ...by, action: "user.remove", target: merchantId, details: { userId, email: current.email, role: current.role } },
      result: { id: userId, removed: true as const },
    };
  });
}
