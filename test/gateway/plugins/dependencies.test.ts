import { expect } from "chai";
import Fastify, { type FastifyInstance } from "fastify";

import { authPlugin } from "../../../gateway/plugins/app/auth.js";
import { idempotencyPlugin } from "../../../gateway/plugins/app/idempotency.js";
import { jobsPlugin } from "../../../gateway/plugins/app/jobs.js";
import { sessionPlugin } from "../../../gateway/plugins/app/session.js";
import { contentTypePlugin } from "../../../gateway/plugins/external/content-type.js";

/** The error `register` leads to once the app loads its plugins. */
async function loadError(register: (app: FastifyInstance) => void): Promise<Error & { code?: string }> {
  const app = Fastify();
  register(app);
  try {
    await app.ready();
  } catch (error) {
    return error as Error & { code?: string };
  } finally {
    await app.close().catch(() => undefined);
  }
  throw new Error("the app loaded");
}

describe("gateway plugins: each declares what it depends on", function () {
  // Options are never read: the dependency check refuses the plugin before it runs.
  const unused = {} as never;

  it("refuses to load a plugin without the plugin it depends on, naming both", async function () {
    const cases: [string, string, (app: FastifyInstance) => void][] = [
      ["auth", "content-type", (app) => void app.register(authPlugin, unused)],
      ["idempotency", "auth", (app) => void app.register(idempotencyPlugin, unused)],
      ["idempotency", "auth", (app) => void app.register(contentTypePlugin).register(idempotencyPlugin, unused)],
      ["jobs", "services", (app) => void app.register(jobsPlugin, unused)],
      ["session", "auth", (app) => void app.register(sessionPlugin, unused)],
    ];
    for (const [plugin, dependency, register] of cases) {
      const error = await loadError(register);
      expect(error.code, `${plugin} without ${dependency}`).to.equal("FST_ERR_PLUGIN_DEPENDENCY_NOT_REGISTERED");
      expect(error.message).to.include(`'${dependency}'`).and.include(`'${plugin}'`);
    }
  });
});
