/**
 * Who may call the node API: bearer credentials bound to one role each. A token is
 * `snc_<id>_<secret>`: a public id (what lists, logs and the audit log name) and a 256-bit random
 * secret that the node keeps only as its SHA-256. The contract's routes name the roles allowed on
 * each (see `route` in common.ts); NodeApiClient sends the token of a role the route allows.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

import { z } from "zod";

/** gateway: submit and read; regulator: audit, alerts, reports, reserves; operator: admin; arbiter: disputes; metrics: scrape /metrics. */
export const NODE_API_ROLES = ["gateway", "regulator", "operator", "arbiter", "metrics"] as const;
export const nodeApiRoleSchema = z.enum(NODE_API_ROLES);
export type NodeApiRole = z.infer<typeof nodeApiRoleSchema>;

/**
 * The roles people hold: a user (settlenet node user create) signs in with password and TOTP and
 * acts with exactly its role's routes. gateway and metrics are programs' roles only.
 */
export const NODE_USER_ROLES = ["regulator", "operator", "arbiter"] as const;
export const nodeUserRoleSchema = z.enum(NODE_USER_ROLES);
export type NodeUserRole = z.infer<typeof nodeUserRoleSchema>;

/** The node's session cookie; `__Host-` makes browsers refuse it unless Secure, Path=/ and without Domain. */
export const NODE_SESSION_COOKIE = "__Host-settlenet_node_session";
/** Separates the node's CSRF tokens from the gateway's (core/auth/sessions.ts). */
export const NODE_CSRF_LABEL = "settlenet-node-csrf";
/** The OpenAPI security scheme of a signed-in user's session cookie. */
export const SESSION_SCHEME = "nodeSession";

/** Roles on a route: who may call it, or "public" (health and sign-in). */
export type RouteAccess = readonly NodeApiRole[] | "public";

/** The OpenAPI security scheme every non-public route declares. */
export const BEARER_SCHEME = "nodeCredential";

export const UNAUTHENTICATED = "UNAUTHENTICATED";
export const FORBIDDEN = "FORBIDDEN";

const TOKEN = /^snc_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

/** A credential's token split into its public id and its secret; undefined for anything malformed. */
export function parseToken(token: string): { id: string; secret: string } | undefined {
  const match = TOKEN.exec(token);
  return match ? { id: match[1] as string, secret: match[2] as string } : undefined;
}

/** A new token (shown once) and what the node stores of it. */
export function newToken(): { id: string; token: string; secretSha256: string } {
  const id = randomBytes(8).toString("hex");
  const secret = randomBytes(32).toString("base64url");
  return { id, token: `snc_${id}_${secret}`, secretSha256: secretHash(secret) };
}

/** SHA-256 of a secret, hex (enough for 256-bit random secrets: nothing to guess, nothing to stretch). */
export function secretHash(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

/** Whether `secret` hashes to `expectedSha256`, compared in constant time. */
export function secretMatches(secret: string, expectedSha256: string): boolean {
  const expected = Buffer.from(expectedSha256, "hex");
  const actual = createHash("sha256").update(secret).digest();
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

/** The Authorization header value for a token. */
export const bearer = (token: string) => `Bearer ${token}`;

/** A credential source for a client: one token, or one per role (the client picks one the route allows). */
export type ClientCredentials = string | Partial<Record<NodeApiRole, string>>;

/** The token to send on a route with `access`, from `credentials` (undefined: send none). */
export function tokenFor(credentials: ClientCredentials | undefined, access: RouteAccess): string | undefined {
  if (credentials === undefined || access === "public") return undefined;
  if (typeof credentials === "string") return credentials;
  for (const role of access) {
    const token = credentials[role];
    if (token) return token;
  }
  // A route none of our roles may call: send any, so the node answers FORBIDDEN rather than UNAUTHENTICATED.
  return Object.values(credentials).find((t) => t !== undefined);
}

/** The environment variable the command-line tools read their node API token from. */
export const NODE_TOKEN_ENV = "SETTLENET_NODE_TOKEN";

/** The command-line tools' credential (undefined if the variable is unset). */
export function tokenFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const token = env[NODE_TOKEN_ENV]?.trim();
  return token ? token : undefined;
}
