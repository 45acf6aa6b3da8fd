/**
 * How the node's command-line tools tell a stopped node (connection refused: its database may be read
 * directly) from one that runs but fails to answer, through the real node API client over real sockets.
 */
import { createServer, type Server } from "node:http";

import { expect } from "chai";

import { NodeApiClient } from "../../core/api/client.js";
import { nodeRefused } from "../../node/cli-target.js";
import { freePort } from "../../scripts/lib/launch/ports.js";

async function failureOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected the call to fail");
}

describe("node CLI: a stopped node is told from a failing one", function () {
  this.timeout(30_000);
  let server: Server | undefined;

  afterEach(async function () {
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
  });

  it("takes a refused connection for a stopped node", async function () {
    const port = await freePort();
    const client = new NodeApiClient({ baseUrl: `http://127.0.0.1:${port}`, timeoutMs: 5_000 });
    expect(nodeRefused(await failureOf(client.health()))).to.equal(true);
  });

  it("does not take a node that answers 503, or a connection it drops, for a stopped one", async function () {
    let answer = true;
    server = createServer((req, res) => {
      if (answer) res.writeHead(503, { "content-type": "application/problem+json" }).end(JSON.stringify({ type: "about:blank", title: "not ready", status: 503, code: "NOT_READY" }));
      else req.socket.destroy();
    });
    await new Promise<void>((resolve) => server?.listen(0, "127.0.0.1", resolve));
    const address = server.address();
    const client = new NodeApiClient({ baseUrl: `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`, timeoutMs: 5_000 });
    expect(nodeRefused(await failureOf(client.peers()))).to.equal(false);
    answer = false;
    expect(nodeRefused(await failureOf(client.peers()))).to.equal(false);
  });
});
