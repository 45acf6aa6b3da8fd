/**
 * The node's HTTP API (Fastify): submit operations (single or batch), operation status, payments by
 * id and by merchant/payer/institution with cursor pagination, peers, health, metrics. Every route is
 * registered from its definition in the node API contract (core/api/), which also gives the OpenAPI
 * 3.1 document served at /openapi.json and the human docs at /docs. Built as an app without `listen`
 * so tests use `inject()`.
 */
import fastifyRateLimit from "@fastify/rate-limit";
import fastifySwagger from "@fastify/swagger";
import fastifySwaggerUi from "@fastify/swagger-ui";
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from "fastify";
import { jsonSchemaTransform, validatorCompiler, type ZodTypeProvider } from "fastify-type-provider-zod";
import type { Registry } from "prom-client";

import { BEARER_SCHEME, FORBIDDEN, NODE_CSRF_LABEL, NODE_SESSION_COOKIE, NODE_USER_ROLES, SESSION_SCHEME, UNAUTHENTICATED } from "../../core/api/auth.js";
import { CSRF_HEADER, SAFE_METHODS, cookieValue, csrfTokenMatches, headerValue } from "../../core/auth/sessions.js";
import { changeRoutes } from "../../core/api/changes.js";
import { BATCH_TOO_LARGE, MAX_BATCH, NODE_API_COMPONENTS, RELAY_BACKLOG, RETRY_AFTER_HEADER, operationRoutes, submitBodySchema, type SubmitOutcome } from "../../core/api/operations.js";
import { paymentRoutes } from "../../core/api/payments.js";
import { NODE_API_DESCRIPTION, NODE_API_TAGS, accessOf } from "../../core/api/routes.js";
import { serviceRoutes, type HealthReport, type PeerInfo } from "../../core/api/service.js";
import { SettlenetError } from "../../core/errors.js";
import type { TlsCredentials } from "../../core/http/tls.js";
import { CONSOLE_ASSETS_PREFIX, registerConsolePages } from "../../core/http/console.js";
import { installProblemHandler, PROBLEM_CONTENT_TYPE, problemOf } from "../../core/http/problem.js";
import type { ListOptions } from "../../core/records.js";
import type { Logger, Storage } from "../services.js";
import type { Principal } from "./credentials.js";
import type { SessionAuthenticator } from "./session.js";
import { registerTokenRoutes, type TokenApiModules } from "./tokens.js";

export type { HealthReport, PeerInfo };

export interface NodeApiModules {
  logger: Logger;
  /** Who is calling: the principal of an Authorization header, or undefined (see credentials.ts). */
  credentials: { authenticate(header: string | undefined): Promise<Principal | undefined> };
  /** Signed-in users' sessions (session.ts); absent: only bearer credentials authenticate. */
  sessions?: SessionAuthenticator;
  metrics: Registry;
  storage: Storage;
  /** Validates, stores, gossips and enqueues; one outcome per input, in order. */
  submit(inputs: unknown[]): Promise<SubmitOutcome[]>;
  /** Admission control, asked before anything is validated or stored: refuse while the relay lags (absent: always admit). */
  admission?: () => { refuse: false } | { refuse: true; retryAfterSeconds: number; lagMs: number; queueGas: number };
  peers(): PeerInfo[];
  health(): Promise<HealthReport>;
  /** The payment as the escrow stores it now, straight from the chain (undefined if unknown). */
  onChainPayment(paymentId: string): Promise<{ status: string; amount: string; refunded: string; deadline: number } | undefined>;
  /** Further route sets (audit, settlement, ...) registered on the same app after the core routes. */
  routes?: ((app: FastifyInstance) => void)[];
  /** False while the node catches up (chain and peers): every route but health, metrics, peers and the docs answers 503 NOT_READY. */
  ready?: () => boolean;
  /** Settlement token reads (GET /v1/tokens...); absent: no token routes. */
  tokens?: TokenApiModules;
}

type OpenApiSchemas = NonNullable<NonNullable<fastifySwagger.OpenAPIV3_2.Document["components"]>["schemas"]>;

/** Routes that answer while the node is not ready (besides the docs under /docs/). */
const OPEN_WHILE_SYNCING: ReadonlySet<string> = new Set(["/health", "/metrics", "/v1/peers", "/openapi.json"]);

export interface NodeApiOptions {
  /** Largest accepted request body in bytes. */
  bodyLimit?: number;
  /** Most operations in one batch submission. */
  maxBatch?: number;
  /** Serve HTTPS with this certificate and key (PEM). */
  tls?: TlsCredentials;
  /** Serve the built console (console/dist) at /console/ for people who sign in; absent: no console. */
  console?: { dir: string; network: ConsoleNetwork };
}

