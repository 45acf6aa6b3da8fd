/**
 * Dashboard sessions: the `__Host-settlenet_session` cookie (HttpOnly, Secure, SameSite=Strict,
 * Path=/) names a session (domain/users.ts); every state-changing request that carries it must also
 * carry the session's CSRF token in `x-csrf-token`. The plugin decorates the app with
 * `authenticateSession` (the dashboard routes) and `authenticateMerchantApi`, the /v1 hook that takes
 * either the HMAC-signed headers, as before, or a session, acting for the user's merchant within what
 * the user's role allows.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import fp from "fastify-plugin";

import { CSRF_HEADER, SAFE_METHODS, cookieValue, headerValue, sessionCookie } from "../../../core/auth/sessions.js";
import { SettlenetError } from "../../../core/errors.js";
import { AUTH_HEADERS, bodyDigest } from "../../client/signing.js";
import type { UserRole } from "../../domain/records.js";
import { csrfTokenMatches, resolveSession, type ActiveSession, type DashboardOptions, type UserModules } from "../../domain/users.js";

/** The session cookie; `__Host-` makes browsers refuse it unless Secure, Path=/ and without Domain. */
export const SESSION_COOKIE = "__Host-settlenet_session";
export { CSRF_HEADER };

declare module "fastify" {
  interface FastifyInstance {
    /** Authenticates a dashboard request by its session cookie (and CSRF token when it changes state); sets `request.session`. */
    authenticateSession: (request: FastifyRequest) => Promise<void>;
    /** The /v1 hook: HMAC signature or session; sets `request.merchant`. */
    authenticateMerchantApi: (request: FastifyRequest) => Promise<void>;
    /** What the dashboard routes act through. */
    dashboard: { options: DashboardOptions; modules: UserModules };
  }
  interface FastifyRequest {
    /** The signed-in user's session (set by `authenticateSession`). */
    session: ActiveSession | null;
  }
}

/** The session token in the request's cookies, if any. */
export function sessionTokenOf(request: FastifyRequest): string | undefined {
  return cookieValue(request.headers.cookie, SESSION_COOKIE);
}

/** Sets the session cookie (its lifetime is the session's absolute one; the gateway enforces idle expiry). */
export function setSessionCookie(reply: FastifyReply, token: string, maxAgeSeconds: number): void {
  void reply.header("set-cookie", sessionCookie(SESSION_COOKIE, token, maxAgeSeconds));
}

/** Tells the browser to drop the session cookie. */
export function clearSessionCookie(reply: FastifyReply): void {
  void reply.header("set-cookie", sessionCookie(SESSION_COOKIE, "", 0));
}

/**
 * What a role may call on /v1: read-only only reads; an operator also acts on payments (fulfil,
 * refund, cancel, payer actions), webhook endpoints and event redelivery; an owner also moves money
 * (payouts, top-ups, transfers). Users and API keys are managed on the dashboard routes, by owners.
 */
export function roleAllows(role: UserRole, method: string, routeUrl: string): boolean {
  if (SAFE_METHODS.has(method)) return true;
  if (role === "owner") return true;
  if (role === "operator") return /^\/v1\/(payments|webhook-endpoints|events)(\/|$)/.test(routeUrl);
  return false;
}

export const sessionPlugin = fp<{ options: DashboardOptions; modules: UserModules }>(
  async (app: FastifyInstance, { options, modules }) => {
    app.decorateRequest("session", null);
    app.decorate("dashboard", { options, modules });

    const authenticateSession = async (request: FastifyRequest): Promise<void> => {
      const token = sessionTokenOf(request);
      if (token === undefined) throw new SettlenetError("SESSION_REQUIRED", "sign in first: no session, or it has ended", {});
      const active = await resolveSession(token, modules, options);
      if (!SAFE_METHODS.has(request.method)) {
        if (!csrfTokenMatches(token, headerValue(request.headers[CSRF_HEADER]))) {
          throw new SettlenetError("CSRF_TOKEN_INVALID", `a request that changes state needs the session's CSRF token in ${CSRF_HEADER}`, { header: CSRF_HEADER });
        }
      }
      const merchant = await modules.storage.merchants.get(active.user.merchantId);
      if (!merchant || merchant.status !== "active") throw new SettlenetError("MERCHANT_SUSPENDED", "the merchant is suspended", {});
      request.session = active;
      request.merchant = merchant;
    };
    app.decorate("authenticateSession", authenticateSession);

    app.decorate("authenticateMerchantApi", async (request: FastifyRequest) => {
      // A request with the signed headers is the API's as before; a session is only used without them.
      if (request.headers[AUTH_HEADERS.keyId] !== undefined || sessionTokenOf(request) === undefined) return app.authenticate(request);
      await authenticateSession(request);
      const role = request.session?.user.role ?? "read-only";
      if (!roleAllows(role, request.method, request.routeOptions.url ?? request.url)) {
        throw new SettlenetError("ROLE_FORBIDDEN", `the ${role} role may not do this`, { role });
      }
      request.bodyDigest = bodyDigest(request.rawBody);
    });
  },
  { name: "session", fastify: "5.x", dependencies: ["auth"] },
);
