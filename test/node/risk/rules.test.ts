/**
 * Signed risk rules on one node, with its real LevelDB and the registry on a real chain: documents
 * from peers (malformed rejected; not governance's or not newer ignored, storing nothing; a valid one
 * stored with its audit entry and applied), and a restarted node applying its stored document.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { expect } from "chai";
import { Contract, Wallet, ZeroHash } from "ethers";
import { pino } from "pino";

import { escrowOperationSchema, termsToJson } from "../../../core/operations/index.js";
import { loadArtifact } from "../../../core/protocol/artifacts.js";
import { riskRulesDomain, signRiskRules, type RiskRulesDocument, type SignedRiskRules } from "../../../core/protocol/risk-rules.js";
import { riskConfigSchema } from "../../../node/config.js";
import { RiskRulesService } from "../../../node/risk/rules.js";
import { openStorage, type NodeStorage } from "../../../node/storage/db.js";
import { RiskEngine } from "../../../node/validation/risk.js";
import { deployScenario, startChain, type LocalChain, type Scenario } from "../../helpers/chain.js";
import { termsFor } from "../../helpers/operations.js";

describe("signed risk rules on a node (node/risk/rules.ts)", function () {
  this.timeout(60_000);
  let chain: LocalChain;
  let s: Scenario;
  let dir: string;
  let storage: NodeStorage;
  let token: string;
  const logger = pino({ level: "silent" });

  before(async function () {
    chain = await startChain();
    s = await deployScenario(chain, { institutions: 1, payers: 1 });
    token = s.deployment.tokens["CNY"]!.address;
    dir = await mkdtemp(join(tmpdir(), "settlenet-risk-rules-"));
    storage = await openStorage(dir);
  });
  after(async function () {
    await storage?.close();
    await chain?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const domain = () => riskRulesDomain(BigInt(s.deployment.chainId), s.deployment.contracts.registry);
  const document = (version: number, single: string): RiskRulesDocument => ({ version, rules: { blacklist: [], kycLimits: { "1": { [token]: { single } } } } });
  const message = (signed: SignedRiskRules) => new TextEncoder().encode(JSON.stringify({ v: 1, sentAtMs: Date.now(), signed }));

  function service(risk: RiskEngine): RiskRulesService {
    const registry = new Contract(s.deployment.contracts.registry, loadArtifact("ParticipantRegistry").abi, chain.provider);
    return new RiskRulesService(
      { chainId: BigInt(s.deployment.chainId), registry: s.deployment.contracts.registry, rebroadcastMs: 60_000 },
      { storage, risk, isGovernance: async (account) => (await registry.getFunction("hasRole")(ZeroHash, account)) as boolean, logger },
    );
  }

  /** Whether `risk` refuses a 2000 pay of the (level-1 customer) payer. */
  async function refuses(risk: RiskEngine): Promise<boolean> {
    const terms = await termsFor(s, 0, 0, { amount: 2_000n });
    const op = escrowOperationSchema.parse({ kind: "pay", terms: termsToJson(terms), signature: "0x" + "11".repeat(65) });
    try {
      risk.check(op, 1_000, "gossip");
      return false;
    } catch {
      return true;
    }
  }

  it("applies a governance document from a peer, ignores forged and older ones, rejects malformed ones, storing only the applied one", async function () {
    const risk = new RiskEngine(riskConfigSchema.parse({}), () => 1);
    const node = service(risk);
    await node.load();
    expect(node.view()).to.deep.equal({ version: 0, source: "config" });

    expect(await node.onGossip("peer-a", new TextEncoder().encode("{not json"))).to.equal("reject");
    expect(await node.onGossip("peer-a", message({ document: document(1, "1000"), signature: "0x" + "ab".repeat(65) }))).to.equal("ignore");
    const forged = await signRiskRules(Wallet.createRandom(), document(1, "1000"), domain());
    expect(await node.onGossip("peer-a", message(forged))).to.equal("ignore");
    expect(await storage.riskRules()).to.equal(undefined);
    expect(await refuses(risk)).to.equal(false);

    const v2 = await signRiskRules(s.admin, document(2, "1000"), domain());
    expect(await node.onGossip("peer-a", message(v2))).to.equal("accept");
    expect(node.view()).to.deep.include({ version: 2, source: "signed", signer: s.admin.address });
    expect(await refuses(risk)).to.equal(true);
    const older = await signRiskRules(s.admin, document(1, "5000"), domain());
    expect(await node.onGossip("peer-b", message(older))).to.equal("ignore");
    expect(await node.onGossip("peer-b", message(v2))).to.equal("ignore");
    expect(await storage.riskRules()).to.deep.equal(v2);

    const entries = (await storage.audit.list({ limit: 100 })).entries.filter((e) => e.action === "riskRules.apply");
    expect(entries).to.have.length(1);
    expect(entries[0]).to.deep.include({ actor: "peer:peer-a", role: "gossip", target: "2" });
    expect((await storage.audit.verify()).ok).to.equal(true);
  });

  it("applies the stored document when the node starts again, before validating anything", async function () {
    const risk = new RiskEngine(riskConfigSchema.parse({}), () => 1);
    expect(await refuses(risk)).to.equal(false);
    const node = service(risk);
    await node.load();
    expect(node.view().version).to.equal(2);
    expect(await refuses(risk)).to.equal(true);
  });
});
