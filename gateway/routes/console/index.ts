/**
 * The console's web pages on the gateway: the built single-page app (core/http/console.ts) answers
 * /checkout/:id and /dashboard/*, its hashed assets are served from /assets/, all under the console's
 * strict Content-Security-Policy. When the build is missing the gateway still serves its API and these
 * paths answer CONSOLE_NOT_BUILT (503) saying how to build.
 */
import type { FastifyInstance } from "fastify";

import { registerConsolePages } from "../../../core/http/console.js";

export { CONSOLE_CSP } from "../../../core/http/console.js";

export interface ConsoleRoutesOptions {
  /** The console's build output (index.html and assets/). */
  dir: string;
}

/** Registers the page and asset routes (hidden from the OpenAPI document). */
export async function consoleRoutes(app: FastifyInstance, options: ConsoleRoutesOptions): Promise<void> {
  const built = await registerConsolePages(app, {
    dir: options.dir,
    pages: ["/checkout/:id", "/dashboard", "/dashboard/*"],
    // The dashboard's JSON API shares the prefix: an unknown API path is a 404 problem, not a page.
    isApiPath: (path) => path === "/dashboard/api" || path.startsWith("/dashboard/api/"),
  });
  if (!built) app.log.warn({ dir: options.dir }, "the console is not built: /checkout and /dashboard answer CONSOLE_NOT_BUILT; run `npm run console:build`");
}
