/**
 * Admin authentication: `Authorization: Bearer <id>.<secret>` checked against the admin credentials
 * file (domain/admin-credentials.ts). A merchant's API key never passes, and a missing, unknown or
 * wrong token all answer the same 401 ADMIN_AUTH_FAILED. The plugin decorates the app with
 * `authenticateAdmin` (the preValidation hook of the /admin scope and of /metrics) and with the
 * modules the admin routes act through.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import fp from "fastify-plugin";

import { SettlenetError } from "../../../core/errors.js";
import { AdminCredentials } from "../../domain/admin-credentials.js";
import type { AdminActor } from "../../domain/merchants.js";
import type { SecretBox } from "../../domain/secrets.js";
import type { GatewayStorage } from "../../storage/db.js";

declare module "fastify" {
  interface FastifyInstance {
    /** Authenticates an admin request (a preValidation hook) and sets `request.admin`. */
    authenticateAdmin: (request: FastifyRequest) => Promise<void>;
    /** What admin routes act on. */
    adminModules: { storage: GatewayStorage; secrets: SecretBox; now: () => number };
  }
  interface FastifyRequest {
    /** The authenticated admin (set by `authenticateAdmin`). */
    admin: AdminActor | null;
  }
}

export interface AdminPluginOptions {
  /** The admin credentials file; without it every admin request is refused. */
  credentialsFile: string | undefined;
  modules: { storage: GatewayStorage; secrets: SecretBox; now: () => number };
}

/** The admin a route runs for (its scope authenticated it). */
export function adminOf(request: { admin: AdminActor | null }): AdminActor {
  if (!request.admin) throw new SettlenetError("INTERNAL", "route reached without an authenticated admin");
  return request.admin;
}

export const adminPlugin = fp<AdminPluginOptions>(
  async (app: FastifyInstance, { credentialsFile, modules }) => {
    const credentials = new AdminCredentials(credentialsFile);
    app.decorateRequest("admin", null);
    app.decorate("adminModules", modules);
    app.decorate("authenticateAdmin", async (request: FastifyRequest) => {
      const value = request.headers.authorization;
      const token = value?.startsWith("Bearer ") ? value.slice("Bearer ".length).trim() : undefined;
      const admin = credentials.verify(token);
      if (!admin) throw new SettlenetError("ADMIN_AUTH_FAILED", "admin credential missing or not valid", {});
      request.admin = admin;
    });
  },
  { name: "admin", fastify: "5.x" },
);
