/**
 * A node killed between the synced store of an API group and its gossip publish (real processes, the
 * crash point set by SETTLENET_FAILPOINT): after the restart it publishes what it stored, so its peer
 * holds the operation from gossip. Node a relays only every 10 minutes here, so that what it stored is
 * still pending when it is back (an executed operation is not published again: peers see it on-chain).
 */
import { expect } from "chai";

import { launchNetwork, nodeApi, peersOf, postJson, waitFor, type TestNetwork } from "../helpers/network.js";
import { paidCounts, signedPay, termsFor } from "../helpers/operations.js";

describe("gossip outbox: a node killed after the store and before the gossip publishes on restart (real processes)", function () {
  this.timeout(180_000);
  let net: TestNetwork;

  before(async function () {
    net = await launchNetwork({ institutions: 2, regulator: false, payers: 2, nodeConfig: { "institution-0": { relay: { batchIntervalMs: 600_000 } } } });
    for (const node of net.nodes) await waitFor(`${node.name} to see its peer`, async () => (await peersOf(node)).length === 1);
  });
  after(async function () {
    delete process.env["SETTLENET_FAILPOINT"];
    await net?.stop();
  });

  it("publishes a group stored just before the crash once it is back, and the peer stores it from gossip", async function () {
    const [a, b] = net.nodes;
    if (!a || !b) throw new Error("network incomplete");
    await a.stop();
    process.env["SETTLENET_FAILPOINT"] = "after-store-before-gossip";
    try {
      await a.start();
    } finally {
      delete process.env["SETTLENET_FAILPOINT"];
    }
    const dying = a.process;
    if (!dying) throw new Error("node a not running");
    const exited = new Promise<NodeJS.Signals | null>((resolve) => dying.once("exit", (_code, signal) => resolve(signal)));

    const { op, paymentId } = await signedPay(net.scenario, await termsFor(net.scenario, 0, 0));
    const answer = await postJson(`${a.apiUrl}/v1/operations`, op).then(
      (response) => `answered ${response.status}`,
      () => "no answer",
    );
    expect(answer).to.equal("no answer");
    expect(await exited).to.equal("SIGKILL");
    await a.stop();
    // Never gossiped: the peer does not know it.
    expect(await nodeApi(b).operation(paymentId)).to.equal(undefined);

    await a.start();
    const atA = await waitFor("a to hold the operation it stored before the crash", () => nodeApi(a).operation(paymentId));
    expect(atA.origin).to.equal("api");
    const atB = await waitFor("b to store the operation from gossip", () => nodeApi(b).operation(paymentId), 60_000);
    expect(atB.origin).to.equal("gossip");
    expect(atB.status).to.equal("accepted");
    // Nothing relayed it yet (a relays after 10 minutes here): the peer learnt it from gossip alone.
    expect((await paidCounts(net.scenario)).get(paymentId.toLowerCase())).to.equal(undefined);
  });
});