/** What the console's pages need to build signed operations: the chain and the contracts' addresses. */
export interface ConsoleNetwork {
  chainId: string;
  escrow: string;
  ledger: string;
}

/** The console's pages and assets: public (they hold no data; every API call they make is authenticated). */
export const CONSOLE_PREFIX = "/console";
export function isConsolePath(path: string): boolean {
  return path === CONSOLE_PREFIX || path.startsWith(`${CONSOLE_PREFIX}/`) || path.startsWith(CONSOLE_ASSETS_PREFIX);
}

/** A registered route; `documented` unless hidden from the OpenAPI document (the document itself, docs assets). */
export interface NodeApiRoute {
  method: string;
  url: string;
  documented: boolean;
}

declare module "fastify" {
  interface FastifyInstance {
    /** Every route the node API registered (for the OpenAPI completeness check). */
    nodeApiRoutes: readonly NodeApiRoute[];
  }
  interface FastifyRequest {
    /** The authenticated caller (set before any handler runs; absent only on /health). */
    principal?: Principal;
  }
}

/** The caller of a request that went through authentication (every route but /health). */
export function principalOf(request: { principal?: Principal }): Principal {
  if (!request.principal) throw new SettlenetError("INTERNAL", "request was not authenticated");
  return request.principal;
}

const CSRF_TOKEN_INVALID = "CSRF_TOKEN_INVALID";

function refusal(code: typeof UNAUTHENTICATED | typeof FORBIDDEN | typeof CSRF_TOKEN_INVALID, instance: string) {
  if (code === UNAUTHENTICATED) return { type: "https://settlenet.dev/problems/unauthenticated", title: "a valid node API credential or session is required", status: 401, code, instance };
  if (code === CSRF_TOKEN_INVALID) return { type: "https://settlenet.dev/problems/csrf_token_invalid", title: `a request that changes state with a session needs the session's CSRF token in ${CSRF_HEADER}`, status: 403, code, instance };
  return { type: "https://settlenet.dev/problems/forbidden", title: "this credential's role may not call this route", status: 403, code, instance };
}

