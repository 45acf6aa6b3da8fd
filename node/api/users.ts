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
 * Sign-in, lock-out and sessions follow the rules shared with the gateway's dashboard
 * (core/auth/signin.ts). Every sign-in, failure, lock-out, sign-out and user change is in the audit
 * log, in the batch of the change it records; no secret ever is.
 */
import { randomBytes } from "node:crypto";
import { mkdir, open, readFile } from "node:fs/promises";
import { dirname } from "node:path";

import { z } from "zod";

import { NODE_CSRF_LABEL, type NodeUserRole } from "../../core/api/auth.js";
import type { SessionView } from "../../core/api/session.js";
import { passwordSchema } from "../../core/auth/passwords.js";
import { SecretBox } from "../../core/auth/secrets.js";
import { csrfTokenOf } from "../../core/auth/sessions.js";
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
import { nodeUserNotFound, type LevelUserRepository, type NodeSessionRecord, type NodeUserRecord } from "../storage/users.js";

/** Lock-out and session lifetimes (node.json `api.signIn`). */
export interface SignInOptions extends SignInPolicy {
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
    ...(user.disabledAtMs !== undefined ? { disabledAtMs: user.disabledAtMs, disabledBy: user.disabledBy ?? "" } : {}),
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
  const enrolled = await enrol(id, email, password, modules.secrets, totpContext(id), "Settlenet node");
  const user: NodeUserRecord = {
    id,
    email,
    role: input.role,
    password: enrolled.password,
    totp: enrolled.totp,
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
    otpauthUri: enrolled.uri,
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

/**
 * Disables a user (its sessions end at once, sign-in answers as for an unknown user) or enables it
 * again; a user already in that state is answered unchanged and nothing is logged.
 */
export async function setUserDisabled(idOrEmail: string, disabled: boolean, by: string, modules: Pick<UserModules, "users" | "now">) {
  const named = idOrEmail.startsWith("usr_") ? await modules.users.get(idOrEmail) : await modules.users.byEmail(idOrEmail);
  if (!named) throw nodeUserNotFound(idOrEmail);
  return modules.users.change(named.id, async (current) => {
    if (!current) throw nodeUserNotFound(idOrEmail);
    if ((current.disabledAtMs !== undefined) === disabled) return { result: userView(current) };
    const next: NodeUserRecord = { ...current, failures: 0 };
    delete next.disabledAtMs;
    delete next.disabledBy;
    if (disabled) Object.assign(next, { disabledAtMs: modules.now(), disabledBy: by });
    return {
      next,
      ...(disabled ? { writes: await modules.users.sessionDeletes(current.id) } : {}),
      audit: { actor: by, role: "operator", action: disabled ? "user.disable" : "user.enable", target: current.id, details: { email: current.email, role: current.role } },
      result: userView(next),
    };
  });
}

/** A new session: the token goes into the cookie and is stored only as its hash. */
export interface StartedSession {
  token: string;
  view: SessionView;
}

/** What the shared sign-in (core/auth/signin.ts) needs to know of node users. */
const realm: UserRealm<NodeUserRecord, NodeSessionRecord> = {
  totpContext,
  isActive: (user) => user.disabledAtMs === undefined,
  actor: (user) => ({ actor: userActorOf(user), role: user.role }),
  subject: (user) => ({ target: user.id, details: { email: user.email } }),
  session: (_user, times) => times,
};

/** The view of a session: expiries from its last recorded activity and its sign-in. */
export function sessionView(user: NodeUserRecord, token: string, session: NodeSessionRecord, options: SignInOptions): SessionView {
  return {
    user: { id: user.id, email: user.email, role: user.role },
    csrfToken: csrfTokenOf(token, NODE_CSRF_LABEL),
    ...sessionExpiry(session, options),
  };
}

/** Signs in with e-mail, password and TOTP code (the rules: core/auth/signin.ts). */
export async function signIn(input: { email: string; password: string; totp: string }, modules: UserModules, options: SignInOptions): Promise<StartedSession> {
  const started = await signInUser(input, realm, modules, options);
  return { token: started.token, view: sessionView(started.user, started.token, started.session, options) };
}

/** The session a cookie's token names, with its user. */
export type ActiveSession = LiveSession<NodeUserRecord, NodeSessionRecord>;

/** The live session of `token`, or undefined if there is none, it expired (idle or absolute) or its user is gone. */
export function resolveSession(token: string, modules: UserModules, options: SignInOptions): Promise<ActiveSession | undefined> {
  return resolveUserSession(token, realm, modules, options);
}

/** Ends a session (sign-out), in the audit log. */
export function signOut(active: ActiveSession, modules: Pick<UserModules, "users">): Promise<void> {
  return signOutUser(active, realm, modules);
}
