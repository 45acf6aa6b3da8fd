/**
 * Serving the built console (console/, `npm run console:build`): its single-page app under a set of
 * page paths and its hashed assets under /assets/, every answer with a strict Content-Security-Policy
 * (same-origin scripts, styles and requests only; no framing). The gateway serves the merchant pages
 * and the node its consoles from the same build. When the build is missing the pages answer
 * CONSOLE_NOT_BUILT (503) saying how to build (a build made later is served after a restart).
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

import fastifyStatic from "@fastify/static";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";

import { SettlenetError } from "../errors.js";

/** Scripts, styles, images and requests from the serving origin only. */
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

/** The console's build output in this checkout (`npm run console:build`). */
export const CONSOLE_DIST = fileURLToPath(new URL("../../console/dist", import.meta.url));

/** Where the console's assets are served: the page names them by absolute path. */
export const CONSOLE_ASSETS_PREFIX = "/assets/";

export interface ConsolePagesOptions {
  /** The console's build output (index.html and assets/). */
  dir: string;
  /** Paths answered with the page (Fastify route syntax, e.g. "/console/*"). */
  pages: string[];
  /** Paths under a page prefix that are an API, not a page: an unknown one is a 404 problem. */
  isApiPath?: (path: string) => boolean;
}

export function secureConsoleReply(reply: FastifyReply): FastifyReply {
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

/** Registers the page and asset routes (hidden from the OpenAPI document); false when the build is missing. */
export async function registerConsolePages(app: FastifyInstance, options: ConsolePagesOptions): Promise<boolean> {
  const index = join(options.dir, "index.html");
  const assets = join(options.dir, "assets");
  const built = existsSync(index) && existsSync(assets);
  const html = built ? await readFile(index, "utf8") : undefined;
  const hide = { schema: { hide: true } } as const;
  const servePage = async (request: FastifyRequest, reply: FastifyReply) => {
    const path = request.url.split("?")[0] ?? "";
    if (options.isApiPath?.(path)) throw new SettlenetError("ROUTE_NOT_FOUND", `no route ${request.method} ${path}`, {});
    if (html === undefined) throw notBuilt(options.dir);
    return secureConsoleReply(reply).header("cache-control", "no-store").type("text/html; charset=utf-8").send(html);
  };
  for (const page of options.pages) app.get(page, hide, servePage);

  if (built) {
    await app.register(fastifyStatic, {
      root: assets,
      prefix: CONSOLE_ASSETS_PREFIX,
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
    app.get(`${CONSOLE_ASSETS_PREFIX}*`, hide, async () => {
      throw notBuilt(options.dir);
    });
  }
  return built;
}
