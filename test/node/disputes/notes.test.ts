/**
 * The dispute-notes gossip validator on a real LevelDB: a note signed by the payment's merchant is
 * stored (once) and accepted; one signed by anyone else, or tampered with, is rejected (the forwarder
 * is penalised) and stored nowhere; a note on a payment this node has not indexed is ignored.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { expect } from "chai";
import { Wallet, hexlify } from "ethers";
import pino from "pino";

import { signDisputeNote, type DisputeNote } from "../../../core/protocol/dispute-note.js";
import type { PaymentRecord } from "../../../core/records.js";
import { DisputeNotes } from "../../../node/disputes/notes.js";
import { openStorage, type NodeStorage } from "../../../node/storage/db.js";

const ctx = { chainId: 31337n, escrow: Wallet.createRandom().address };
const merchant = Wallet.createRandom();
const stranger = Wallet.createRandom();
const message = (notes: DisputeNote[]) => new TextEncoder().encode(JSON.stringify({ v: 1, sentAtMs: Date.now(), notes }));

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
});
