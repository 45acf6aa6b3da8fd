import { expect } from "chai";

import { submitAndWaitEverywhere } from "../helpers/faults.js";
import { launchNetwork, nodeApi, peersOf, waitFor, type NodeHandle, type TestNetwork } from "../helpers/network.js";
import { signedConfirm, signedPay, termsFor } from "../helpers/operations.js";

describe("a network of 3 institution nodes and 1 regulator node (real processes)", function () {
  this.timeout(180_000);
  let net: TestNetwork;

  before(async function () {
    net = await launchNetwork({ institutions: 3, regulator: true, payers: 4 });
  });
  after(async function () {
    await net?.stop();
  });

  it("connects every node to every other registered node", async function () {
    for (const node of net.nodes) {
      await waitFor(`${node.name} to see 3 peers`, async () => (await peersOf(node)).length === net.nodes.length - 1);
    }
  });

  it("stores an operation submitted to one node on all four, executes it once, and reports it executed everywhere", async function () {
    const s = net.scenario;
    const terms = await termsFor(s, 0, 0);
    const pay = await signedPay(s, terms);
    const { paymentId } = pay;
    const entry = net.nodes[0];
    if (!entry) throw new Error("no node");
    const stored = await submitAndWaitEverywhere(net.nodes, entry, pay);
    expect(stored.map((op) => op.kind)).to.deep.equal(net.nodes.map(() => "pay"));
    expect((await s.contracts.escrow.paymentOf(paymentId)).status).to.equal(1n);
    const paid = await s.contracts.escrow.queryFilter(s.contracts.escrow.filters.PaymentPaid(paymentId));
    expect(paid).to.have.length(1);

    const regulator = net.nodes[3] as NodeHandle;
    expect((await nodeApi(regulator).payment(paymentId))?.onChain?.status).to.equal("held");
    await waitFor("the regulator to index the payment", async () => (await nodeApi(regulator).payment(paymentId))?.payment?.status === "held");
  });

  it("refuses a confirm signed by the wrong party with its coded reason, and changes nothing", async function () {
    const s = net.scenario;
    const terms = await termsFor(s, 1, 0);
    const { op, paymentId } = await signedPay(s, terms);
    const node = net.nodes[1];
    if (!node) throw new Error("no node");
    expect((await nodeApi(node).submit(op)).accepted).to.equal(true);
    await waitFor("the payment to be held", async () => (await s.contracts.escrow.paymentOf(paymentId)).status === 1n);
    const merchant = s.merchants[0];
    if (!merchant) throw new Error("no merchant");
    const forged = await signedConfirm(s, terms, merchant, 1n);
    const refused = await nodeApi(node).submit(forged);
    expect(refused.accepted ? "accepted" : [refused.problem.status, refused.problem.code]).to.deep.equal([422, "BAD_SIGNATURE"]);
    expect((await s.contracts.escrow.paymentOf(paymentId)).status).to.equal(1n);
  });

  it("refuses submissions on the read-only regulator node", async function () {
    const s = net.scenario;
    const { op } = await signedPay(s, await termsFor(s, 2, 1));
    const regulator = net.nodes.find((n) => n.role === "regulator") as NodeHandle;
    const refused = await nodeApi(regulator).submit(op);
    expect(refused.accepted ? "accepted" : [refused.problem.status, refused.problem.code]).to.deep.equal([403, "READ_ONLY"]);
  });
});
