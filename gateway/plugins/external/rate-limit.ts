/**
 * @fastify/rate-limit, not global: the signed /v1 scope applies it per merchant once the merchant is
 * authenticated (routes/index.ts), so one merchant's burst never spends another's budget.
 */
import fastifyRateLimit from "@fastify/rate-limit";
import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";

/** Makes `rateLimit()` available to the scopes that apply it. */
export const rateLimitPlugin = fp(
  async (app: FastifyInstance) => {
    await app.register(fastifyRateLimit, { global: false });
  },
  { name: "rate-limit", fastify: "5.x" },
);
