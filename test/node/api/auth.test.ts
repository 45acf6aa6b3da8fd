/**
 * Node API authentication against a real node (in this process, real chain and LevelDB): every route
 * but /health and sign-in needs a credential; each role is refused what it may not do; unknown, malformed and
 * revoked tokens get the same 401; credentials issued and revoked with the CLI while the node runs take
 * effect from the next request, are stored hashed, and land in the node's audit log, which the CLI verifies.
 */
import { readFile, stat } from "node:fs/promises";
import { createServer } from "node:http";

import { expect } from "chai";

import { NODE_API_ROLES, bearer, newToken, parseToken } from "../../../core/api/auth.js";
import { NodeApiClient, type NodeApiError } from "../../../core/api/client.js";
import { NODE_API_ACCESS, NODE_API_ROUTES, type NodeApiOperation } from "../../../core/api/routes.js";
import { runCli, runCliOk } from "../../helpers/cli.js";
import { refusalOf } from "../../helpers/errors.js";
import { startApiNode, type ApiNode } from "../../core/api/fixture.js";

const ZERO32 = `0x${"00".repeat(32)}`;
const ADDRESS = `0x${"11".repeat(20)}`;

/** A request path for a contract route (parameters filled with well-formed values). */
function pathOf(url: string): string {
  return url.replace(":token", ADDRESS).replace(":address", ADDRESS).replace(/:id/, () => (url.startsWith("/v1/cycles") ? "1" : ZERO32)).replace(/:\w+/g, ZERO32);
}

