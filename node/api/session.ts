/**
 * People's sessions on the node API: POST /v1/session signs in (the cookie is HttpOnly, Secure,
 * SameSite=Strict), GET /v1/session says who the request is authenticated as, DELETE /v1/session signs
 * out. `SessionAuthenticator` is what the API's authentication hook asks about a session cookie.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";

import { NODE_SESSION_COOKIE } from "../../core/api/auth.js";
import { sessionRoutes } from "../../core/api/session.js";
import { sessionCookie } from "../../core/auth/sessions.js";
import { SettlenetError } from "../../core/errors.js";
import type { Principal } from "./credentials.js";
import { resolveSession, sessionView, signIn, signOut, type ActiveSession, type SignInOptions, type UserModules } from "./users.js";

declare module "fastify" {
  interface FastifyRequest {
    /** The signed-in user's session, when the request was authenticated by one. */
    userSession?: ActiveSession;
  }
}

/** A session cookie's user as the API's principal, with the session. */
export interface SessionAuthenticator {
  authenticate(token: string): Promise<{ principal: Principal; active: ActiveSession } | undefined>;
}

export function sessionAuthenticator(modules: UserModules, options: SignInOptions): SessionAuthenticator {
  return {
    async authenticate(token) {
      const active = await resolveSession(token, modules, options);
      if (!active) return undefined;
      const { user } = active;
      return {
        principal: {
          kind: "user",
          id: user.id,
          name: user.email,
          role: user.role,
        },
        active,
      };
    },
  };
}

/** Registers POST, GET and DELETE /v1/session. */
export function registerSessionRoutes(app: FastifyInstance, modules: UserModules, options: SignInOptions): void {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const principal = (request: FastifyRequest) => {
    if (!request.principal) throw new SettlenetError("INTERNAL", "request was not authenticated");
    return request.principal;
  };

  // Before any password work: the lock-out guards one user, this bounds guesses spread over many.
  const signInLimit = app.rateLimit({
    max: options.rateLimit.max,
    timeWindow: options.rateLimit.timeWindowMs,
    keyGenerator: (request) => `signin:${request.ip}`,
    errorResponseBuilder: (_request, context) =>
      new SettlenetError("RATE_LIMITED", `at most ${context.max} sign-in attempts per client address, retry in ${context.after}`, {
        limit: context.max,
        retryAfterSeconds: Math.ceil(context.ttl / 1000),
      }),
  });
  api.route({
    ...sessionRoutes.signIn,
    onRequest: signInLimit,
    handler: async (request, reply) => {
      const started = await signIn(request.body, modules, options);
      void reply.header("set-cookie", sessionCookie(NODE_SESSION_COOKIE, started.token, options.sessionAbsoluteSeconds));
      return reply.status(201).send(started.view);
    },
  });

  api.route({
    ...sessionRoutes.getSession,
    handler: async (request) => {
      const who = principal(request);
      const active = request.userSession;
      if (!active) return { kind: who.kind, id: who.id, name: who.name, role: who.role };
      const { user: _user, ...session } = sessionView(active.user, active.token, active.session, options);
      return {
        kind: who.kind,
        id: who.id,
        name: who.name,
        role: who.role,
        session,
      };
    },
  });

  api.route({
    ...sessionRoutes.signOut,
    handler: async (request, reply) => {
      const active = request.userSession;
      if (!active) throw new SettlenetError("NO_SESSION", "a bearer credential has no session to end", {});
      await signOut(active, modules);
      void reply.header("set-cookie", sessionCookie(NODE_SESSION_COOKIE, "", 0));
      return reply.status(204).send(null);
    },
  });
}
