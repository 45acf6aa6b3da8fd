/**
 * Browser sessions of people who signed in (gateway dashboard, node consoles): a random token in a
 * `__Host-` cookie (HttpOnly, Secure, SameSite=Strict, Path=/), stored by the server only as its
 * SHA-256, and a CSRF token derived from it that state-changing requests carry in a header. The CSRF
 * token is an HMAC of the cookie's token, which only its holder can read, so a page of another origin
 * can make the browser send the cookie but cannot produce the header.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/** The header the CSRF token travels in. */
export const CSRF_HEADER = "x-csrf-token";

/** Methods that do not change state: no CSRF token needed. */
export const SAFE_METHODS: ReadonlySet<string> = new Set(["GET", "HEAD", "OPTIONS"]);

const SESSION_TOKEN = /^sess_[A-Za-z0-9_-]{43}$/;

/** A new session token (256 random bits). */
export function newSessionToken(): string {
  return `sess_${randomBytes(32).toString("base64url")}`;
}

/** Whether `token` has a session token's shape (checked before any lookup). */
export function isSessionToken(token: string): boolean {
  return SESSION_TOKEN.test(token);
}

/** What the server stores of a token: its SHA-256, hex. */
export function tokenHash(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

/** The CSRF token of a session; `label` separates the services that share the scheme. */
export function csrfTokenOf(sessionToken: string, label: string): string {
  return createHmac("sha256", sessionToken).update(label).digest("base64url");
}

/** Whether `given` is the CSRF token of `sessionToken` (constant time). */
export function csrfTokenMatches(sessionToken: string, label: string, given: string | undefined): boolean {
  const expected = Buffer.from(csrfTokenOf(sessionToken, label), "utf8");
  const actual = Buffer.from(given ?? "", "utf8");
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/** The value of cookie `name` in a Cookie header, if any. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** The Set-Cookie value that stores a session token for `maxAgeSeconds` (0: tells the browser to drop it). */
export function sessionCookie(name: string, token: string, maxAgeSeconds: number): string {
  return `${name}=${token}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}`;
}

/** The header value of the CSRF token when a request carries it (first one if repeated). */
export function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
