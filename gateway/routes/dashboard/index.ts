/**
 * The dashboard's own API under /dashboard/api: sign-in and sign-out, who is signed in, accepting an
 * invitation, and for owners the merchant's users and API keys. Everything else the console shows it
 * takes from /v1 with the session cookie and CSRF token (plugins/app/session.ts).
 */
import type { FastifyRequest } from "fastify";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";

import { SettlenetError } from "../../../core/errors.js";
import { createApiKey, listApiKeys, revokeApiKey, rotateApiKeys } from "../../domain/merchants.js";
import { acceptInvitation, csrfTokenOf, inviteUser, listUsers, removeUser, sessionExpiry, setRole, signIn, signOut, userActor, userView as viewOf } from "../../domain/users.js";
import { clearSessionCookie, setSessionCookie } from "../../plugins/app/session.js";
import { problemResponses } from "../schemas.js";
import { z } from "zod";

import {
  acceptBody,
  enrolmentView,
  invitationView,
  inviteBody,
  issuedKeyView,
  keyList,
  keyParam,
  removedView,
  revokedKeyView,
  roleBody,
  rotateBody,
  rotatedKeyView,
  sessionView,
  signInBody,
  userList,
  userParam,
  userView,
} from "./schemas.js";

const tags = ["dashboard"];
const SESSION = [{ sessionCookie: [], csrfToken: [] }] as const;
const common = { tags, security: SESSION } as const;
const withResponses = <T extends Record<number, unknown>>(ok: T) => ({ ...problemResponses, ...ok });

export interface DashboardRoutesOptions {
  /** Per client address budget of sign-in and invitation acceptance. */
  signInRateLimit: { max: number; timeWindowMs: number };
}

