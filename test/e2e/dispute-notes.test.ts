/**
 * Disputes across real node processes (libp2p): the payer's reason in words, and merchants' notes.
 * The reason's text travels with the signed dispute (off-chain) and a node takes it only if it hashes
 * to the signed reason; taken, it reaches the other node by gossip, where the dispute queue and the
 * payment's audit history show it. A merchant's note signed with the merchant's key and submitted at
 * one node is stored there and reaches the other node, where the dispute queue (from the dispute
 * index) shows it; a note signed by anyone else, or on a payment that is not disputed, is refused with
 * its code. A node that was down when a note was added gets it once it is back, from the origin's
 * re-publication. One network for both: each test disputes a payment of its own.
 */
import { expect } from "chai";
import { encodeBytes32String, hexlify, randomBytes, type HDNodeWallet, type Wallet } from "ethers";

import { NodeApiError } from "../../core/api/client.js";
import { disputeReasonOf } from "../../core/operations/dispute.js";
import { signEscrowOperation, termsToJson } from "../../core/operations/index.js";
import { signDisputeNote } from "../../core/protocol/dispute-note.js";
import { launchNetwork, nodeApi, waitFor, waitForOperation, type NodeHandle, type TestNetwork } from "../helpers/network.js";
import { signedPay, termsFor } from "../helpers/operations.js";

const codeOf = async (promise: Promise<unknown>) => {
  try {
    await promise;
    return "accepted";
  } catch (error) {
    if (error instanceof NodeApiError) return [error.status, error.code];
    throw error;
  }
};

