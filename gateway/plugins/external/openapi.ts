/**
 * The OpenAPI 3.1 document generated from the routes' zod schemas (@fastify/swagger with the zod
 * type provider's transform), served at /openapi.json (routes/service) and as human docs at /docs
 * (@fastify/swagger-ui). Registered before any route, so that every route is in the document.
 */
import fastifySwagger from "@fastify/swagger";
import fastifySwaggerUi from "@fastify/swagger-ui";
import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import { jsonSchemaTransform } from "fastify-type-provider-zod";

import { GATEWAY_CODES } from "../app/problem.js";

export interface OpenApiOptions {
  /** Accepted clock skew of signed requests, stated in the document. */
  clockSkewSeconds: number;
}

const apiDescription = (skewSeconds: number) => `Merchant API of a Settlenet gateway.

Every /v1 request is signed with an API key: headers \`Settlenet-Key-Id\`, \`Settlenet-Timestamp\` (unix
seconds, within ±${skewSeconds} s), \`Settlenet-Nonce\` (16-128 of [A-Za-z0-9_-], never reused within the window) and
\`Settlenet-Signature\` = \`v1=\` + hex HMAC-SHA256(secret, METHOD + "\\n" + path?query + "\\n" + timestamp +
"\\n" + nonce + "\\n" + hex sha256(body)). The dashboard may instead send its session cookie with the
session's CSRF token (x-csrf-token) and acts within its user's role. Every POST accepts \`Idempotency-Key\`. Errors are RFC 9457
problem documents with a stable \`code\`:

${Object.entries(GATEWAY_CODES)
  .map(([code, { status, summary }]) => `- \`${code}\` (${status}): ${summary}`)
  .join("\n")}

Refusals from the institution node keep the node's code and status.`;

/** The document's generator and the /docs UI. */
export const openApiPlugin = fp<OpenApiOptions>(
  async (app: FastifyInstance, options) => {
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
          { name: "dashboard", description: "Dashboard sign-in, sessions, users and API keys (session cookie)" },
        ],
        components: {
          securitySchemes: {
            keyId: { type: "apiKey", in: "header", name: "Settlenet-Key-Id", description: "API key id (key_…)" },
            timestamp: { type: "apiKey", in: "header", name: "Settlenet-Timestamp", description: `Unix seconds, within ±${options.clockSkewSeconds} s of the gateway` },
            nonce: { type: "apiKey", in: "header", name: "Settlenet-Nonce", description: "Unique per key within the time window" },
            signature: { type: "apiKey", in: "header", name: "Settlenet-Signature", description: "v1=<hex HMAC-SHA256 of the canonical request>" },
            sessionCookie: { type: "apiKey", in: "cookie", name: "__Host-settlenet_session", description: "Dashboard session (POST /dashboard/api/session); acts for the user's merchant within its role" },
            csrfToken: { type: "apiKey", in: "header", name: "x-csrf-token", description: "The session's CSRF token (given at sign-in and by GET /dashboard/api/session); required with the cookie on every request that changes state" },
            adminBearer: { type: "http", scheme: "bearer", description: "Admin credential `<id>.<secret>` (settlenet gateway admin credential add); never a merchant's API key" },
          },
        },
      },
      transform: jsonSchemaTransform,
    });
    await app.register(fastifySwaggerUi, { routePrefix: "/docs" });
  },
  { name: "openapi", fastify: "5.x" },
);
