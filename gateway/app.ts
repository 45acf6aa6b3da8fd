/**
 * The merchant gateway as a Fastify app (no `listen` here, so tests use `inject()` or listen on an
 * ephemeral port): zod schemas through the zod type provider, OpenAPI 3.1 at /openapi.json and human
 * docs at /docs generated from them, one problem+json error handler, and the signed /v1 scope
 * (authentication → per-merchant rate limit → Idempotency-Key → routes).
 */
import { randomBytes } from "node:crypto";

import fastifyRateLimit from "@fastify/rate-limit";
import fastifySwagger from "@fastify/swagger";
import fastifySwaggerUi from "@fastify/swagger-ui";
import type { HDNodeWallet, Wallet } from "ethers";
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from "fastify";
import { jsonSchemaTransform, serializerCompiler, validatorCompiler, type FastifyPluginAsyncZod, type ZodTypeProvider } from "fastify-type-provider-zod";
import type { Logger } from "pino";
import { Registry } from "prom-client";

import { SettlenetError } from "../core/errors.js";
import type { Deployment } from "../core/protocol/deployment.js";
import { merchantAuth } from "./plugins/auth.js";
import { idempotencyHooks } from "./plugins/idempotency.js";
import { GATEWAY_CODES, installProblemHandler } from "./plugins/problem.js";
import { paymentRoutes } from "./routes/payments/index.js";
import { healthView } from "./routes/payments/schemas.js";
import { webhookRoutes } from "./routes/webhooks/index.js";
import type { ChainReader } from "./adapters/chain.js";
import { reconcileConfigSchema, webhookConfigSchema, type OrderDefaults } from "./config.js";
import type { NodeApiClient } from "../core/api/client.js";
import { PaymentService } from "./domain/payments.js";
import { Reconciler, type ReconcileOptions } from "./jobs/reconciler.js";
import type { SecretBox } from "./domain/secrets.js";
import { bankCallbackRoutes, moneyRoutes } from "./routes/money/index.js";
import type { BankAdapter } from "./adapters/bank.js";
import type { MoneyChain } from "./adapters/money-chain.js";
import { MoneyService } from "./domain/money.js";
import { PayerActionService } from "./domain/payer-actions.js";
import type { GatewayStorage } from "./storage/db.js";
import { WebhookDispatcher, WebhookService, type WebhookOptions } from "./jobs/webhooks.js";
import { statementRoutes } from "./routes/statements/index.js";
import { reportRoutes } from "./routes/reports/index.js";
import { keeperConfigSchema } from "./config.js";
import { assertNotFrozen } from "./domain/freeze.js";
import { ReleaseKeeper, type KeeperOptions } from "./jobs/keeper.js";

export interface GatewayAppOptions {
  deployment: Deployment;
  orders: OrderDefaults;
  rateLimit: { max: number; timeWindowMs: number };
  bodyLimit: number;
  clockSkewSeconds: number;
  idempotencyTtlSeconds: number;
  /** How often expired nonces and idempotency records are pruned (0: never). */
  pruneIntervalMs?: number;
  /** Webhook delivery (defaults: config.ts webhookConfigSchema). */
  webhooks?: Partial<WebhookOptions>;
  /** The dropped-order reconciler (defaults: config.ts reconcileConfigSchema). */
  reconcile?: Partial<ReconcileOptions>;
  /** How often open payouts, top-ups and payer actions are advanced (0: only on requests and bank settlements). */
  moneyTickMs?: number;
  /** The auto-release keeper (defaults: config.ts keeperConfigSchema); runs only with money modules (chain time). */
  keeper?: Partial<KeeperOptions>;
}

/** What money movement and payer actions need; without it those routes answer MONEY_NOT_CONFIGURED. */
export interface GatewayMoneyModules {
  chain: MoneyChain;
  /** The custodian's signing key (mints and burns). */
  custodian?: Wallet | HDNodeWallet | undefined;
  bank?: BankAdapter | undefined;
}

export interface GatewayAppModules {
  storage: GatewayStorage;
  secrets: SecretBox;
  node: NodeApiClient;
  chain: ChainReader;
  logger: Logger;
  /** Clock in unix ms. */
  now?: () => number;
  money?: GatewayMoneyModules;
  /** Prometheus registry served at /metrics (a fresh one if absent). */
  metrics?: Registry;
}

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
    /** The webhook dispatcher (runs from onReady to onClose). */
    webhookDispatcher: WebhookDispatcher;
    /** The dropped-order reconciler (runs from onReady to onClose). */
    reconciler: Reconciler;
    /** The auto-release keeper (runs from onReady to onClose), absent without money modules. */
    releaseKeeper: ReleaseKeeper | undefined;
  }
}

