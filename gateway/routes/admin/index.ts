/**
 * The admin API (`/admin/v1`, admin credential required, never a merchant's API key): API keys
 * (create, rotate, revoke, list), merchant suspension and reactivation while the gateway runs, a
 * merchant's dashboard owner, and the
 * audit log in which each of these changes lands with the admin who made it.
 */
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";

import { SettlenetError } from "../../../core/errors.js";
import { createApiKey, listApiKeys, merchantIdSchema, revokeApiKey, rotateApiKeys, setMerchantStatus } from "../../domain/merchants.js";
import { createOwner, emailSchema, passwordSchema } from "../../domain/users.js";
import { adminOf } from "../../plugins/app/admin.js";

const ADMIN = [{ adminBearer: [] }] as const;
const tags = ["admin"];
const merchantParam = z.strictObject({ merchant: merchantIdSchema });
const keyParam = z.strictObject({ merchant: merchantIdSchema, keyId: z.string().regex(/^key_[0-9a-f]{32}$/, "expected an API key id (key_…)") });

/** Registers the admin routes (the caller adds the admin authentication hook). */
export const adminRoutes: FastifyPluginAsyncZod = async (app) => {
  const act = (request: Parameters<typeof adminOf>[0]) => ({ ...app.adminModules, by: adminOf(request) });
  const existing = async (merchant: string) => {
    const record = await app.adminModules.storage.merchants.get(merchant);
    if (!record) throw new SettlenetError("MERCHANT_NOT_FOUND", `no merchant ${merchant}`, { merchantId: merchant });
    return record;
  };

  app.get("/merchants", { schema: { tags, security: ADMIN, operationId: "adminListMerchants", summary: "List merchants" } }, async () => ({
    object: "list" as const,
    items: (await app.adminModules.storage.merchants.list()).map((m) => ({ id: m.id, name: m.name, address: m.address, status: m.status })),
  }));

  app.post(
    "/merchants/:merchant/suspend",
    { schema: { tags, security: ADMIN, operationId: "adminSuspendMerchant", summary: "Suspend a merchant: every key is refused at once", params: merchantParam } },
    async (request) => setMerchantStatus(request.params.merchant, "suspended", act(request)),
  );
  app.post(
    "/merchants/:merchant/reactivate",
    { schema: { tags, security: ADMIN, operationId: "adminReactivateMerchant", summary: "Reactivate a suspended merchant", params: merchantParam } },
    async (request) => setMerchantStatus(request.params.merchant, "active", act(request)),
  );

  app.get(
    "/merchants/:merchant/keys",
    { schema: { tags, security: ADMIN, operationId: "adminListKeys", summary: "A merchant's API keys (never their secrets)", params: merchantParam } },
    async (request) => {
      await existing(request.params.merchant);
      return { object: "list" as const, items: await listApiKeys(request.params.merchant, app.adminModules) };
    },
  );
  app.post(
    "/merchants/:merchant/keys",
    { schema: { tags, security: ADMIN, operationId: "adminCreateKey", summary: "Create an API key (its secret is in this answer only)", params: merchantParam } },
    async (request, reply) => {
      await existing(request.params.merchant);
      const { retired: _none, ...key } = await createApiKey(request.params.merchant, act(request));
      return reply.status(201).send(key);
    },
  );
  app.post(
    "/merchants/:merchant/keys/rotate",
    {
      schema: {
        tags,
        security: ADMIN,
        operationId: "adminRotateKeys",
        summary: "A new API key; the merchant's other keys expire after the overlap",
        params: merchantParam,
        body: z.strictObject({ overlapSeconds: z.number().int().min(0).max(30 * 86_400).default(86_400) }).optional(),
      },
    },
    async (request, reply) => {
      await existing(request.params.merchant);
      return reply.status(201).send(await rotateApiKeys(request.params.merchant, request.body?.overlapSeconds ?? 86_400, act(request)));
    },
  );
  app.post(
    "/merchants/:merchant/keys/:keyId/revoke",
    { schema: { tags, security: ADMIN, operationId: "adminRevokeKey", summary: "Revoke an API key at once", params: keyParam } },
    async (request) => revokeApiKey(request.params.merchant, request.params.keyId, act(request)),
  );

  app.post(
    "/merchants/:merchant/owners",
    {
      schema: {
        tags,
        security: ADMIN,
        operationId: "adminCreateOwner",
        summary: "A dashboard owner for the merchant: invited (the one-time token in this answer), or with a password, enrolled (the otpauth:// URI in this answer)",
        params: merchantParam,
        body: z.strictObject({ email: emailSchema, password: passwordSchema.optional() }),
      },
    },
    async (request, reply) => {
      await existing(request.params.merchant);
      const { storage, secrets, now } = app.adminModules;
      const created = await createOwner(request.params.merchant, request.body, adminOf(request), { storage, secrets, now }, app.dashboard.options);
      // The TOTP secret leaves only inside the otpauth:// URI.
      const { totpSecret: _secret, ...shown } = "totpSecret" in created ? created : { ...created, totpSecret: undefined };
      return reply.status(201).send(shown);
    },
  );

  app.get(
    "/audit",
    {
      schema: {
        tags,
        security: ADMIN,
        operationId: "adminAuditLog",
        summary: "The audit log of admin actions, oldest first",
        querystring: z.strictObject({ after: z.coerce.number().int().min(0).optional(), limit: z.coerce.number().int().min(1).max(500).default(100) }),
      },
    },
    async (request) => {
      const page = await app.adminModules.storage.audit.list({ limit: request.query.limit, ...(request.query.after !== undefined ? { after: request.query.after } : {}) });
      return { object: "list" as const, items: page.entries, next: page.next ?? null };
    },
  );
  app.get("/audit/verify", { schema: { tags, security: ADMIN, operationId: "adminVerifyAudit", summary: "Walk the audit log's hash chain" } }, async () => app.adminModules.storage.audit.verify());
};