describe("node API authentication and roles", function () {
  this.timeout(180_000);
  let api: ApiNode;

  before(async function () {
    api = await startApiNode();
  });
  after(async function () {
    await api?.stop();
  });

  const call = (operation: NodeApiOperation, headers: Record<string, string> = {}) => {
    const route = NODE_API_ROUTES[operation];
    return api.node.api.inject({ method: route.method, url: pathOf(route.url), headers, ...(route.method === "POST" ? { payload: {} } : {}) });
  };

  it("answers 401 UNAUTHENTICATED on every route but /health without a credential, the same for an unknown, malformed or wrong one", async function () {
    const unknown = newToken().token;
    const known = parseToken(api.credentials.gateway)!;
    const wrongSecret = `snc_${known.id}_${"A".repeat(43)}`;
    for (const [operation, access] of Object.entries(NODE_API_ACCESS) as [NodeApiOperation, (typeof NODE_API_ACCESS)[NodeApiOperation]][]) {
      if (access === "public") {
        // Health answers anyone; sign-in takes no credential and refuses the empty body as malformed.
        expect((await call(operation)).statusCode, operation).to.be.oneOf(operation === "signIn" ? [400] : [200, 503]);
        continue;
      }
      const answers = await Promise.all([
        call(operation),
        call(operation, { authorization: bearer(unknown) }),
        call(operation, { authorization: "Bearer not-a-token" }),
        call(operation, { authorization: `Basic ${Buffer.from("a:b").toString("base64")}` }),
        call(operation, { authorization: bearer(wrongSecret) }),
      ]);
      for (const answer of answers) {
        const { code, status, title } = answer.json<{ code: string; status: number; title: string }>();
        expect([answer.statusCode, code, status], operation).to.deep.equal([401, "UNAUTHENTICATED", 401]);
        expect(title).to.equal(answers[0]!.json<{ title: string }>().title);
      }
    }
    for (const url of ["/openapi.json", "/docs/", "/no/such/route"]) expect((await api.node.api.inject({ url })).statusCode, url).to.equal(401);
  });

  it("refuses each role what it may not do with 403 FORBIDDEN, and lets it do the rest", async function () {
    for (const [operation, access] of Object.entries(NODE_API_ACCESS) as [NodeApiOperation, (typeof NODE_API_ACCESS)[NodeApiOperation]][]) {
      if (access === "public") continue;
      for (const role of NODE_API_ROLES) {
        const answer = await call(operation, { authorization: bearer(api.credentials[role]) });
        if (access.includes(role)) expect([401, 403], `${role} ${operation}`).to.not.include(answer.statusCode);
        else expect([answer.statusCode, answer.json<{ code: string }>().code], `${role} ${operation}`).to.deep.equal([403, "FORBIDDEN"]);
      }
    }
    // The client picks the token of a role each route allows; with one role only, it gets FORBIDDEN.
    const gatewayOnly = new NodeApiClient({ baseUrl: api.node.apiUrl, credentials: api.credentials.gateway });
    expect(((await refusalOf(gatewayOnly.backup())) as NodeApiError).code).to.equal("FORBIDDEN");
    expect(((await refusalOf(gatewayOnly.auditLog())) as NodeApiError).code).to.equal("FORBIDDEN");
    expect(((await refusalOf(gatewayOnly.metrics())) as NodeApiError).code).to.equal("FORBIDDEN");
    expect(await gatewayOnly.payments({ limit: 1 })).to.have.property("items");
    expect(await api.client.metrics()).to.contain("process_cpu");
  });

  it("issues, lists and revokes credentials with the CLI while the node runs, hashed at rest, revocation effective on the next request, each change audited", async function () {
    const file = api.credentialsFile;
    const created = JSON.parse(await runCliOk(["node", "credentials", "create", "--file", file, "--role", "regulator", "--name", "inspector"])) as { id: string; token: string };
    const inspector = new NodeApiClient({ baseUrl: api.node.apiUrl, credentials: created.token });
    expect((await inspector.alerts()).items).to.be.an("array");

    const stored = await readFile(api.credentialsFile, "utf8");
    expect(stored).to.contain(created.id).and.not.contain(parseToken(created.token)!.secret);
    expect((await stat(api.credentialsFile)).mode & 0o777).to.equal(0o600);
    const listed = (await runCliOk(["node", "credentials", "list", "--file", file])).trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(listed.find((c) => c["id"] === created.id)).to.include({ name: "inspector", role: "regulator", state: "active" });
    expect(JSON.stringify(listed)).to.not.contain("secret");

    expect(JSON.parse(await runCliOk(["node", "credentials", "revoke", "inspector", "--file", file]))).to.include({ id: created.id, state: "revoked" });
    expect(((await refusalOf(inspector.alerts())) as NodeApiError).code).to.equal("UNAUTHENTICATED");
    const again = await runCli(["node", "credentials", "revoke", created.id, "--file", file]);
    expect([again.code, again.stderr]).to.satisfy(([code, stderr]: [number, string]) => code === 1 && stderr.includes("CREDENTIAL_NOT_FOUND"));

    const entries = (await api.client.auditLog({ limit: 1_000 })).entries.filter((e) => e.target === created.id);
    expect(entries.map((e) => e.action)).to.deep.equal(["credential.issue", "credential.revoke"]);
    expect(entries[0]!.actor).to.match(/^cli:/);
    expect(entries[0]!.details).to.deep.equal({ name: "inspector", role: "regulator" });

    const verified = await runCliOk(["node", "audit", "verify", "--node", api.node.apiUrl], { SETTLENET_NODE_TOKEN: api.credentials.regulator });
    expect(JSON.parse(verified)).to.include({ source: "api", ok: true });
    const refused = await runCli(["node", "audit", "verify", "--node", api.node.apiUrl], { SETTLENET_NODE_TOKEN: api.credentials.gateway });
    expect(refused.code).to.equal(1);
    expect(refused.stderr).to.contain("FORBIDDEN");
  });

  it("has `node audit verify` check every link itself and exit non-zero naming the first broken entry", async function () {
    // The node's real log, then the same pages with entry 2 edited, served as a node would serve them.
    const page = await api.client.auditLog({ limit: 1_000 });
    expect(page.entries.length).to.be.greaterThan(2);
    const tampered = { ...page, entries: page.entries.map((e) => (e.seq === 2 ? { ...e, actor: "someone-else" } : e)) };
    const server = createServer((_request, response) => response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(tampered)));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const address = server.address();
      const url = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
      const broken = await runCli(["node", "audit", "verify", "--node", url], { SETTLENET_NODE_TOKEN: api.credentials.regulator });
      expect(broken.code).to.equal(1);
      expect(JSON.parse(broken.stdout)).to.deep.include({ ok: false, brokenAt: 2 });
      expect(broken.stderr).to.contain("AUDIT_LOG_BROKEN").and.contain("entry 2");
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
