/**
 * The dispute-notes gossip validator on a real LevelDB: a note signed by the payment's merchant is
 * stored (once) and accepted; one signed by anyone else, or tampered with, is rejected (the forwarder
 * is penalised) and stored nowhere; a note on a payment this node has not indexed is ignored. A note
 * from this node's API is taken once the payer's dispute has executed, even before the indexer has
 * applied it to the payment record, and refused while the payment is held without one.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { expect } from "chai";
import { Wallet, hexlify } from "ethers";
import pino from "pino";

import { signDisputeNote, type DisputeNote } from "../../../core/protocol/dispute-note.js";
import type { EscrowOperationInput } from "../../../core/operations/index.js";
import type { PaymentRecord, StoredOperation } from "../../../core/records.js";
import { DisputeNotes } from "../../../node/disputes/notes.js";
import { wireTerms } from "../../helpers/operations.js";
import { openStorage, type NodeStorage } from "../../../node/storage/db.js";

const ctx = { chainId: 31337n, escrow: Wallet.createRandom().address };
const merchant = Wallet.createRandom();
const stranger = Wallet.createRandom();
const message = (notes: DisputeNote[]) => new TextEncoder().encode(JSON.stringify({ v: 1, sentAtMs: Date.now(), notes }));

/** The payer's dispute (or an arbiter's resolve) of `payment` as this node stores it (signature bytes are irrelevant here). */
function storedOp(kind: "dispute" | "resolve", payment: PaymentRecord, nonce: string): StoredOperation {
  const terms = wireTerms({ payer: payment.payer, merchant: payment.merchant, nonce: "1" });
  const signed = { terms, nonce, deadline: "1900000000", signature: "0x" + "aa".repeat(65), reason: "0x" + "00".repeat(32) };
  const op: EscrowOperationInput = kind === "dispute" ? { kind, ...signed } : { kind, ...signed, payerAmount: "10" };
  return { id: hexlify(randomBytes(32)), kind, paymentId: payment.paymentId, op, signer: payment.payer, origin: "gossip", status: "accepted", receivedAtMs: 1, updatedAtMs: 1 };
}

function disputedPayment(): PaymentRecord {
  const paymentId = hexlify(randomBytes(32));
  return {
    paymentId,
    payer: Wallet.createRandom().address,
    merchant: merchant.address,
    token: "0x" + "33".repeat(20),
    amount: "1000",
    orderId: hexlify(randomBytes(32)),
    feeBps: 100,
    direct: false,
    status: "disputed",
    refunded: "0",
    deadline: 0,
    payerInstitution: "",
    merchantInstitution: "",
    paidAt: 100,
    paidBlock: 1,
    updatedAt: 200,
    events: [{ event: "PaymentDisputed", blockNumber: 2, txHash: hexlify(randomBytes(32)), logIndex: 0, timestamp: 200, args: { reason: hexlify(randomBytes(32)) } }],
  };
}

