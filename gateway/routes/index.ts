/**
 * Every route of the gateway, one folder per resource. Outside /v1: service status, metrics and the
 * OpenAPI document (service/), the bank's signed callbacks (bank/) and the admin API (admin/, under
 * /admin/v1 with an admin credential), the dashboard's sessions, users and keys (dashboard/, under
 * /dashboard/api), the hosted checkout's public routes (checkout/, under /v1/checkout, the payer's
 * signatures being the authority) and the console's pages (console/). The /v1 scope is the merchant
 * API: authentication (signature or session) → Idempotency-Key presence (money-moving POSTs) →
 * per-merchant rate limit →
 * Idempotency-Key → the resource's route.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";

import { SettlenetError } from "../../core/errors.js";
import { adminRoutes } from "./admin/index.js";
import { balanceRoutes } from "./balance/index.js";
import { bankRoutes } from "./bank/index.js";
import { dashboardRoutes } from "./dashboard/index.js";
import { checkoutRoutes } from "./checkout/index.js";
import { consoleRoutes } from "./console/index.js";
import { disputeRoutes } from "./disputes/index.js";
import { eventRoutes } from "./events/index.js";
import { paymentRoutes } from "./payments/index.js";
import { requiredIdempotencyHeaders } from "./schemas.js";
import { payoutRoutes } from "./payouts/index.js";
import { reportRoutes } from "./reports/index.js";
import { metricsRoutes, serviceRoutes } from "./service/index.js";
import { statementRoutes } from "./statements/index.js";
import { topupRoutes } from "./topups/index.js";
import { transferRoutes } from "./transfers/index.js";
import { webhookEndpointRoutes } from "./webhook-endpoints/index.js";

export interface RoutesOptions {
  /** Per-merchant request budget of the /v1 scope. */
  rateLimit: { max: number; timeWindowMs: number };
  /** Per client address budget of /v1, /admin/v1, /metrics and /dashboard/api, applied before authentication (none if absent). */
  addressRateLimit?: { max: number; timeWindowMs: number } | undefined;
  /** Per client address budget of sign-ins and invitation acceptances. */
  signInRateLimit: { max: number; timeWindowMs: number };
  /** Per client address budget of the hosted checkout's public routes. */
  checkoutRateLimit: { max: number; timeWindowMs: number };
  /** The console's build output, served at /checkout/:id, /dashboard and /assets/. */
  consoleDir: string;
  /** The gateway's URL as payers reach it (default: the request's protocol and Host). */
  publicUrl?: string | undefined;
}

declare module "fastify" {
  interface FastifyInstance {
    /** The hosted checkout page of payment `id`, as the payer opens it. */
    checkoutUrl: (request: FastifyRequest, id: string) => string;
  }
}

/** The per-address limit as an onRequest hook: it runs before authentication spends any work. */
function addressLimit(app: FastifyInstance, limit: RoutesOptions["addressRateLimit"]) {
  if (!limit) return undefined;
  return app.rateLimit({
    max: limit.max,
    timeWindow: limit.timeWindowMs,
    keyGenerator: (request) => `address:${request.ip}`,
    errorResponseBuilder: (_request, context) =>
      new SettlenetError("RATE_LIMITED", `rate limit of ${context.max} requests per client address exceeded, retry in ${context.after}`, {
        limit: context.max,
        retryAfterSeconds: Math.ceil(context.ttl / 1000),
      }),
  });
}

/** The signed merchant API. */
const v1: FastifyPluginAsyncZod<RoutesOptions> = async (scope, options) => {
  const perAddress = addressLimit(scope, options.addressRateLimit);
  if (perAddress) scope.addHook("onRequest", perAddress);
  scope.addHook("preValidation", scope.authenticateMerchantApi);
  // Routes whose headers schema requires the key refuse a request without one before its body is
  // looked at, so the answer does not depend on what else is wrong with it.
  scope.addHook("preValidation", async (request) => {
    if (request.routeOptions.schema?.headers === requiredIdempotencyHeaders && request.headers["idempotency-key"] === undefined) {
      throw new SettlenetError("IDEMPOTENCY_KEY_REQUIRED", "this request moves money or changes a payment: send an Idempotency-Key header", {});
    }
  });
  scope.addHook(
    "preHandler",
    scope.rateLimit({
      max: options.rateLimit.max,
      timeWindow: options.rateLimit.timeWindowMs,
      keyGenerator: (request) => `merchant:${request.merchant?.id ?? request.ip}`,
      errorResponseBuilder: (_request, context) =>
        new SettlenetError("RATE_LIMITED", `rate limit of ${context.max} requests exceeded, retry in ${context.after}`, {
          limit: context.max,
          retryAfterSeconds: Math.ceil(context.ttl / 1000),
        }),
    }),
  );
  scope.addHook("preHandler", scope.idempotency.preHandler);
  scope.addHook("onSend", scope.idempotency.onSend);
  await scope.register(paymentRoutes);
  await scope.register(disputeRoutes);
  await scope.register(balanceRoutes);
  await scope.register(payoutRoutes);
  await scope.register(topupRoutes);
  await scope.register(transferRoutes);
  await scope.register(webhookEndpointRoutes);
  await scope.register(eventRoutes);
  await scope.register(statementRoutes);
  await scope.register(reportRoutes);
};

/** The admin API and /metrics: an admin credential on every route. */
const admin: FastifyPluginAsyncZod<Pick<RoutesOptions, "addressRateLimit"> & { api: boolean }> = async (scope, options) => {
  const perAddress = addressLimit(scope, options.addressRateLimit);
  if (perAddress) scope.addHook("onRequest", perAddress);
  scope.addHook("preValidation", scope.authenticateAdmin);
  await scope.register(options.api ? adminRoutes : metricsRoutes);
};

/** The dashboard's own API (sessions, users, API keys); the console uses /v1 for the rest. */
const dashboard: FastifyPluginAsyncZod<RoutesOptions> = async (scope, options) => {
  const perAddress = addressLimit(scope, options.addressRateLimit);
  if (perAddress) scope.addHook("onRequest", perAddress);
  await scope.register(dashboardRoutes, { signInRateLimit: options.signInRateLimit });
};

/** Registers every route; the app's plugins (services, auth, idempotency, rate limit) come first. */
export async function routes(app: FastifyInstance, options: RoutesOptions): Promise<void> {
  const base = options.publicUrl?.replace(/\/+$/, "");
  app.decorate("checkoutUrl", (request: FastifyRequest, id: string) => `${base ?? `${request.protocol}://${request.host}`}/checkout/${id}`);
  await app.register(serviceRoutes);
  await app.register(bankRoutes);
  await app.register(v1, { prefix: "/v1", ...options });
  await app.register(dashboard, { prefix: "/dashboard/api", ...options });
  await app.register(checkoutRoutes, { prefix: "/v1/checkout", rateLimit: options.checkoutRateLimit });
  await app.register(consoleRoutes, { dir: options.consoleDir });
  await app.register(admin, { prefix: "/admin/v1", api: true, addressRateLimit: options.addressRateLimit });
  await app.register(admin, { api: false, addressRateLimit: options.addressRateLimit });
}
