/**
 * The console's web pages: the built single-page app (console/, `npm run console:build`) answers
 * /checkout/:id and /dashboard/*, its hashed assets are served from /assets/. Every page goes out with
 * a strict Content-Security-Policy (same-origin scripts, styles and requests only; no framing). When
 * the build is missing the gateway still serves its API and these paths answer CONSOLE_NOT_BUILT (503)
 * saying how to build (a build made later is served after a restart).
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";

import fastifyStatic from "@fastify/static";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";

import { SettlenetError } from "../../../core/errors.js";

export interface ConsoleRoutesOptions {
  /** The console's build output (index.html and assets/). */
  dir: string;
}

/** Scripts, styles, images and requests from the gateway's own origin only. */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

function secure(reply: FastifyReply): FastifyReply {
  return reply
    .header("content-security-policy", CONSOLE_CSP)
    .header("x-content-type-options", "nosniff")
    .header("referrer-policy", "no-referrer")
    .header("x-frame-options", "DENY");
}

const notBuilt = (dir: string) =>
  new SettlenetError("CONSOLE_NOT_BUILT", `the console is not built (no ${join(dir, "index.html")}): run \`npm run console:build\` (npm install and npm start build it when missing)`, {
    build: "npm run console:build",
  });

/** Registers the page and asset routes (hidden from the OpenAPI document). */
export async function consoleRoutes(app: FastifyInstance, options: ConsoleRoutesOptions): Promise<void> {
  const index = join(options.dir, "index.html");
  const assets = join(options.dir, "assets");
  const built = existsSync(index) && existsSync(assets);
  const html = built ? await readFile(index, "utf8") : undefined;
  if (!built) app.log.warn({ dir: options.dir }, "the console is not built: /checkout and /dashboard answer CONSOLE_NOT_BUILT; run `npm run console:build`");
  const hide = { schema: { hide: true } } as const;
  const servePage = async (request: FastifyRequest, reply: FastifyReply) => {
    // The dashboard's JSON API shares the prefix: an unknown API path is a 404 problem, not a page.
    if (request.url.startsWith("/dashboard/api/") || request.url === "/dashboard/api") throw new SettlenetError("ROUTE_NOT_FOUND", `no route ${request.method} ${request.url.split("?")[0]}`, {});
    if (html === undefined) throw notBuilt(options.dir);
    return secure(reply).header("cache-control", "no-store").type("text/html; charset=utf-8").send(html);
  };
  app.get("/checkout/:id", hide, servePage);
  app.get("/dashboard", hide, servePage);
  app.get("/dashboard/*", hide, servePage);

  if (built) {
    await app.register(fastifyStatic, {
      root: assets,
      prefix: "/assets/",
      index: false,
      wildcard: true,
      schemaHide: true,
      // Names carry a content hash: a changed file has a new name.
      immutable: true,
      maxAge: "365d",
      setHeaders: (reply) => {
        void reply.header("content-security-policy", CONSOLE_CSP).header("x-content-type-options", "nosniff");
      },
    });
  } else {
    app.get("/assets/*", hide, async () => {
      throw notBuilt(options.dir);
    });
  }
}