const apiDescription = (skewSeconds: number) => `Merchant API of a Settlenet gateway.

Every /v1 request is signed with an API key: headers \`Settlenet-Key-Id\`, \`Settlenet-Timestamp\` (unix
seconds, within ±${skewSeconds} s), \`Settlenet-Nonce\` (16-128 of [A-Za-z0-9_-], never reused within the window) and
\`Settlenet-Signature\` = \`v1=\` + hex HMAC-SHA256(secret, METHOD + "\\n" + path?query + "\\n" + timestamp +
"\\n" + nonce + "\\n" + hex sha256(body)). Every POST accepts \`Idempotency-Key\`. Errors are RFC 9457
problem documents with a stable \`code\`:

${Object.entries(GATEWAY_CODES)
  .map(([code, { status, summary }]) => `- \`${code}\` (${status}): ${summary}`)
  .join("\n")}

Refusals from the institution node keep the node's code and status.`;

/** Builds the gateway app; does not listen. */
export async function buildApp(options: GatewayAppOptions, modules: GatewayAppModules): Promise<FastifyInstance> {
  const now = modules.now ?? Date.now;
  const app = Fastify({
    loggerInstance: modules.logger as FastifyBaseLogger,
    bodyLimit: options.bodyLimit,
    // Requests are not logged one by one (they carry merchant data); failures are, by the error handler.
    logController: new LogController({ disableRequestLogging: true }),
    // Kept-alive client connections must not hold up the gateway's shutdown.
    forceCloseConnections: true,
  });
  const routes: GatewayRoute[] = [];
  app.decorate("gatewayRoutes", routes);
  app.addHook("onRoute", (route) => {
    for (const method of [route.method].flat()) {
      routes.push({ method, url: route.url, documented: !(route.schema as { hide?: boolean } | undefined)?.hide });
    }
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  installProblemHandler(app);

  // Keep the raw bytes: the request signature covers the body exactly as sent.
  app.decorateRequest("rawBody", undefined);
  const parseJson = app.getDefaultJsonParser("error", "error");
  // Bodies are JSON only (anything else is 415 UNSUPPORTED_MEDIA_TYPE).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("application/json", { parseAs: "buffer" }, (request, body, done) => {
    const raw = body as Buffer;
    request.rawBody = raw;
    if (raw.length === 0) {
      done(null, undefined);
      return;
    }
    parseJson(request, raw.toString("utf8"), done);
  });

  await app.register(fastifySwagger, {
    openapi: {
      openapi: "3.1.0",
      info: { title: "Settlenet merchant gateway", version: "1.0.0", description: apiDescription(options.clockSkewSeconds) },
      tags: [
        { name: "payments", description: "Payment orders" },
        { name: "service", description: "Service status" },
        { name: "money", description: "Balance, payouts, top-ups and transfers" },
        { name: "bank", description: "Callbacks of the custodian bank" },
        { name: "webhooks", description: "Webhook endpoints and their delivery logs (Standard Webhooks)" },
        { name: "events", description: "The merchant's event log" },
      ],
      components: {
        securitySchemes: {
          keyId: { type: "apiKey", in: "header", name: "Settlenet-Key-Id", description: "API key id (key_…)" },
          timestamp: { type: "apiKey", in: "header", name: "Settlenet-Timestamp", description: `Unix seconds, within ±${options.clockSkewSeconds} s of the gateway` },
          nonce: { type: "apiKey", in: "header", name: "Settlenet-Nonce", description: "Unique per key within the time window" },
          signature: { type: "apiKey", in: "header", name: "Settlenet-Signature", description: "v1=<hex HMAC-SHA256 of the canonical request>" },
        },
      },
    },
    transform: jsonSchemaTransform,
  });
  await app.register(fastifySwaggerUi, { routePrefix: "/docs" });
  await app.register(fastifyRateLimit, { global: false });

  const api = app.withTypeProvider<ZodTypeProvider>();
  api.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());
  api.get(
    "/health",
    { schema: { tags: ["service"], operationId: "health", summary: "Liveness", response: { 200: healthView } } },
    async () => ({ status: "ok" as const }),
  );

  const metrics = modules.metrics ?? new Registry();
  api.get("/metrics", { schema: { hide: true } }, async (_request, reply) => reply.type(metrics.contentType).send(await metrics.metrics()));

  // Set once the money service exists: a refund after release needs the merchant's allowance to the escrow.
  let moneyService: MoneyService | undefined;
  const payments = new PaymentService(
    { deployment: options.deployment, orders: options.orders },
    {
      ...modules,
      logger: modules.logger.child({ module: "payments" }),
      now,
      beforeRefundFromBalance: async (merchant, currency) => moneyService?.ensureEscrowAllowance(merchant, currency),
      // A frozen payer or merchant: refused here, before anything is stored or relayed.
      ...(modules.money
        ? {
            beforeAuthorize: (order: { terms: { token: string; payer: string; merchant: string } }) =>
              assertNotFrozen(moneyChain(modules.money), order.terms.token, [
                { role: "payer", address: order.terms.payer },
                { role: "merchant", address: order.terms.merchant },
              ]),
          }
        : {}),
    },
  );
  let payerActions: PayerActionService | undefined;
  if (modules.money) {
    const moneyModules = modules.money;
    const deadlineSeconds = options.orders.operationDeadlineSeconds;
    payerActions = new PayerActionService(
      { deployment: options.deployment, operationDeadlineSeconds: deadlineSeconds },
      { storage: modules.storage, node: modules.node, payments, money: moneyModules.chain, logger: modules.logger.child({ module: "payer-actions" }), now },
    );
    const actions = payerActions;
    moneyService = new MoneyService(
      { deployment: options.deployment, operationDeadlineSeconds: deadlineSeconds, tickMs: options.moneyTickMs ?? 1_000 },
      {
        storage: modules.storage,
        secrets: modules.secrets,
        node: modules.node,
        chain: modules.chain,
        money: moneyModules.chain,
        custodian: moneyModules.custodian,
        bank: moneyModules.bank,
        alsoOnTick: () => actions.sync(),
        logger: modules.logger.child({ module: "money" }),
        now,
      },
    );
    const started = moneyService;
    app.addHook("onReady", () => started.start());
    app.addHook("onClose", () => started.stop());
  }
  await app.register(bankCallbackRoutes, { bank: modules.money?.bank });
  const owner = randomBytes(8).toString("hex");
  const webhookOptions: WebhookOptions = { ...webhookConfigSchema.parse({}), ...options.webhooks };
  const webhookModules = { storage: modules.storage, secrets: modules.secrets, logger: modules.logger.child({ module: "webhooks" }), now };
  const webhooks = new WebhookService(webhookOptions, webhookModules);
  const dispatcher = new WebhookDispatcher(webhookOptions, { ...webhookModules, metrics });
  const reconciler = new Reconciler(
    { ...reconcileConfigSchema.parse({}), ...options.reconcile },
    { storage: modules.storage, node: modules.node, whenIdle: (id, fn) => payments.whenIdle(id, fn), logger: modules.logger.child({ module: "reconciler" }), metrics, now },
  );
  const keeper = modules.money
    ? new ReleaseKeeper(
        { ...keeperConfigSchema.parse({}), ...options.keeper, deployment: options.deployment },
        { storage: modules.storage, node: modules.node, payments, chain: modules.money.chain, logger: modules.logger.child({ module: "keeper" }), metrics, now },
      )
    : undefined;
  app.decorate("releaseKeeper", keeper);
  app.decorate("webhookDispatcher", dispatcher);
  app.decorate("reconciler", reconciler);

  const v1: FastifyPluginAsyncZod = async (scope) => {
    scope.decorateRequest("merchant", null);
    scope.decorateRequest("idempotencyKey", undefined);
    scope.addHook("preValidation", merchantAuth({ clockSkewSeconds: options.clockSkewSeconds }, { storage: modules.storage, secrets: modules.secrets, now }));
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
    const idempotency = idempotencyHooks({ ttlSeconds: options.idempotencyTtlSeconds, owner }, { storage: modules.storage, now });
    scope.addHook("preHandler", idempotency.preHandler);
    scope.addHook("onSend", idempotency.onSend);
    await scope.register(paymentRoutes, { payments });
    await scope.register(moneyRoutes, { payments, payerActions, money: moneyService });
    await scope.register(webhookRoutes, { webhooks });
    await scope.register(statementRoutes, { node: modules.node });
    await scope.register(reportRoutes, { storage: modules.storage, node: modules.node, bank: modules.money?.bank, deployment: options.deployment, now });
  };
  await app.register(v1, { prefix: "/v1" });

  const pruneEvery = options.pruneIntervalMs ?? 60_000;
  let timer: NodeJS.Timeout | undefined;
  const prune = async () => {
    const at = now();
    const [nonces, records] = await Promise.all([modules.storage.nonces.prune(at), modules.storage.idempotency.prune(at)]);
    if (nonces + records > 0) modules.logger.debug({ nonces, idempotencyRecords: records }, "pruned expired request records");
  };
  app.addHook("onReady", async () => {
    await prune();
    if (pruneEvery > 0) {
      timer = setInterval(() => prune().catch((error: unknown) => modules.logger.warn({ err: error }, "prune failed")), pruneEvery);
      timer.unref();
    }
  });
  app.addHook("onClose", async () => {
    if (timer) clearInterval(timer);
  });
  app.addHook("onReady", async () => {
    dispatcher.start();
    reconciler.start();
  });
  app.addHook("onClose", async () => {
    await Promise.all([dispatcher.stop(), reconciler.stop()]);
  });
  app.addHook("onReady", async () => keeper?.start());
  app.addHook("onClose", async () => keeper?.stop());
  return app;
}

function moneyChain(money: GatewayMoneyModules | undefined): MoneyChain {
  if (!money) throw new SettlenetError("MONEY_NOT_CONFIGURED", "this gateway was started without chain access for money movement");
  return money.chain;
}
