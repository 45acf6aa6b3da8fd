/**
 * The merchant gateway as a Fastify app, assembled from plugins in the manner of fastify/demo (no
 * `listen` here, so tests use `inject()` or listen on an ephemeral port):
 *
 * - plugins/external: the JSON-only content-type parser that keeps the raw body, the OpenAPI 3.1
 *   document and /docs generated from the zod schemas, the rate limiter;
 * - plugins/app: the one problem+json error handler, the services (created once and decorated),
 *   merchant authentication (API key signature or dashboard session), Idempotency-Key, and the
 *   background jobs;
 * - routes: one folder per resource, the signed /v1 scope (authentication → per-merchant rate limit
 *   → Idempotency-Key → routes) and the unauthenticated service and bank callback routes.
 *
 * Each plugin declares the plugins it depends on, so a wrong order fails at start.
 */
import { fileURLToPath } from "node:url";

import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from "fastify";
import { serializerCompiler, validatorCompiler } from "fastify-type-provider-zod";
import { Registry } from "prom-client";

import type { GatewayAppModules, GatewayAppOptions } from "./options.js";
import { adminPlugin } from "./plugins/app/admin.js";
import { authPlugin } from "./plugins/app/auth.js";
import { idempotencyPlugin } from "./plugins/app/idempotency.js";
import { jobsPlugin } from "./plugins/app/jobs.js";
import { problemPlugin } from "./plugins/app/problem.js";
import { servicesPlugin } from "./plugins/app/services.js";
import { sessionPlugin } from "./plugins/app/session.js";
import { contentTypePlugin } from "./plugins/external/content-type.js";
import { openApiPlugin } from "./plugins/external/openapi.js";
import { rateLimitPlugin } from "./plugins/external/rate-limit.js";
import { countedCompilers, registerWorkMetrics, type HttpWork } from "./plugins/app/work.js";
import { routes } from "./routes/index.js";
import { isBuiltView } from "./routes/schemas.js";
import { DEFAULT_DASHBOARD_OPTIONS } from "./domain/users.js";

/** Where `npm run console:build` writes the console. */
export const CONSOLE_DIST = fileURLToPath(new URL("../console/dist", import.meta.url));

export type { GatewayAppModules, GatewayAppOptions, GatewayMoneyModules } from "./options.js";

/** A registered route; `documented` unless hidden from the OpenAPI document (docs assets). */
export interface GatewayRoute {
  method: string;
  url: string;
  documented: boolean;
}

declare module "fastify" {
  interface FastifyInstance {
    /** Every route the gateway registered (for the OpenAPI completeness check). */
    gatewayRoutes: readonly GatewayRoute[];
    /** The Prometheus registry served at /metrics. */
    metrics: Registry;
  }
}

/** Builds the gateway app; does not listen. */
export async function buildApp(options: GatewayAppOptions, modules: GatewayAppModules): Promise<FastifyInstance> {
  const now = modules.now ?? Date.now;
  const metrics = modules.metrics ?? new Registry();
  // The instance's server type differs with TLS; the routes and plugins do not care which it is.
  const app = Fastify({
    https: options.tls ?? null,
    loggerInstance: modules.logger as FastifyBaseLogger,
    bodyLimit: options.bodyLimit,
    // Requests are not logged one by one (they carry merchant data); failures are, by the error handler.
    logController: new LogController({ disableRequestLogging: true }),
    // Kept-alive client connections must not hold up the gateway's shutdown.
    forceCloseConnections: true,
  }) as unknown as FastifyInstance;
  const routesSeen: GatewayRoute[] = [];
  app.decorate("gatewayRoutes", routesSeen);
  app.addHook("onRoute", (route) => {
    for (const method of [route.method].flat()) {
      routesSeen.push({ method, url: route.url, documented: !(route.schema as { hide?: boolean } | undefined)?.hide });
    }
  });
  const httpWork: HttpWork = { validations: 0, answers: new Map() };
  // Views built field by field (routes/schemas.ts builtView) leave as they are; the rest is checked against its schema.
  const serializer: typeof serializerCompiler = (route) => (isBuiltView(route.schema) ? (data) => JSON.stringify(data) : serializerCompiler(route));
  const compilers = countedCompilers(validatorCompiler, serializer, httpWork);
  app.setValidatorCompiler(compilers.validator);
  app.setSerializerCompiler(compilers.serializer);
  app.decorate("metrics", metrics);
  app.decorate("httpWork", httpWork);
  registerWorkMetrics(metrics, { http: httpWork, storage: modules.storage.work, node: modules.node.work });

  // External plugins first: the app's plugins and routes build on them.
  await app.register(contentTypePlugin);
  await app.register(openApiPlugin, { clockSkewSeconds: options.clockSkewSeconds });
  await app.register(rateLimitPlugin);

  const { storage, secrets } = modules;
  await app.register(problemPlugin);
  await app.register(servicesPlugin, { options, modules: { ...modules, now } });
  await app.register(adminPlugin, { credentialsFile: options.adminCredentialsFile, modules: { storage, secrets, now } });
  await app.register(authPlugin, { clockSkewSeconds: options.clockSkewSeconds, modules: { storage, secrets, now } });
  await app.register(sessionPlugin, { options: { ...DEFAULT_DASHBOARD_OPTIONS, ...options.dashboard }, modules: { storage, secrets, now } });
  await app.register(idempotencyPlugin, { ttlSeconds: options.idempotencyTtlSeconds, modules: { storage, secrets, now } });
  await app.register(jobsPlugin, { options, modules: { ...modules, now, metrics } });

  await app.register(routes, {
    rateLimit: options.rateLimit,
    addressRateLimit: options.addressRateLimit,
    signInRateLimit: options.signInRateLimit ?? { max: 20, timeWindowMs: 60_000 },
    checkoutRateLimit: options.checkoutRateLimit ?? { max: 300, timeWindowMs: 60_000 },
    consoleDir: options.consoleDir ?? CONSOLE_DIST,
    publicUrl: options.publicUrl,
  });
  return app;
}
