/**
 * Request bodies are JSON only (anything else is 415 UNSUPPORTED_MEDIA_TYPE), and their raw bytes are
 * kept on the request: the merchant's request signature and the Idempotency-Key fingerprint cover
 * the body exactly as sent.
 */
import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";

declare module "fastify" {
  interface FastifyRequest {
    /** The raw request body bytes, for the body digest. */
    rawBody: Buffer | undefined;
  }
}

/** Replaces Fastify's parsers with one for application/json that keeps the raw body. */
export const contentTypePlugin = fp(
  async (app: FastifyInstance) => {
    app.decorateRequest("rawBody", undefined);
    const parseJson = app.getDefaultJsonParser("error", "error");
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
  },
  { name: "content-type", fastify: "5.x" },
);
