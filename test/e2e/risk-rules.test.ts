/**
 * KYC limits and signed risk rules end to end, with real node processes over libp2p on a real chain:
 * a level-1 customer's pay above its level's single-payment limit is refused on every node; governance
 * raises the limit through one node's admin API and every node applies it without a restart (a node
 * that was down meanwhile gets it when it comes back); forged and older documents, and a regulator's
 * credential, change nothing; the audit logs record each application. Then the operator command
 * signs and submits a document (twice: the second run changes nothing) that adds a daily limit, which
 * still holds after the node restarts.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";

import { expect } from "chai";
import { Wallet } from "ethers";

import { writeOperatorKeystore } from "../../core/keys.js";

import { NodeApiClient, type NodeApiError } from "../../core/api/client.js";
import { riskRulesDomain, rulesHash, signRiskRules, type RiskRulesDocument, type SignedRiskRules } from "../../core/protocol/risk-rules.js";
import { runCli, runCliOk } from "../helpers/cli.js";
import { refusalOf } from "../helpers/errors.js";
import { launchNetwork, nodeApi, waitFor, waitForOperation, type NodeHandle, type TestNetwork } from "../helpers/network.js";
import { signedPay, termsFor } from "../helpers/operations.js";

describe("e2e: KYC limits and signed risk rules applied at runtime on every node", function () {
  this.timeout(240_000);

  let net: TestNetwork;
  let nodes: NodeHandle[];
  let token: string;

  before(async function () {
    // Re-published often, so a node that comes back gets the newest document quickly.
    net = await launchNetwork({ institutions: 2, payers: 1, config: { riskRules: { rebroadcastMs: 300 } } });
    nodes = net.nodes;
    token = await net.scenario.token.getAddress();
  });
  after(async function () {
    await net?.stop();
  });

  const domain = () => riskRulesDomain(BigInt(net.scenario.deployment.chainId), net.scenario.deployment.contracts.registry);
  const level1Single = (version: number, single: string): RiskRulesDocument => ({
    version,
    rules: { blacklist: [], kycLimits: { "1": { [token]: { single } } } },
  });
  const codeOf = async (request: Promise<unknown>) => ((await refusalOf(request)) as NodeApiError).code;
  const running = () => nodes.filter((node) => node.process !== undefined);

  async function appliedEverywhere(signed: SignedRiskRules, on = running()): Promise<void> {
    const hash = rulesHash(signed.document.rules);
    await waitFor(`version ${signed.document.version} applied on ${on.map((n) => n.name).join(", ")}`, async () => {
      const views = await Promise.all(on.map((node) => nodeApi(node).riskRules()));
      return views.every((view) => view.version === signed.document.version && view.rulesHash === hash);
    });
  }

  it("refuses a level-1 customer's pay above its level's limit on every node, then accepts it once governance raises the limit", async function () {
    // Before any signed document, the nodes apply node.json's rules: no KYC limits.
    for (const node of nodes) expect(await nodeApi(node).riskRules()).to.deep.equal({ version: 0, source: "config" });

    const v1 = await signRiskRules(net.scenario.admin, level1Single(1, "5000"), domain());
    const institution0 = nodes[0] as NodeHandle;
    const view = await nodeApi(institution0).putRiskRules(v1);
    expect(view).to.deep.include({ version: 1, source: "signed", signer: net.scenario.admin.address });
    await appliedEverywhere(v1);

    const { op } = await signedPay(net.scenario, await termsFor(net.scenario, 0, 0, { amount: 6_000n }));
    for (const node of nodes.filter((n) => n.role === "institution")) {
      const result = await nodeApi(node).submit(op);
      expect(result.accepted, node.name).to.equal(false);
      if (!result.accepted) expect(result.problem).to.deep.include({ code: "KYC_LIMIT_EXCEEDED", status: 422, kycLevel: 1, limit: "5000", amount: "6000" });
    }

    // A node down while the limit is raised gets the new document when it comes back.
    const late = nodes[1] as NodeHandle;
    const regulator = nodes[2] as NodeHandle;
    await late.stop();
    const v2 = await signRiskRules(net.scenario.admin, level1Single(2, "10000"), domain());
    expect(await nodeApi(regulator).putRiskRules(v2)).to.deep.include({ version: 2 });
    await appliedEverywhere(v2);
    await late.start();
    await appliedEverywhere(v2, nodes);

    const accepted = await nodeApi(late).submit(op);
    expect(accepted.accepted).to.equal(true);
    if (accepted.accepted) await waitForOperation([late], accepted.id, "executed");

    // Each node logged the application once, the submitting one under the operator's credential.
    for (const node of nodes) {
      const entries = (await nodeApi(node).auditLog()).entries.filter((e) => e.action === "riskRules.apply");
      expect(entries.map((e) => e.details?.["version"]), node.name).to.deep.equal([1, 2]);
      expect(entries[1]?.details).to.deep.include({ rulesHash: rulesHash(v2.document.rules), signer: net.scenario.admin.address });
    }
    const submitter = (await nodeApi(regulator).auditLog()).entries.find((e) => e.action === "riskRules.apply" && e.target === "2");
    expect(submitter).to.deep.include({ role: "operator" });
    expect(submitter?.actor).to.match(/^credential:/);
  });

  it("refuses a forged document, an older or repeated version, and a regulator's credential, changing nothing", async function () {
    const institution0 = nodes[0] as NodeHandle;
    const before = await nodeApi(institution0).riskRules();
    const auditBefore = (await nodeApi(institution0).auditLog()).head;
    const next = before.version + 1;

    const forged = await signRiskRules(Wallet.createRandom(), level1Single(next, "1"), domain());
    expect(await codeOf(nodeApi(institution0).putRiskRules(forged))).to.equal("RISK_RULES_BAD_SIGNATURE");
    // An institution's operator key is not governance either.
    const byInstitution = await signRiskRules(net.scenario.institutions[0]!, level1Single(next, "1"), domain());
    expect(await codeOf(nodeApi(institution0).putRiskRules(byInstitution))).to.equal("RISK_RULES_BAD_SIGNATURE");
    // Governance's signature over other rules than the ones sent.
    const signed = await signRiskRules(net.scenario.admin, level1Single(next, "1"), domain());
    const tampered = { ...signed, document: level1Single(next, "999999999") };
    expect(await codeOf(nodeApi(institution0).putRiskRules(tampered))).to.equal("RISK_RULES_BAD_SIGNATURE");

    const older = await signRiskRules(net.scenario.admin, level1Single(before.version - 1, "1"), domain());
    expect(await codeOf(nodeApi(institution0).putRiskRules(older))).to.equal("RISK_RULES_STALE");
    expect(await codeOf(nodeApi(institution0).putRiskRules(before.signed!))).to.equal("RISK_RULES_STALE");

    const regulatorOnly = new NodeApiClient({ baseUrl: institution0.apiUrl, credentials: institution0.credentials.regulator });
    expect(await codeOf(regulatorOnly.putRiskRules(signed))).to.equal("FORBIDDEN");
    expect((await regulatorOnly.riskRules()).version).to.equal(before.version);
    const gatewayOnly = new NodeApiClient({ baseUrl: institution0.apiUrl, credentials: institution0.credentials.gateway });
    expect(await codeOf(gatewayOnly.riskRules())).to.equal("FORBIDDEN");

    for (const node of nodes) expect(await nodeApi(node).riskRules(), node.name).to.deep.equal(before);
    expect((await nodeApi(institution0).auditLog()).head).to.deep.equal(auditBefore);
  });

  it("signs and submits with `settlenet risk-rules`, once: a daily KYC limit then refuses the payer's next pay", async function () {
    const late = nodes[1] as NodeHandle;
    const current = await nodeApi(late).riskRules();
    const version = current.version + 1;
    const dir = net.dir;
    const key = join(dir, "governance.json");
    await writeOperatorKeystore(key, net.scenario.admin.privateKey, "governance-password", true);
    const rulesFile = join(dir, "risk-rules.json");
    // The payer paid 6000 today through `late` (first test): a day limit of 10000 leaves 4000.
    await writeFile(rulesFile, JSON.stringify({ kycLimits: { "1": { [token]: { single: "10000", daily: "10000" } } } }));
    const out = join(dir, `risk-rules-v${version}.json`);
    const sign = ["risk-rules", "sign", "--rules", rulesFile, "--version", String(version), "--out", out, "--deployment", net.deploymentFile, "--key", key];
    const keyEnv = { SETTLENET_KEY_PASSWORD: "governance-password" };
    expect((await runCliOk(sign, keyEnv)).trim()).to.match(new RegExp(`^risk rules version ${version} .* signed by ${net.scenario.admin.address} in `));
    expect((await runCliOk(sign, keyEnv)).trim()).to.match(/: already done, nothing changed$/);

    const submit = ["risk-rules", "submit", "--node", late.apiUrl, "--file", out];
    const refused = await runCli(submit, { SETTLENET_NODE_TOKEN: late.credentials.regulator });
    expect(refused.code).to.not.equal(0);
    expect(refused.stderr).to.include("FORBIDDEN");
    const operatorEnv = { SETTLENET_NODE_TOKEN: late.credentials.operator };
    expect((await runCliOk(submit, operatorEnv)).trim()).to.match(new RegExp(`^node applies risk rules version ${version} \\(rules 0x[0-9a-f]{64}\\)$`));
    expect((await runCliOk(submit, operatorEnv)).trim()).to.match(/: already done, nothing changed$/);
    expect(await runCliOk(["risk-rules", "show", "--node", late.apiUrl, "--json"], { SETTLENET_NODE_TOKEN: late.credentials.regulator })).to.include(`"version":${version}`);
    const bad = await runCli(["risk-rules", "sign", "--rules", rulesFile, "--version", "zero", "--out", out, "--deployment", net.deploymentFile, "--key", key], keyEnv);
    expect(bad.code).to.not.equal(0);
    expect(bad.stderr).to.include("INVALID_ARGUMENT").and.include("--version");

    const signed = (await nodeApi(late).riskRules()).signed as SignedRiskRules;
    await appliedEverywhere(signed, nodes);
    const { op } = await signedPay(net.scenario, await termsFor(net.scenario, 0, 0, { amount: 5_000n }));
    const result = await nodeApi(late).submit(op);
    expect(result.accepted).to.equal(false);
    if (!result.accepted) expect(result.problem).to.deep.include({ code: "KYC_DAILY_LIMIT_EXCEEDED", kycLevel: 1, total: "11000", limit: "10000" });

    // The day's total survives a restart: the node rebuilds it from the operations it stored.
    await late.stop();
    await late.start();
    const afterRestart = await nodeApi(late).submit(op);
    expect(afterRestart.accepted).to.equal(false);
    if (!afterRestart.accepted) expect(afterRestart.problem).to.deep.include({ code: "KYC_DAILY_LIMIT_EXCEEDED", total: "11000", limit: "10000" });
  });
});