/** Builds the node API; does not listen. */
export async function buildNodeApi(options: NodeApiOptions, modules: NodeApiModules): Promise<FastifyInstance> {
  // The instance's server type differs with TLS; the routes and hooks do not care which it is.
  const app = Fastify({
    https: options.tls ?? null,
    loggerInstance: modules.logger as FastifyBaseLogger,
    bodyLimit: options.bodyLimit ?? 1024 * 1024,
    logController: new LogController({ disableRequestLogging: true }),
    // Kept-alive client connections must not hold up a node's shutdown.
    forceCloseConnections: true,
  }) as unknown as FastifyInstance;
  const registered: NodeApiRoute[] = [];
  app.decorate("nodeApiRoutes", registered);
  app.decorateRequest("principal", undefined);
  app.decorateRequest("userSession", undefined);
  app.addHook("onRoute", (route) => {
    for (const method of [route.method].flat()) {
      registered.push({ method, url: route.url, documented: !(route.schema as { hide?: boolean } | undefined)?.hide });
    }
  });
  app.setValidatorCompiler(validatorCompiler);
  // Answers are the typed records themselves, sent as JSON: re-checking each one against its schema
  // would cost CPU on the hot path for nothing (clients parse them; the contract tests check them).
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  installProblemHandler(app);

  await app.register(fastifySwagger, {
    openapi: {
      openapi: "3.1.0",
      info: { title: "Settlenet node", version: "1.0.0", description: NODE_API_DESCRIPTION },
      tags: NODE_API_TAGS,
      components: {
        schemas: NODE_API_COMPONENTS as OpenApiSchemas,
        securitySchemes: {
          [BEARER_SCHEME]: { type: "http", scheme: "bearer", description: "A node API credential (snc_<id>_<secret>) bound to one role" },
          [SESSION_SCHEME]: { type: "apiKey", in: "cookie", name: NODE_SESSION_COOKIE, description: `A signed-in user's session (POST /v1/session); POST, PUT and DELETE also need its CSRF token in ${CSRF_HEADER}` },
        },
      },
    },
    transform: (document) => {
      const transformed = jsonSchemaTransform(document);
      const access = accessOf((document.schema as { operationId?: string } | undefined)?.operationId);
      if (access === undefined || access === "public") return transformed;
      const schema = transformed.schema as Record<string, unknown>;
      const roles = `Roles: ${access.join(", ")}.`;
      const people = access.some((role) => (NODE_USER_ROLES as readonly string[]).includes(role));
      return {
        ...transformed,
        schema: { ...schema, security: [{ [BEARER_SCHEME]: [] }, ...(people ? [{ [SESSION_SCHEME]: [] }] : [])], description: typeof schema["description"] === "string" ? `${schema["description"]}\n\n${roles}` : roles },
      };
    },
  });
  await app.register(fastifySwaggerUi, { routePrefix: "/docs" });
  // Not global: only sign-in takes a budget per client address (session.ts).
  await app.register(fastifyRateLimit, { global: false });

  const api = app.withTypeProvider<ZodTypeProvider>();
  // Before readiness and before any body is parsed: an unauthenticated caller learns nothing.
  app.addHook("onRequest", async (request, reply) => {
    const path = request.url.split("?")[0] ?? "";
    const access = accessOf(request.routeOptions.schema?.operationId) ?? (path === "/health" || isConsolePath(path) ? "public" : undefined);
    if (access === "public") return;
    // A bearer credential when the request carries one; else a session cookie (browsers), whose
    // state-changing requests must also carry the CSRF token that a page of another origin cannot read.
    let principal: Principal | undefined;
    const sessionToken = request.headers.authorization === undefined && modules.sessions ? cookieValue(request.headers.cookie, NODE_SESSION_COOKIE) : undefined;
    if (sessionToken !== undefined && modules.sessions) {
      const signedIn = await modules.sessions.authenticate(sessionToken);
      if (signedIn && !SAFE_METHODS.has(request.method) && !csrfTokenMatches(sessionToken, NODE_CSRF_LABEL, headerValue(request.headers[CSRF_HEADER]))) {
        return reply.status(403).type(PROBLEM_CONTENT_TYPE).send(refusal(CSRF_TOKEN_INVALID, request.url));
      }
      principal = signedIn?.principal;
      if (signedIn) request.userSession = signedIn.active;
    } else {
      principal = await modules.credentials.authenticate(request.headers.authorization);
    }
    if (!principal) {
      return reply.status(401).header("www-authenticate", 'Bearer realm="settlenet-node"').type(PROBLEM_CONTENT_TYPE).send(refusal(UNAUTHENTICATED, request.url));
    }
    // Routes outside the contract (the OpenAPI document and /docs, unknown paths) take any valid credential.
    if (access !== undefined && !access.includes(principal.role)) {
      return reply.status(403).type(PROBLEM_CONTENT_TYPE).send({ ...refusal(FORBIDDEN, request.url), role: principal.role });
    }
    request.principal = principal;
  });
  const ready = modules.ready;
  if (ready) {
    app.addHook("onRequest", async (request, reply) => {
      const path = request.url.split("?")[0] ?? "";
      if (ready() || OPEN_WHILE_SYNCING.has(path) || path.startsWith("/docs") || isConsolePath(path)) return;
      return reply
        .status(503)
        .type(PROBLEM_CONTENT_TYPE)
        .send({ type: "https://settlenet.dev/problems/not_ready", title: "the node is catching up with the chain and its peers", status: 503, code: "NOT_READY", instance: request.url });
    });
  }
  api.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());

  const { submitOperations, getOperation } = operationRoutes;
  const maxBatch = options.maxBatch ?? MAX_BATCH;
  api.route({
    ...submitOperations,
    // The contract's body bounds batches at its maximum; this node may take fewer.
    schema: { ...submitOperations.schema, body: submitBodySchema(maxBatch) },
    // Before the body schema and anything else looks at the items: an oversized batch costs nothing.
    preValidation: async (request, reply) => {
      const items = (request.body as { operations?: unknown } | null)?.operations;
      if (!Array.isArray(items) || items.length <= maxBatch) return;
      const problem = problemOf(new SettlenetError(BATCH_TOO_LARGE, `a batch holds at most ${maxBatch} operations; nothing was stored`, { max: maxBatch, received: items.length }), request.url);
      return reply.status(problem.status).type(PROBLEM_CONTENT_TYPE).send(problem);
    },
    handler: async (request, reply) => {
      const body = request.body as Record<string, unknown>;
      const batch = Array.isArray(body["operations"]) && Object.keys(body).length === 1;
      const inputs = batch ? (body["operations"] as unknown[]) : [body];
      // Before anything is validated or stored: a refused request leaves no trace to clean up.
      const admission = modules.admission?.();
      if (admission?.refuse) {
        const { retryAfterSeconds, lagMs, queueGas } = admission;
        const problem = problemOf(
          new SettlenetError(RELAY_BACKLOG, "the node's relay lags behind; nothing was stored: submit again after Retry-After seconds", { retryAfterSeconds, lagMs, queueGas }),
          request.url,
        );
        return reply.status(problem.status).header(RETRY_AFTER_HEADER, String(retryAfterSeconds)).type(PROBLEM_CONTENT_TYPE).send(problem);
      }
      const outcomes = await modules.submit(inputs);
      if (!batch) {
        const [outcome] = outcomes;
        if (!outcome) throw new SettlenetError("INTERNAL", "no outcome");
        if (outcome.accepted) return reply.status(202).send({ id: outcome.id, status: "accepted" as const });
        const problem = problemOf(outcome.error);
        return reply.status(problem.status).type(PROBLEM_CONTENT_TYPE).send(problem);
      }
      const results = outcomes.map((outcome) => {
        if (outcome.accepted) return { id: outcome.id, status: "accepted" as const };
        const problem = problemOf(outcome.error);
        return { id: outcome.id, status: "refused" as const, code: problem.code, problem };
      });
      const accepted = results.filter((r) => r.status === "accepted").length;
      return reply.status(accepted > 0 ? 202 : 422).send({ accepted, refused: results.length - accepted, results });
    },
  });

  api.route({
    ...getOperation,
    handler: async (request) => {
      const op = await modules.storage.operations.get(request.params.id);
      if (!op) throw new SettlenetError("OPERATION_NOT_FOUND", `no operation ${request.params.id}`, { id: request.params.id });
      return op;
    },
  });

  api.route({
    ...paymentRoutes.getPayment,
    handler: async (request) => {
      const id = request.params.id;
      const [payment, operations, onChain] = await Promise.all([
        modules.storage.payments.get(id),
        modules.storage.operations.listByPayment(id),
        modules.onChainPayment(id),
      ]);
      if (!payment && operations.length === 0 && !onChain) {
        throw new SettlenetError("PAYMENT_NOT_FOUND", `no payment ${id}`, { id });
      }
      return { paymentId: id, payment: payment ?? null, onChain: onChain ?? null, operations };
    },
  });

  api.route({
    ...paymentRoutes.listPayments,
    handler: async (request) => {
      const { merchant, payer, institution, limit, cursor, from, to } = request.query;
      const list: ListOptions = { limit, ...(cursor ? { cursor } : {}), ...(from !== undefined ? { from } : {}), ...(to !== undefined ? { to } : {}) };
      const filters = [merchant, payer, institution].filter((v) => v !== undefined).length;
      if (filters > 1) throw new SettlenetError("MALFORMED", "filter by one of merchant, payer or institution", {});
      const repo = modules.storage.payments;
      if (merchant) return repo.listByMerchant(merchant, list);
      if (payer) return repo.listByPayer(payer, list);
      if (institution) return repo.listByInstitution(institution, list);
      return repo.listByTime(list);
    },
  });

  api.route({
    ...changeRoutes.listChanges,
    handler: async (request, reply) => {
      const feed = modules.storage.changes;
      const { after, limit, waitMs } = request.query;
      const position = after === undefined ? undefined : feed.position(after);
      if (waitMs > 0) {
        // Long polling: held until a change follows the cursor, the wait ends or the client goes away.
        const gone = new AbortController();
        const onClose = () => gone.abort();
        reply.raw.once("close", onClose);
        try {
          await feed.waitAfter(position?.seq ?? 0, waitMs, gone.signal);
        } finally {
          reply.raw.off("close", onClose);
        }
      }
      const page = await feed.page(position, limit);
      return { changes: page.changes, next: feed.cursor(page.next), latest: feed.cursor(page.latest) };
    },
  });

  api.route({ ...serviceRoutes.listPeers, handler: async () => ({ peers: modules.peers() }) });

  if (modules.tokens) registerTokenRoutes(app, modules.tokens);

  api.route({
    ...serviceRoutes.health,
    handler: async (_request, reply) => {
      const report = await modules.health();
      return reply.status(report.ready ? 200 : 503).send(report);
    },
  });

  api.route({
    ...serviceRoutes.metrics,
    handler: async (_request, reply) => reply.type(modules.metrics.contentType).send(await modules.metrics.metrics()),
  });

  for (const register of modules.routes ?? []) register(app);

  if (options.console) {
    const { dir, network } = options.console;
    api.get(`${CONSOLE_PREFIX}/network.json`, { schema: { hide: true } }, async () => network);
    const built = await registerConsolePages(app, { dir, pages: [CONSOLE_PREFIX, `${CONSOLE_PREFIX}/*`] });
    if (!built) app.log.warn({ dir }, "the console is not built: /console answers CONSOLE_NOT_BUILT; run `npm run console:build`");
  }

  return app;
}
