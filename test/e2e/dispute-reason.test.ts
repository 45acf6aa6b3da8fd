/**
 * The payer's dispute reason in words across real node processes: the text travels with the signed
 * dispute (off-chain) and a node takes it only if it hashes to the signed reason; taken, it reaches the
 * other node by gossip, where the dispute queue and the payment's audit history show it.
 */
import { expect } from "chai";
import { hexlify, randomBytes, type HDNodeWallet, type Wallet } from "ethers";

import { disputeReasonOf } from "../../core/operations/dispute.js";
import { signEscrowOperation, termsToJson } from "../../core/operations/index.js";
import { launchNetwork, nodeApi, waitFor, waitForOperation, type NodeHandle, type TestNetwork } from "../helpers/network.js";
import { signedPay, termsFor } from "../helpers/operations.js";

describe("the payer's dispute reason in words across nodes (real processes, libp2p)", function () {
  this.timeout(300_000);
  let net: TestNetwork;

  before(async function () {
    net = await launchNetwork({ institutions: 2, payers: 1 });
  });
  after(async function () {
    await net?.stop();
  });

  it("refuses a text that is not the signed reason (REASON_MISMATCH, nothing stored), takes the matching one and gossips it with the dispute", async function () {
    const s = net.scenario;
    const [origin, other] = net.nodes as [NodeHandle, NodeHandle];
    const ctx = { chainId: BigInt(s.deployment.chainId), escrow: s.deployment.contracts.escrow };
    const payer = s.payers[0] as Wallet | HDNodeWallet;
    const terms = await termsFor(s, 0, 0, { amount: 4_000n });
    const { op, paymentId } = await signedPay(s, terms);
    const paid = await nodeApi(origin).submit(op);
    if (!paid.accepted) throw new Error(`pay refused: ${paid.problem.code}`);
    await waitForOperation(net.nodes, paid.id, "executed", 60_000);

    // Longer than 31 bytes: the chain has only its hash.
    const words = "The parcel never arrived and the merchant has not answered in a week — 货物一周未到";
    const now = (await net.chain.provider.getBlock("latest"))?.timestamp ?? 0;
    const dispute = await signEscrowOperation(
      payer,
      { kind: "dispute", terms: termsToJson(terms), reason: disputeReasonOf(words), nonce: BigInt(hexlify(randomBytes(16))).toString(), deadline: String(now + 3_600) },
      ctx,
    );

    const mismatched = await nodeApi(origin).submit({ ...dispute, reasonText: "Refund me in full." });
    expect(mismatched.accepted ? "accepted" : [mismatched.problem.status, mismatched.problem.code]).to.deep.equal([422, "REASON_MISMATCH"]);
    expect((await nodeApi(origin).paymentHistory(paymentId))?.operations.map((o) => o.kind)).to.deep.equal(["pay"]);

    const disputed = await nodeApi(origin).submit({ ...dispute, reasonText: words });
    if (!disputed.accepted) throw new Error(`dispute refused: ${disputed.problem.code}`);
    expect((await nodeApi(origin).operation(disputed.id))?.op).to.include({ reasonText: words });

    // At the other node, from gossip: the stored operation, then the dispute queue once it executed.
    const received = await waitFor(`${other.name} to store the dispute`, () => nodeApi(other).operation(disputed.id), 60_000);
    expect(received.origin).to.equal("gossip");
    expect(received.op).to.include({ reasonText: words, reason: disputeReasonOf(words) });
    await waitForOperation(net.nodes, disputed.id, "executed", 60_000);
    const queued = await waitFor(`${other.name} to show the dispute in its queue`, async () => (await nodeApi(other).disputes({ status: "open" })).items.find((d) => d.payment.paymentId === paymentId), 60_000);
    expect([queued.reason, queued.reasonText]).to.deep.equal([disputeReasonOf(words), words]);
    const step = (await nodeApi(other).paymentHistory(paymentId))?.operations.find((o) => o.kind === "dispute");
    expect([step?.reason, step?.reasonText]).to.deep.equal([disputeReasonOf(words), words]);
  });
});
