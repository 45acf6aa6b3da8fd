/**
 * Session resource of the node API: people (regulators, operators, arbiters) sign in with e-mail, password and
 * TOTP code and get a session cookie; requests that change state with it carry its CSRF token.
 */
import { z } from "zod";

import { NODE_API_ROLES, NODE_USER_ROLES } from "./auth.js";
import { problemResponses, route } from "./common.js";

export const signInBodySchema = z.strictObject({
  email: z.string().min(3).max(254),
  password: z.string().min(1).max(256),
  totp: z.string().regex(/^[0-9]{6}$/, "expected the 6-digit code of the authenticator app"),
});

const userView = z.strictObject({
  id: z.string().describe("usr_…"),
  email: z.string(),
  role: z.enum(NODE_USER_ROLES),
});

/** A started or current session: the user, its CSRF token (send it in `x-csrf-token` on POST, PUT and DELETE) and expiries. */
export const sessionViewSchema = z.strictObject({
  user: userView,
  csrfToken: z.string(),
  expiresAt: z.string().describe("When the session ends if unused (ISO 8601)"),
  absoluteExpiresAt: z.string().describe("When the session ends however active (ISO 8601)"),
});
export type SessionView = z.infer<typeof sessionViewSchema>;

/** Who a request is authenticated as: a signed-in user (with its session) or a bearer credential. */
export const whoAmISchema = z.strictObject({
  kind: z.enum(["user", "credential"]),
  id: z.string(),
  name: z.string().describe("The user's e-mail address or the credential's name"),
  role: z.enum(NODE_API_ROLES),
  session: sessionViewSchema.omit({ user: true }).optional(),
});
export type WhoAmI = z.infer<typeof whoAmISchema>;

export const sessionRoutes = {
  signIn: route("POST", "/v1/session", {
    operationId: "signIn",
    tags: ["session"],
    summary: "Sign in with e-mail, password and TOTP code; sets the session cookie",
    description:
      "An unknown e-mail, a wrong password and a wrong or reused code all answer 401 `SIGNIN_FAILED`. Repeated failures lock the user (429 `SIGNIN_LOCKED` with `retryAfterSeconds`) and nothing is checked while locked. The session cookie is HttpOnly, Secure and SameSite=Strict.",
    body: signInBodySchema,
    response: { 201: sessionViewSchema, ...problemResponses },
  }),
  getSession: route("GET", "/v1/session", {
    operationId: "getSession",
    tags: ["session"],
    summary: "Who the request is authenticated as; for a session, its CSRF token and expiries",
    response: { 200: whoAmISchema, ...problemResponses },
  }),
  signOut: route("DELETE", "/v1/session", {
    operationId: "signOut",
    tags: ["session"],
    summary: "Sign out: the session ends and the cookie is cleared (409 `NO_SESSION` for a bearer credential)",
    response: { 204: z.null().describe("Signed out"), ...problemResponses },
  }),
};
