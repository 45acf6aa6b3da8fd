/**
 * The node's own OpenAPI 3.1 document: served by a real node at /openapi.json (and /docs), in the
 * structure the specification prescribes, listing exactly the routes the node registered and exactly
 * the routes of the contract; served while the node is catching up, when the API answers NOT_READY.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { expect } from "chai";
import { pino } from "pino";
import { Registry } from "prom-client";
import { z } from "zod";

import { NodeApiClient } from "../../../core/api/client.js";
import { BEARER_SCHEME, NODE_USER_ROLES, SESSION_SCHEME } from "../../../core/api/auth.js";
import { NODE_API_ACCESS, NODE_API_ROUTES } from "../../../core/api/routes.js";
import { buildNodeApi } from "../../../node/api/app.js";
import { openStorage } from "../../../node/storage/db.js";
import { testCredentials } from "../../helpers/credentials.js";
import { refusalOf } from "../../helpers/errors.js";
import { nodeFetch } from "../../helpers/network.js";
import { collect, info, operationObject, pathsOf, schemaObject, securityScheme, tagObject } from "../../helpers/openapi.js";
import { startApiNode, type ApiNode } from "./fixture.js";

// Each operation names its summary and its tags; the components hold the schemas.
const openApi31 = z.strictObject({
  openapi: z.string().regex(/^3\.1\.\d+$/),
  info,
  paths: pathsOf(operationObject.extend({ summary: z.string().min(1), tags: z.array(z.string()).min(1) })),
  components: z.strictObject({ schemas: z.record(z.string(), schemaObject), securitySchemes: z.record(z.string(), securityScheme).optional() }),
  tags: z.array(tagObject),
  servers: z.array(z.unknown()).optional(),
});
type OpenApiDocument = z.infer<typeof openApi31>;

const openApiPath = (url: string) => url.replace(/:(\w+)/g, "{$1}");
const documentedRoutes = (doc: OpenApiDocument) =>
  Object.entries(doc.paths)
    .flatMap(([path, item]) => Object.keys(item).map((method) => `${method} ${path}`))
    .sort();

describe("node API: OpenAPI document and docs", function () {
  this.timeout(120_000);
  let api: ApiNode;
  let doc: OpenApiDocument;

  before(async function () {
    api = await startApiNode();
    const res = await nodeFetch(`${api.node.apiUrl}/openapi.json`);
    expect(res.status).to.equal(200);
    doc = openApi31.parse(await res.json());
  });
  after(async function () {
    await api?.stop();
  });

  it("is an OpenAPI 3.1 document in the structure the specification prescribes", function () {
    expect(doc.openapi).to.match(/^3\.1\./);
    // 3.0-only keywords must not leak into 3.1 (JSON Schema 2020-12) schemas.
    expect(collect(doc.paths, "nullable")).to.deep.equal([]);
    // Every $ref resolves inside the document.
    const refs = collect(doc, "$ref");
    expect(refs).to.include("#/components/schemas/Operation");
    for (const ref of refs) {
      expect(ref).to.be.a("string").and.match(/^#\//);
      const target = String(ref).slice(2).split("/").reduce<unknown>((node, part) => (node as Record<string, unknown> | undefined)?.[part], doc);
      expect(target, String(ref)).to.not.equal(undefined);
    }
    const ids = Object.values(doc.paths).flatMap((item) => Object.values(item).map((op) => op?.operationId));
    expect(new Set(ids).size).to.equal(ids.length);
    const tags = new Set(doc.tags.map((t) => t.name));
    for (const op of Object.values(doc.paths).flatMap((item) => Object.values(item))) expect(op?.tags?.every((t) => tags.has(t)), op?.operationId).to.equal(true);
  });

  it("lists every route the node serves, and only those", function () {
    const served = api.node.api.nodeApiRoutes
      .filter((r) => r.documented && r.method !== "HEAD")
      .map((r) => `${r.method.toLowerCase()} ${openApiPath(r.url)}`)
      .sort();
    expect(documentedRoutes(doc)).to.deep.equal(served);
  });

  it("lists exactly the routes of the node API contract, with their operation ids", function () {
    const contract = Object.values(NODE_API_ROUTES)
      .map((r) => `${r.method.toLowerCase()} ${openApiPath(r.url)}`)
      .sort();
    expect(documentedRoutes(doc)).to.deep.equal(contract);
    for (const [operationId, route] of Object.entries(NODE_API_ROUTES)) {
      const documented = doc.paths[openApiPath(route.url)]?.[route.method.toLowerCase() as "get" | "post"];
      expect(documented?.operationId, route.url).to.equal(operationId);
      expect(Object.keys(documented?.responses ?? {}), operationId).to.include.members(["4XX", "5XX"]);
    }
  });

  it("documents request bodies, query parameters and answers from the contract's schemas", function () {
    const submit = doc.paths["/v1/operations"]?.post;
    expect(Object.keys(submit?.responses ?? {})).to.include.members(["202", "422"]);
    expect(JSON.stringify(submit?.requestBody?.content["application/json"]?.schema)).to.contain("#/components/schemas/Operation");
    const operationSchema = doc.components.schemas["Operation"] as { oneOf?: unknown[] };
    expect(operationSchema.oneOf).to.have.length(2);

    const list = doc.paths["/v1/payments"]?.get;
    expect(list?.parameters?.map((p) => p.name)).to.include.members(["merchant", "payer", "institution", "from", "to", "cursor", "limit"]);
    const stored = doc.paths["/v1/operations/{id}"]?.get?.responses["200"]?.content?.["application/json"]?.schema as { required?: string[]; additionalProperties?: unknown };
    expect(stored.required).to.include.members(["id", "kind", "paymentId", "op", "signer", "origin", "status", "receivedAtMs", "updatedAtMs"]);
    expect(stored.additionalProperties).to.equal(false);
    const statement = doc.paths["/v1/cycles/{id}/statement"]?.get?.responses["200"]?.content;
    expect(Object.keys(statement ?? {}).sort()).to.deep.equal(["application/json", "text/csv"]);
  });

  it("declares the bearer credential scheme on every route but health and sign-in, the session cookie where people may call, naming each route's roles", function () {
    expect(doc.components.securitySchemes?.[BEARER_SCHEME]).to.deep.include({ type: "http", scheme: "bearer" });
    expect(doc.components.securitySchemes?.[SESSION_SCHEME]).to.deep.include({ type: "apiKey", in: "cookie", name: "__Host-settlenet_node_session" });
    for (const [operationId, route] of Object.entries(NODE_API_ROUTES)) {
      const documented = doc.paths[openApiPath(route.url)]?.[route.method.toLowerCase() as "get" | "post"];
      const access = NODE_API_ACCESS[operationId as keyof typeof NODE_API_ACCESS];
      if (access === "public") {
        expect(documented?.security, operationId).to.equal(undefined);
        continue;
      }
      // People (a session cookie) hold the regulator and operator roles only.
      const people = access.some((role) => (NODE_USER_ROLES as readonly string[]).includes(role));
      expect(documented?.security, operationId).to.deep.equal([{ [BEARER_SCHEME]: [] }, ...(people ? [{ [SESSION_SCHEME]: [] }] : [])]);
      expect(documented?.description, operationId).to.contain(`Roles: ${access.join(", ")}.`);
    }
  });

  it("serves human docs at /docs from the same document", async function () {
    const html = await nodeFetch(`${api.node.apiUrl}/docs/`);
    expect(html.status).to.equal(200);
    expect(html.headers.get("content-type")).to.match(/text\/html/);
    await html.arrayBuffer();
    const json = (await (await nodeFetch(`${api.node.apiUrl}/docs/json`)).json()) as OpenApiDocument;
    expect(Object.keys(json.paths).sort()).to.deep.equal(Object.keys(doc.paths).sort());
  });
});

describe("node API: the document while the node catches up", function () {
  it("serves /openapi.json and /docs while every other route but health, metrics and peers answers 503 NOT_READY", async function () {
    const dir = await mkdtemp(join(tmpdir(), "settlenet-api-"));
    const storage = await openStorage(join(dir, "db"));
    const credentials = await testCredentials();
    const app = await buildNodeApi(
      {},
      {
        logger: pino({ level: "silent" }),
        credentials: credentials.verifier,
        metrics: new Registry(),
        storage,
        submit: async () => [],
        peers: () => [],
        health: async () => ({ ready: false, role: "institution", peerId: "peer", operator: "operator", chain: { head: 10, indexed: 2, registry: 10 }, peers: 0 }),
        onChainPayment: async () => undefined,
        ready: () => false,
      },
    );
    try {
      const headers = credentials.as("gateway");
      expect((await app.inject({ url: "/openapi.json", headers })).statusCode).to.equal(200);
      expect((await app.inject({ url: "/docs/", headers })).statusCode).to.equal(200);
      const refused = await app.inject({ url: "/v1/payments", headers });
      expect([refused.statusCode, refused.json<{ code: string }>().code]).to.deep.equal([503, "NOT_READY"]);

      await app.listen({ host: "127.0.0.1", port: 0 });
      const address = app.server.address();
      const client = new NodeApiClient({ baseUrl: `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`, credentials: credentials.tokens });
      expect(await client.health()).to.include({ ready: false });
      const error = await refusalOf(client.payments({ limit: 1 }));
      expect([error.code, error.meta["nodeCode"]]).to.deep.equal(["NODE_UNAVAILABLE", "NOT_READY"]);
    } finally {
      await app.close();
      await storage.close();
      await rm(dir, { recursive: true, force: true });
      await credentials.cleanup();
    }
  });
});
