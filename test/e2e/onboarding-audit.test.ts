/**
 * A node killed between an onboarding transaction being mined and the action's outcome being logged
 * (real processes, the crash point set by SETTLENET_FAILPOINT): the merchant is registered on-chain,
 * and after the restart the node's audit log holds the operator's intent for it, closed by the node
 * with the registry's record, and still verifies.
 */
import { expect } from "chai";
import { Contract, JsonRpcProvider, Wallet } from "ethers";

import { loadArtifact } from "../../core/protocol/artifacts.js";
import { verifyAuditLogOf } from "../../node/api/admin-cli.js";
import { launchNetwork, nodeApi, postJson, type TestNetwork } from "../helpers/network.js";

describe("onboarding audit: a node killed after the transaction and before the outcome entry keeps the intent (real processes)", function () {
  this.timeout(300_000);
  let net: TestNetwork;

  before(async function () {
    net = await launchNetwork({ institutions: 1, regulator: false, payers: 1 });
  });
  after(async function () {
    delete process.env["SETTLENET_FAILPOINT"];
    await net?.stop();
  });

  it("logs the operator's intent before the registration is sent; after the restart the node closes it with the registry's record and the log verifies", async function () {
    const [node] = net.nodes;
    if (!node) throw new Error("network incomplete");
    await node.stop();
    process.env["SETTLENET_FAILPOINT"] = "after-onboarding-send-before-audit";
    try {
      await node.start();
    } finally {
      delete process.env["SETTLENET_FAILPOINT"];
    }
    const dying = node.process;
    if (!dying) throw new Error("node not running");
    const exited = new Promise<NodeJS.Signals | null>((resolve) => dying.once("exit", (_code, signal) => resolve(signal)));

    const merchant = Wallet.createRandom().address;
    const answer = await postJson(`${node.apiUrl}/v1/admin/merchants`, { address: merchant, kycLevel: 2, feeBps: 80, payoutAccount: "CN00 1111 2222" }).then(
      (response) => `answered ${response.status}`,
      () => "no answer",
    );
    expect(answer).to.equal("no answer");
    expect(await exited).to.equal("SIGKILL");
    await node.stop();

    // The action took effect on-chain.
    const registry = new Contract(net.scenario.deployment.contracts.registry, loadArtifact("ParticipantRegistry").abi, new JsonRpcProvider(net.chain.url));
    const onChain = (await registry.getFunction("accountOf")(merchant)) as { kind: bigint; status: bigint; feeBps: bigint };
    // AccountKind 2 merchant, AccountStatus 1 active.
    expect([onChain.kind, onChain.status, onChain.feeBps]).to.deep.equal([2n, 1n, 80n]);

    await node.start();
    const client = nodeApi(node);
    const entries = (await client.auditLog({ limit: 1_000 })).entries.filter((e) => e.target === merchant.toLowerCase());
    // The operator's intent, logged before the transaction; the node closed it at its restart with what
    // the registry holds.
    expect(entries.map((e) => e.action)).to.deep.equal(["merchant.register.intent", "merchant.register.interrupted"]);
    const [intent, interrupted] = entries;
    expect(intent?.role).to.equal("operator");
    expect(intent?.actor).to.match(/^credential:/);
    expect(intent?.details).to.deep.include({ method: "registerMerchant", to: net.scenario.deployment.contracts.registry.toLowerCase(), kycLevel: 2, feeBps: 80 });
    expect(interrupted?.role).to.equal("node");
    expect(interrupted?.details).to.deep.equal({ intents: [String(intent?.seq)], kind: "merchant", status: "active", kycLevel: 2, feeBps: 80 });
    const verified = await verifyAuditLogOf(client);
    expect(verified.ok, JSON.stringify(verified)).to.equal(true);
  });
});
