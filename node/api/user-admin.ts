/**
 * Operators manage the node's users online (GET, POST /v1/admin/users, POST …/:id/disable|enable,
 * DELETE …/:id): the same functions as the offline `settlenet node user` commands, with the caller as
 * the audit log's actor. An operator signed in as a user may not disable or remove itself, so a slip
 * does not end the only session that could undo it.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";

import { userRoutes } from "../../core/api/users.js";
import { SettlenetError } from "../../core/errors.js";
import { principalOf } from "./app.js";
import { actorOf } from "./credentials.js";
import { createUser, removeUser, setUserDisabled, userView, type UserModules } from "./users.js";

/** Registers the node-user admin routes. */
export function registerUserAdminRoutes(app: FastifyInstance, modules: UserModules): void {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const notSelf = (request: FastifyRequest, id: string) => {
    const who = principalOf(request);
    if (who.kind === "user" && who.id === id) throw new SettlenetError("NODE_USER_SELF", "an operator cannot disable or remove its own user: ask another operator", { id });
  };

  api.route({
    ...userRoutes.listNodeUsers,
    handler: async () => ({ users: (await modules.users.list()).map(userView) }),
  });

  api.route({
    ...userRoutes.createNodeUser,
    handler: async (request, reply) => reply.status(201).send(await createUser(request.body, actorOf(principalOf(request)), modules)),
  });

  for (const [route, disabled] of [
    [userRoutes.disableNodeUser, true],
    [userRoutes.enableNodeUser, false],
  ] as const) {
    api.route({
      ...route,
      handler: async (request) => {
        if (disabled) notSelf(request, request.params.id);
        return setUserDisabled(request.params.id, disabled, actorOf(principalOf(request)), modules);
      },
    });
  }

  api.route({
    ...userRoutes.removeNodeUser,
    handler: async (request) => {
      notSelf(request, request.params.id);
      const removed = await removeUser(request.params.id, actorOf(principalOf(request)), modules);
      return { id: removed.id, removed: true as const };
    },
  });
}
