import { expect } from "chai";
import { z } from "zod";

import { deployScenario, startChain, type LocalChain } from "../../helpers/chain.js";
import { collect, info, operationObject, pathsOf, schemaObject, securityScheme, tagObject } from "../../helpers/openapi.js";
import { gatewayFixture, type GatewayFixture } from "../fixture.js";

const openApi31 = z.strictObject({
  openapi: z.string().regex(/^3\.1\.\d+$/),
  info,
  paths: pathsOf(operationObject),
  components: z.strictObject({ schemas: z.record(z.string(), schemaObject).optional(), securitySchemes: z.record(z.string(), securityScheme) }),
  tags: z.array(tagObject).optional(),
  servers: z.array(z.unknown()).optional(),
});

describe("gateway: OpenAPI document and docs", function () {
  this.timeout(60_000);
  let chain: LocalChain;
  let gw: GatewayFixture;
  let doc: z.infer<typeof openApi31>;

  before(async function () {
    chain = await startChain();
    const scenario = await deployScenario(chain, { institutions: 1, merchants: 1, payers: 1 });
    gw = await gatewayFixture({ scenario });
    const res = await gw.app.inject({ method: "GET", url: "/openapi.json" });
    expect(res.statusCode).to.equal(200);
    doc = openApi31.parse(res.json());
  });
  after(async function () {
    await gw?.close();
    await chain?.close();
  });

  it("is an OpenAPI 3.1 document in the structure the specification prescribes", function () {
    expect(doc.openapi).to.match(/^3\.1\./);
    // 3.0-only keywords must not leak into 3.1 (JSON Schema 2020-12) schemas.
    expect(collect(doc.paths, "nullable")).to.deep.equal([]);
    // Every $ref resolves inside the document.
    for (const ref of collect(doc, "$ref")) {
      expect(ref).to.be.a("string").and.match(/^#\//);
      const target = String(ref).slice(2).split("/").reduce<unknown>((node, part) => (node as Record<string, unknown> | undefined)?.[part], doc);
      expect(target, String(ref)).to.not.equal(undefined);
    }
    const ids = Object.values(doc.paths).flatMap((item) => Object.values(item).map((op) => op?.operationId));
    expect(new Set(ids).size).to.equal(ids.length);
  });

  it("lists every route the gateway serves, and only those", function () {
    const served = gw.app.gatewayRoutes
      .filter((r) => r.documented && r.method !== "HEAD")
      .map((r) => `${r.method.toLowerCase()} ${r.url.replace(/:(\w+)/g, "{$1}")}`)
      .sort();
    const documented = Object.entries(doc.paths)
      .flatMap(([path, item]) => Object.keys(item).map((method) => `${method} ${path}`))
      .sort();
    expect(documented).to.deep.equal(served);
    expect(documented).to.include.members([
      "post /v1/payments",
      "get /v1/payments",
      "get /v1/payments/{id}",
      "post /v1/payments/{id}/authorization",
      "post /v1/payments/{id}/fulfilment",
      "post /v1/payments/{id}/refunds",
      "post /v1/payments/{id}/cancel",
      "post /dashboard/api/session",
      "get /dashboard/api/session",
      "delete /dashboard/api/session",
    ]);
  });

  it("documents the signed headers or the session, Idempotency-Key, bodies and problem responses of /v1", function () {
    expect(doc.components.securitySchemes["adminBearer"]).to.deep.include({ type: "http", scheme: "bearer" });
    expect(Object.values(doc.components.securitySchemes).flatMap((s) => ("name" in s ? [s.name] : [])).sort()).to.deep.equal([
      "Settlenet-Key-Id",
      "Settlenet-Nonce",
      "Settlenet-Signature",
      "Settlenet-Timestamp",
      "__Host-settlenet_session",
      "x-csrf-token",
    ]);
    expect(doc.components.securitySchemes["sessionCookie"]).to.deep.include({ type: "apiKey", in: "cookie" });
    for (const [path, item] of Object.entries(doc.paths)) {
      if (!path.startsWith("/v1/")) continue;
      for (const [method, op] of Object.entries(item)) {
        if (!op) continue;
        // The hosted checkout's routes are the payer's: no merchant credential, the payer's signature is the authority.
        if (path.startsWith("/v1/checkout/")) {
          expect(op.security, `${method} ${path}`).to.deep.equal([]);
          expect(Object.keys(op.responses), `${method} ${path}`).to.include.members(["4XX", "5XX"]);
          continue;
        }
        // Either the signed headers or a dashboard session with its CSRF token.
        expect(op.security, `${method} ${path}`).to.deep.equal([{ keyId: [], timestamp: [], nonce: [], signature: [] }, { sessionCookie: [], csrfToken: [] }]);
        expect(Object.keys(op.responses), `${method} ${path}`).to.include.members(["4XX", "5XX"]);
        if (method === "post") {
          expect(op.parameters?.map((p) => p.name), `${method} ${path}`).to.include("idempotency-key");
          expect(op.requestBody?.content["application/json"], `${method} ${path}`).to.not.equal(undefined);
        }
      }
    }
    expect(Object.keys(doc.paths).filter((p) => p.startsWith("/v1/checkout/"))).to.not.be.empty;
    const create = doc.paths["/v1/payments"]?.post;
    const body = create?.requestBody?.content["application/json"]?.schema as { required?: string[]; additionalProperties?: unknown };
    expect(body.required).to.include.members(["amount", "currency", "merchantOrderId", "payer"]);
    expect(body.additionalProperties).to.equal(false);
  });

  it("serves human docs at /docs from the same document", async function () {
    const html = await gw.app.inject({ method: "GET", url: "/docs/" });
    expect(html.statusCode).to.equal(200);
    expect(html.headers["content-type"]).to.match(/text\/html/);
    const json = await gw.app.inject({ method: "GET", url: "/docs/json" });
    expect(Object.keys(json.json().paths).sort()).to.deep.equal(Object.keys(doc.paths).sort());
  });
});
