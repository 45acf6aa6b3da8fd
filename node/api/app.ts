/**
 * The node's HTTP API (Fastify, zod schemas): submit operations (single or batch), operation status,
 * payments by id and by merchant/payer/institution with cursor pagination, peers, health, metrics.
 * Built as an app without `listen` so tests use `inject()`.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from "fastify";
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from "fastify-type-provider-zod";
import type { Registry } from "prom-client";
import { z } from "zod";

import { SettlenetError } from "../../core/errors.js";
import type { Logger, Storage } from "../services.js";
import type { ListOptions } from "../../core/records.js";
import { installProblemHandler, PROBLEM_CONTENT_TYPE, type Problem } from "../../core/http/problem.js";
import { registerTokenRoutes, type TokenApiModules } from "./tokens.js";

/** Outcome of submitting one operation through the shared validation core. */
export type SubmitOutcome = { accepted: true; id: string } | { accepted: false; id?: string; problem: Problem };

export interface PeerInfo {
  peerId: string;
  operator?: string;
  name?: string;
}

export interface HealthReport {
  ready: boolean;
  role: "institution" | "regulator";
  peerId: string;
  operator: string;
  /** Chain head, last block the indexer has indexed, last block the registry mirror reflects. */
  chain: { head: number | null; indexed: number | null; registry: number };
  peers: number;
}

export interface NodeApiModules {
  logger: Logger;
  metrics: Registry;
  storage: Storage;
  /** Validates, stores, gossips and enqueues; one outcome per input, in order. */
  submit(inputs: unknown[]): Promise<SubmitOutcome[]>;
  peers(): PeerInfo[];
  health(): Promise<HealthReport>;
  /** The payment as the escrow stores it now, straight from the chain (undefined if unknown). */
  onChainPayment(paymentId: string): Promise<{ status: string; amount: string; refunded: string; deadline: number } | undefined>;
  /** Further route sets (audit, settlement, ...) registered on the same app after the core routes. */
  routes?: ((app: FastifyInstance) => void)[];
  /** False while the node catches up (chain and peers): every route but health, metrics and peers answers 503 NOT_READY. */
  ready?: () => boolean;
  /** Settlement token reads (GET /v1/tokens...); absent: no token routes. */
  tokens?: TokenApiModules;
}

/** Routes that answer while the node is not ready. */
const OPEN_WHILE_SYNCING: ReadonlySet<string> = new Set(["/health", "/metrics", "/v1/peers"]);

export interface NodeApiOptions {
  /** Largest accepted request body in bytes. */
  bodyLimit?: number;
  /** Most operations in one batch submission. */
  maxBatch?: number;
}

const hex32 = z.string().regex(/^0x[0-9a-fA-F]{64}$/, "expected 32 bytes as 0x-prefixed hex");
const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/, "expected a 0x address");
const listQuery = z.strictObject({
  merchant: address.optional(),
  payer: address.optional(),
  institution: address.optional(),
  from: z.coerce.number().int().nonnegative().optional(),
  to: z.coerce.number().int().nonnegative().optional(),
  cursor: z.string().max(512).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
});

/** Builds the node API; does not listen. */
export async function buildNodeApi(options: NodeApiOptions, modules: NodeApiModules): Promise<FastifyInstance> {
  const maxBatch = options.maxBatch ?? 500;
  const app = Fastify({
    loggerInstance: modules.logger as FastifyBaseLogger,
    bodyLimit: options.bodyLimit ?? 1024 * 1024,
    logController: new LogController({ disableRequestLogging: true }),
    // Kept-alive client connections must not hold up a node's shutdown.
    forceCloseConnections: true,
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  installProblemHandler(app);
  const api = app.withTypeProvider<ZodTypeProvider>();
  const ready = modules.ready;
  if (ready) {
    app.addHook("onRequest", async (request, reply) => {
      if (ready() || OPEN_WHILE_SYNCING.has(request.url.split("?")[0] ?? "")) return;
      return reply
        .status(503)
        .type(PROBLEM_CONTENT_TYPE)
        .send({ type: "https://settlenet.dev/problems/not_ready", title: "the node is catching up with the chain and its peers", status: 503, code: "NOT_READY", instance: request.url });
    });
  }

  api.post(
    "/v1/operations",
    { schema: { body: z.union([z.strictObject({ operations: z.array(z.unknown()).min(1).max(maxBatch) }), z.record(z.string(), z.unknown())]) } },
    async (request, reply) => {
      const body = request.body;
      const batch = Array.isArray(body["operations"]) && Object.keys(body).length === 1;
      const inputs = batch ? (body["operations"] as unknown[]) : [body];
      const outcomes = await modules.submit(inputs);
      if (!batch) {
        const [outcome] = outcomes;
        if (!outcome) throw new SettlenetError("INTERNAL", "no outcome");
        if (outcome.accepted) return reply.status(202).send({ id: outcome.id, status: "accepted" });
        return reply.status(outcome.problem.status).type(PROBLEM_CONTENT_TYPE).send(outcome.problem);
      }
      const results = outcomes.map((outcome) =>
        outcome.accepted
          ? { id: outcome.id, status: "accepted" as const }
          : { id: outcome.id, status: "refused" as const, code: outcome.problem.code, problem: outcome.problem },
      );
      const accepted = results.filter((r) => r.status === "accepted").length;
      return reply.status(accepted > 0 ? 202 : 422).send({ accepted, refused: results.length - accepted, results });
    },
  );

  api.get("/v1/operations/:id", { schema: { params: z.strictObject({ id: hex32 }) } }, async (request) => {
    const op = await modules.storage.operations.get(request.params.id);
    if (!op) throw new SettlenetError("OPERATION_NOT_FOUND", `no operation ${request.params.id}`, { id: request.params.id });
    return op;
  });

  api.get("/v1/payments/:id", { schema: { params: z.strictObject({ id: hex32 }) } }, async (request) => {
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
  });

  api.get("/v1/payments", { schema: { querystring: listQuery } }, async (request) => {
    const { merchant, payer, institution, limit, cursor, from, to } = request.query;
    const list: ListOptions = { limit, ...(cursor ? { cursor } : {}), ...(from !== undefined ? { from } : {}), ...(to !== undefined ? { to } : {}) };
    const filters = [merchant, payer, institution].filter((v) => v !== undefined).length;
    if (filters > 1) throw new SettlenetError("MALFORMED", "filter by one of merchant, payer or institution", {});
    const repo = modules.storage.payments;
    if (merchant) return repo.listByMerchant(merchant, list);
    if (payer) return repo.listByPayer(payer, list);
    if (institution) return repo.listByInstitution(institution, list);
    return repo.listByTime(list);
  });

  api.get("/v1/peers", async () => ({ peers: modules.peers() }));

  if (modules.tokens) registerTokenRoutes(app, modules.tokens);

  api.get("/health", async (_request, reply) => {
    const report = await modules.health();
    return reply.status(report.ready ? 200 : 503).send(report);
  });

  api.get("/metrics", async (_request, reply) => {
    return reply.type(modules.metrics.contentType).send(await modules.metrics.metrics());
  });

  for (const register of modules.routes ?? []) register(app);

  return app;
}