describe("node: dispute notes over gossip (LevelDB)", function () {
  let dir: string;
  let storage: NodeStorage;
  let notes: DisputeNotes;

  beforeEach(async function () {
    dir = await mkdtemp(join(tmpdir(), "settlenet-notes-"));
    storage = await openStorage(dir);
    notes = new DisputeNotes(ctx, { storage, logger: pino({ level: "silent" }) });
  });
  afterEach(async function () {
    await storage.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("stores a note signed by the payment's merchant once, with an entry in the audit log", async function () {
    const payment = disputedPayment();
    await storage.applyIndexBatch({ payments: [payment], operations: [], cursor: 1 });
    const note = await signDisputeNote(merchant, { paymentId: payment.paymentId, text: "Delivered, signed for.", evidence: ["SF1"], createdAtMs: 1 }, ctx);
    expect(await notes.onGossip("peer", message([note]))).to.equal("accept");
    expect(await notes.onGossip("peer", message([note]))).to.equal("accept");
    const stored = await storage.disputes.notesOf(payment.paymentId);
    expect(stored.map((n) => [n.note.text, n.merchant, n.origin])).to.deep.equal([["Delivered, signed for.", merchant.address.toLowerCase(), "gossip"]]);
    const audit = await storage.audit.list({ limit: 10 });
    expect(audit.entries.filter((e) => e.action === "dispute.note").map((e) => [e.actor, e.target])).to.deep.equal([[merchant.address.toLowerCase(), payment.paymentId.toLowerCase()]]);
  });

  it("rejects a note signed by someone other than the merchant, or altered after signing, and stores neither", async function () {
    const payment = disputedPayment();
    await storage.applyIndexBatch({ payments: [payment], operations: [], cursor: 1 });
    const forged = await signDisputeNote(stranger, { paymentId: payment.paymentId, text: "Refund nothing.", evidence: [], createdAtMs: 1 }, ctx);
    expect(await notes.onGossip("peer", message([forged]))).to.equal("reject");
    const altered = { ...(await signDisputeNote(merchant, { paymentId: payment.paymentId, text: "Partly delivered.", evidence: [], createdAtMs: 2 }, ctx)), text: "Fully delivered." };
    expect(await notes.onGossip("peer", message([altered]))).to.equal("reject");
    expect(await notes.onGossip("peer", new TextEncoder().encode("{\"v\":1,\"sentAtMs\":1,\"notes\":[{\"html\":\"<b>\"}]}"))).to.equal("reject");
    expect(await storage.disputes.notesOf(payment.paymentId)).to.deep.equal([]);
  });

  it("ignores a note on a payment this node has not indexed", async function () {
    const payment = disputedPayment();
    const note = await signDisputeNote(merchant, { paymentId: payment.paymentId, text: "Shipped.", evidence: [], createdAtMs: 1 }, ctx);
    expect(await notes.onGossip("peer", message([note]))).to.equal("ignore");
    expect(await storage.disputes.notesOf(payment.paymentId)).to.deep.equal([]);
  });

  describe("a note from this node's API", function () {
    /** A payment the indexer still shows held, the dispute in the state `status` (none when undefined). */
    async function heldPayment(dispute?: "accepted" | "executed"): Promise<PaymentRecord> {
      const payment = { ...disputedPayment(), status: "held" as const, events: [] };
      await storage.applyIndexBatch({ payments: [payment], operations: [], cursor: 1 });
      if (dispute) {
        const op = storedOp("dispute", payment, "7");
        await storage.operations.putAccepted([op]);
        if (dispute === "executed") await storage.operations.update(op.id, { status: "executed" });
      }
      return payment;
    }
    const refusal = async (note: DisputeNote): Promise<string | undefined> =>
      notes.submit(note).then(
        () => undefined,
        (error: unknown) => (error as { code?: string }).code,
      );

    it("takes the merchant's note once the payer's dispute has executed, before the indexer applies it to the payment", async function () {
      const payment = await heldPayment("executed");
      expect((await storage.payments.get(payment.paymentId))?.status).to.equal("held");
      const note = await signDisputeNote(merchant, { paymentId: payment.paymentId, text: "Delivered on time.", evidence: [], createdAtMs: 1 }, ctx);
      const { created, stored } = await notes.submit(note);
      expect(created).to.equal(true);
      expect(stored.origin).to.equal("api");
      expect((await storage.disputes.notesOf(payment.paymentId)).map((n) => n.note.text)).to.deep.equal(["Delivered on time."]);
    });

    it("refuses a note on a held payment whose dispute has not executed, or whose dispute is resolved", async function () {
      for (const state of [undefined, "accepted"] as const) {
        const payment = await heldPayment(state);
        const note = await signDisputeNote(merchant, { paymentId: payment.paymentId, text: "Too early.", evidence: [], createdAtMs: 1 }, ctx);
        expect(await refusal(note), `dispute ${state ?? "absent"}`).to.equal("PAYMENT_NOT_DISPUTED");
        expect(await storage.disputes.notesOf(payment.paymentId)).to.deep.equal([]);
      }
      const payment = await heldPayment("executed");
      const resolve = storedOp("resolve", payment, "8");
      await storage.operations.putAccepted([resolve]);
      await storage.operations.update(resolve.id, { status: "executed" });
      const note = await signDisputeNote(merchant, { paymentId: payment.paymentId, text: "Too late.", evidence: [], createdAtMs: 1 }, ctx);
      expect(await refusal(note)).to.equal("PAYMENT_NOT_DISPUTED");
      expect(await storage.disputes.notesOf(payment.paymentId)).to.deep.equal([]);
    });
  });
});