/** Registers the dashboard routes (the caller adds the per-address limit). */
export const dashboardRoutes: FastifyPluginAsyncZod<DashboardRoutesOptions> = async (app, routeOptions) => {
  const { options, modules } = app.dashboard;
  const signInLimit = app.rateLimit({
    max: routeOptions.signInRateLimit.max,
    timeWindow: routeOptions.signInRateLimit.timeWindowMs,
    keyGenerator: (request) => `signin:${request.ip}`,
    errorResponseBuilder: (_request, context) =>
      new SettlenetError("RATE_LIMITED", `at most ${context.max} sign-in attempts per client address, retry in ${context.after}`, { limit: context.max, retryAfterSeconds: Math.ceil(context.ttl / 1000) }),
  });
  const owner = async (request: FastifyRequest) => {
    await app.authenticateSession(request);
    const role = request.session?.user.role;
    if (role !== "owner") throw new SettlenetError("ROLE_FORBIDDEN", `the ${role ?? "anonymous"} role may not do this: owners manage users and API keys`, { role: role ?? null });
  };
  const activeOf = (request: FastifyRequest) => {
    if (!request.session) throw new SettlenetError("INTERNAL", "route reached without a session");
    return request.session;
  };

  app.post(
    "/session",
    {
      onRequest: signInLimit,
      schema: { tags, operationId: "dashboardSignIn", summary: "Sign in with e-mail, password and TOTP code; sets the session cookie", body: signInBody, response: withResponses({ 201: sessionView }) },
    },
    async (request, reply) => {
      const started = await signIn(request.body, modules, options);
      setSessionCookie(reply, started.token, options.sessionAbsoluteSeconds);
      return reply.status(201).send({ user: started.user, csrfToken: started.csrfToken, ...sessionExpiry(started.session, options) });
    },
  );
  app.get(
    "/session",
    { preValidation: app.authenticateSession, schema: { ...common, operationId: "dashboardSession", summary: "Who is signed in, and the session's CSRF token", response: withResponses({ 200: sessionView }) } },
    async (request) => {
      const active = activeOf(request);
      return { user: viewOf(active.user), csrfToken: csrfTokenOf(active.token), ...sessionExpiry(active.session, options) };
    },
  );
  app.delete(
    "/session",
    { preValidation: app.authenticateSession, schema: { ...common, operationId: "dashboardSignOut", summary: "Sign out: the session ends and the cookie is cleared", response: withResponses({ 204: z.null().describe("Signed out") }) } },
    async (request, reply) => {
      await signOut(activeOf(request), modules);
      clearSessionCookie(reply);
      return reply.status(204).send(null);
    },
  );

  app.post(
    "/invitations/accept",
    {
      onRequest: signInLimit,
      schema: { tags, operationId: "dashboardAcceptInvitation", summary: "Accept an invitation: set the password and enrol TOTP", body: acceptBody, response: withResponses({ 201: enrolmentView }) },
    },
    async (request, reply) => reply.status(201).send(await acceptInvitation(request.body.token, request.body.password, modules)),
  );

  app.get(
    "/users",
    { preValidation: owner, schema: { ...common, operationId: "dashboardListUsers", summary: "The merchant's users (owner)", response: withResponses({ 200: userList }) } },
    async (request) => ({ object: "list" as const, items: await listUsers(activeOf(request).user.merchantId, modules) }),
  );
  app.post(
    "/users",
    { preValidation: owner, schema: { ...common, operationId: "dashboardInviteUser", summary: "Invite a user with a role (owner); the token is in this answer only", body: inviteBody, response: withResponses({ 201: invitationView }) } },
    async (request, reply) => {
      const { user } = activeOf(request);
      return reply.status(201).send(await inviteUser(user.merchantId, request.body, userActor(user), modules, options));
    },
  );
  app.patch(
    "/users/:id",
    { preValidation: owner, schema: { ...common, operationId: "dashboardSetRole", summary: "Change a user's role (owner)", params: userParam, body: roleBody, response: withResponses({ 200: userView }) } },
    async (request) => {
      const { user } = activeOf(request);
      return setRole(user.merchantId, request.params.id, request.body.role, userActor(user), modules);
    },
  );
  app.delete(
    "/users/:id",
    { preValidation: owner, schema: { ...common, operationId: "dashboardRemoveUser", summary: "Remove a user and end its sessions (owner; never the last owner)", params: userParam, response: withResponses({ 200: removedView }) } },
    async (request) => {
      const { user } = activeOf(request);
      return removeUser(user.merchantId, request.params.id, userActor(user), modules);
    },
  );

  const keyModules = (request: FastifyRequest) => ({ storage: modules.storage, secrets: modules.secrets, now: modules.now, by: userActor(activeOf(request).user) });
  app.get(
    "/keys",
    { preValidation: owner, schema: { ...common, operationId: "dashboardListKeys", summary: "The merchant's API keys, never their secrets (owner)", response: withResponses({ 200: keyList }) } },
    async (request) => ({ object: "list" as const, items: await listApiKeys(activeOf(request).user.merchantId, modules) }),
  );
  app.post(
    "/keys",
    { preValidation: owner, schema: { ...common, operationId: "dashboardCreateKey", summary: "Create an API key; its secret is in this answer only (owner)", response: withResponses({ 201: issuedKeyView }) } },
    async (request, reply) => {
      const { retired: _none, ...key } = await createApiKey(activeOf(request).user.merchantId, keyModules(request));
      return reply.status(201).send(key);
    },
  );
  app.post(
    "/keys/rotate",
    { preValidation: owner, schema: { ...common, operationId: "dashboardRotateKeys", summary: "A new API key; the others expire after the overlap (owner)", body: rotateBody, response: withResponses({ 201: rotatedKeyView }) } },
    async (request, reply) => reply.status(201).send(await rotateApiKeys(activeOf(request).user.merchantId, request.body?.overlapSeconds ?? 86_400, keyModules(request))),
  );
  app.post(
    "/keys/:keyId/revoke",
    { preValidation: owner, schema: { ...common, operationId: "dashboardRevokeKey", summary: "Revoke an API key at once (owner)", params: keyParam, response: withResponses({ 200: revokedKeyView }) } },
    async (request) => revokeApiKey(activeOf(request).user.merchantId, request.params.keyId, keyModules(request)),
  );
};
