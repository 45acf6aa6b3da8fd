/**
 * What the institution console reads from the node, against a real node and chain: its metrics as
 * JSON (an accepted operation counted) and the failed operations list (a mint the chain refuses above
 * the attested reserves, with its decoded error); operators only.
 */
import { expect } from "chai";
import { Contract, type HDNodeWallet } from "ethers";

import { bearer } from "../../../core/api/auth.js";
import { loadArtifact } from "../../../core/protocol/artifacts.js";
import { waitFor } from "../../helpers/network.js";
import { signedPay, termsFor } from "../../helpers/operations.js";
import { randomRef, signedTokenOp, tokenOperationIdOf } from "../../helpers/tokens.js";
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

  it("lists a mint above the custodian's attested reserves as failed, with the chain's decoded ReservesExceeded", async function () {
    const s = api.scenario;
    // Institution 0 is the CNY custodian and mints with its operator key (no custodian key of its own here).
    const custodian = s.institutions[0] as HDNodeWallet;
    const token = new Contract(s.deployment.tokens["CNY"]!.address, loadArtifact("SettlementToken").abi, s.chain.provider);
    const reserves = (await token.getFunction("reservesOf")(custodian.address)) as { amount: bigint };
    const mint = await signedTokenOp(s, custodian, { kind: "mint", to: s.payers[0]!.address, amount: (reserves.amount + 1n).toString(), bankRef: randomRef() });
    // Validation cannot see the reserves cap: the node accepts the mint and the chain refuses it.
    expect((await api.client.submit(mint)).accepted).to.equal(true);
    const id = tokenOperationIdOf(s, mint);
    type Failed = { id: string; kind: string; error?: { code: string; args?: string[] } };
    const failed = await waitFor("the mint to be listed failed", async () => {
      const listed = (await get("operator", "/v1/admin/failed-operations?limit=100")).body["operations"] as Failed[];
      return listed.find((op) => op.id === id);
    }, 120_000, 100);
    expect(failed).to.deep.include({ kind: "mint" });
    expect(failed.error?.code).to.equal("ReservesExceeded");
    expect(failed.error?.args?.[0]).to.equal(custodian.address);
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