describe("disputes across nodes (real processes, libp2p)", function () {
  this.timeout(300_000);
  let net: TestNetwork;

  before(async function () {
    // Notes on open disputes are published again every half second here (30 s by default).
    net = await launchNetwork({ institutions: 2, payers: 2, config: { disputes: { rebroadcastMs: 500 } } });
  });
  /** A payment of payer 0 to merchant 0 submitted at `origin`, once every node reports it executed. */
  async function paidEverywhere(origin: NodeHandle, amount: bigint) {
    const terms = await termsFor(net.scenario, 0, 0, { amount });
    const { op, paymentId } = await signedPay(net.scenario, terms);
    const paid = await nodeApi(origin).submit(op);
    if (!paid.accepted) throw new Error(`pay refused: ${paid.problem.code}`);
    await waitForOperation(net.nodes, paid.id, "executed", 60_000);
    return { terms, paymentId };
  }

  after(async function () {
    await net?.stop();
  });

  describe("the payer's dispute reason in words across nodes", function () {
    it("refuses a text that is not the signed reason (REASON_MISMATCH, nothing stored), takes the matching one and gossips it with the dispute", async function () {
      const s = net.scenario;
      const [origin, other] = net.nodes as [NodeHandle, NodeHandle];
      const ctx = { chainId: BigInt(s.deployment.chainId), escrow: s.deployment.contracts.escrow };
      const payer = s.payers[0] as Wallet | HDNodeWallet;
      const { terms, paymentId } = await paidEverywhere(origin, 4_000n);

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

  describe("merchants' notes on disputes across nodes", function () {

    it("stores a note submitted at one node, shows it at the other in the dispute queue, and refuses notes not signed by the merchant or on an undisputed payment", async function () {
      const s = net.scenario;
      const [origin, other] = net.nodes as [NodeHandle, NodeHandle];
      const ctx = { chainId: BigInt(s.deployment.chainId), escrow: s.deployment.contracts.escrow };
      const merchant = s.merchants[0] as Wallet | HDNodeWallet;
      const payer = s.payers[0] as Wallet | HDNodeWallet;
      const { terms, paymentId } = await paidEverywhere(origin, 5_000n);
      // A note is checked against the node's indexed payment, which its indexer writes after the relay's receipt.
      await waitFor(`${origin.name} to index the payment`, async () => (await nodeApi(origin).payment(paymentId))?.payment?.status === "held", 60_000);

      const note = { paymentId, text: "Shipped on time; the courier has it as delivered.", evidence: ["SF1234567890"], createdAtMs: Date.now() };
      // Not disputed yet.
      expect(await codeOf(nodeApi(origin).submitDisputeNote(await signDisputeNote(merchant, note, ctx)))).to.deep.equal([409, "PAYMENT_NOT_DISPUTED"]);

      const now = (await net.chain.provider.getBlock("latest"))?.timestamp ?? 0;
      const reason = encodeBytes32String("item never arrived");
      const dispute = await signEscrowOperation(payer, { kind: "dispute", terms: termsToJson(terms), reason, nonce: BigInt(hexlify(randomBytes(16))).toString(), deadline: String(now + 3_600) }, ctx);
      const disputed = await nodeApi(origin).submit(dispute);
      if (!disputed.accepted) throw new Error(`dispute refused: ${disputed.problem.code}`);
      await waitForOperation(net.nodes, disputed.id, "executed", 60_000);

      // Signed by the payer, not the merchant: refused at the API, stored nowhere.
      expect(await codeOf(nodeApi(origin).submitDisputeNote(await signDisputeNote(payer, note, ctx)))).to.deep.equal([422, "NOTE_NOT_BY_MERCHANT"]);
      // A merchant's signature over other words than the note carries.
      const tampered = { ...(await signDisputeNote(merchant, note, ctx)), text: "Refund the payer in full." };
      expect(await codeOf(nodeApi(origin).submitDisputeNote(tampered))).to.deep.equal([422, "NOTE_NOT_BY_MERCHANT"]);

      const signed = await signDisputeNote(merchant, note, ctx);
      const first = await nodeApi(origin).submitDisputeNote(signed);
      expect(first.created).to.equal(true);
      expect(first.note).to.include({ paymentId, merchant: merchant.address.toLowerCase(), text: note.text });
      const again = await nodeApi(origin).submitDisputeNote(signed);
      expect([again.created, again.note.id]).to.deep.equal([false, first.note.id]);

      const queued = await waitFor(`${other.name} to show the note in its dispute queue`, async () => {
        const page = await nodeApi(other).disputes({ status: "open" });
        const item = page.items.find((d) => d.payment.paymentId === paymentId);
        return item && item.notes.length > 0 ? item : undefined;
      }, 60_000);
      expect(queued.reason).to.equal(reason);
      expect(queued.notes.map((n) => [n.id, n.text, n.evidence, n.merchant, n.signature])).to.deep.equal([[first.note.id, note.text, note.evidence, merchant.address.toLowerCase(), signed.signature]]);
      expect((await nodeApi(other).disputeNotes(paymentId)).map((n) => n.id)).to.deep.equal([first.note.id]);
      // The regulators' audit trail of the payment carries it too.
      expect((await nodeApi(other).paymentHistory(paymentId))?.disputeNotes.map((n) => n.id)).to.deep.equal([first.note.id]);
      // Only the signed note arrived: the refused ones are nowhere.
      expect((await nodeApi(origin).disputeNotes(paymentId)).map((n) => n.id)).to.deep.equal([first.note.id]);
    });

    it("brings a note added while a node was down to that node once it is back", async function () {
      const s = net.scenario;
      const [origin, other] = net.nodes as [NodeHandle, NodeHandle];
      const ctx = { chainId: BigInt(s.deployment.chainId), escrow: s.deployment.contracts.escrow };
      const open = (await nodeApi(origin).disputes({ status: "open" })).items[0];
      if (!open) throw new Error("no open dispute");
      const paymentId = open.payment.paymentId;
      await other.stop();
      const note = await signDisputeNote(s.merchants[0] as Wallet | HDNodeWallet, { paymentId, text: "Second note, while institution 1 is down.", evidence: [], createdAtMs: Date.now() }, ctx);
      const added = await nodeApi(origin).submitDisputeNote(note);
      await other.start();
      await waitFor(`${other.name} to get the note added while it was down`, async () => (await nodeApi(other).disputeNotes(paymentId)).some((n) => n.id === added.note.id), 60_000);
      expect(await nodeApi(other).disputeNotes(paymentId)).to.have.length(open.notes.length + 1);
    });
  });
});
