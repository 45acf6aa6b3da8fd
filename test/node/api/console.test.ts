/**
 * What the institution console reads from the node, against a real node and chain: its metrics as
 * JSON (an accepted operation counted) and the failed operations list; operators only.
 */
import { expect } from "chai";

import { bearer } from "../../../core/api/auth.js";
import { signedPay, termsFor } from "../../helpers/operations.js";
import { startApiNode, type ApiNode } from "../../core/api/fixture.js";

describe("node API: the institution console's figures", function () {
  this.timeout(300_000);
  let api: ApiNode;

  before(async function () {
    api = await startApiNode();
  });
  after(async function () {
    await api?.stop();
  });

  const get = async (role: "operator" | "regulator", path: string) => {
    const response = await fetch(`${api.node.apiUrl}${path}`, { headers: { authorization: bearer(api.credentials[role]!) } });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  type Summary = { atMs: number; metrics: { name: string; type: string; values: { labels: Record<string, string>; value: number }[] }[] };
  const accepted = (summary: Summary) =>
    summary.metrics.find((m) => m.name === "settlenet_operations_validated_total")?.values.filter((v) => v.labels["path"] === "api" && v.labels["result"] === "accept").reduce((sum, v) => sum + v.value, 0) ?? 0;

  it("sums the node's metrics as JSON, counting an accepted operation, with histograms as sum and count", async function () {
    const before = (await get("operator", "/v1/admin/metrics-summary")).body as unknown as Summary;
    const pay = await signedPay(api.scenario, await termsFor(api.scenario, 1, 0));
    expect((await api.client.submit(pay.op)).accepted).to.equal(true);
    const after = (await get("operator", "/v1/admin/metrics-summary")).body as unknown as Summary;
    expect(accepted(after) - accepted(before)).to.equal(1);
    expect(after.atMs).to.be.at.least(before.atMs);
    expect(after.metrics.every((m) => m.name.startsWith("settlenet_"))).to.equal(true);
    for (const histogram of after.metrics.filter((m) => m.type === "histogram")) {
      expect(new Set(histogram.values.map((v) => v.labels["series"]))).to.satisfy((s: Set<string>) => [...s].every((x) => x === "sum" || x === "count"));
    }
  });

  it("lists failed operations to operators only", async function () {
    const listed = await get("operator", "/v1/admin/failed-operations?limit=10");
    expect(listed.status).to.equal(200);
    expect(listed.body["operations"]).to.be.an("array");
    for (const path of ["/v1/admin/failed-operations", "/v1/admin/metrics-summary"]) {
      const refused = await get("regulator", path);
      expect([refused.status, refused.body["code"]], path).to.deep.equal([403, "FORBIDDEN"]);
    }
  });
});
