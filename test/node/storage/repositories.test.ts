import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { expect } from "chai";
import { Wallet, hexlify, keccak256, toUtf8Bytes } from "ethers";

import type { EscrowOperationInput, EscrowOperationKind } from "../../../core/operations/index.js";
import { openStorage, type NodeStorage } from "../../../node/storage/db.js";
import type { PaymentRecord, StoredOperation } from "../../../core/records.js";
import { refusalOf } from "../../helpers/errors.js";
import { wireTerms } from "../../helpers/operations.js";

const hex32 = () => hexlify(randomBytes(32));
const address = () => Wallet.createRandom().address;

const codeOf = async (promise: Promise<unknown>): Promise<string> => (await refusalOf(promise)).code;

const payer = address();
const merchant = address();

function terms(nonce = "1") {
  return wireTerms({ payer, merchant, nonce });
}

/** A stored operation of `kind` on `paymentId` (signature bytes are irrelevant to storage). */
function storedOp(kind: EscrowOperationKind, paymentId: string, receivedAtMs: number, nonce = "7"): StoredOperation {
  const signature = "0x" + "aa".repeat(65);
  const signed = { terms: terms(), nonce, deadline: "1900000000", signature };
  const reason = "0x" + "00".repeat(32);
  const ops: Record<EscrowOperationKind, EscrowOperationInput> = {
    pay: { kind: "pay", terms: terms(), signature },
    markFulfilled: { kind: "markFulfilled", ...signed },
    confirm: { kind: "confirm", ...signed },
    release: { kind: "release", terms: terms() },
    refund: { kind: "refund", ...signed, amount: "10", reason },
    dispute: { kind: "dispute", ...signed, reason },
    resolve: { kind: "resolve", ...signed, payerAmount: "10", reason },
    reclaim: { kind: "reclaim", ...signed },
  };
  const signer = kind === "release" ? null : kind === "markFulfilled" || kind === "refund" ? merchant : payer;
  return { id: hex32(), kind, paymentId, op: ops[kind], signer, origin: "api", status: "accepted", receivedAtMs, updatedAtMs: receivedAtMs };
}

function record(overrides: Partial<PaymentRecord> & { paidAt: number }): PaymentRecord {
  return {
    paymentId: hex32(),
    payer,
    merchant,
    token: "0x" + "33".repeat(20),
    amount: "1000",
    orderId: "0x" + "44".repeat(32),
    feeBps: 100,
    direct: false,
    status: "held",
    refunded: "0",
    deadline: overrides.paidAt + 60,
    payerInstitution: "0x" + "a1".repeat(20),
    merchantInstitution: "0x" + "b2".repeat(20),
    paidBlock: 1,
    updatedAt: overrides.paidAt,
    events: [],
    ...overrides,
  };
}

describe("node storage (LevelDB)", function () {
  let dir: string;
  let storage: NodeStorage;

  beforeEach(async function () {
    dir = await mkdtemp(join(tmpdir(), "settlenet-storage-"));
    storage = await openStorage(dir);
  });
  afterEach(async function () {
    await storage.close();
    await rm(dir, { recursive: true, force: true });
  });

  const reopen = async () => {
    await storage.close();
    storage = await openStorage(dir);
  };

  describe("operations", function () {
    it("keeps accepted operations with their payment, status and nonce indexes across a reopen", async function () {
      const p1 = hex32();
      const p2 = hex32();
      const pay = storedOp("pay", p1, 1_000);
      const confirm = storedOp("confirm", p1, 2_000, "7");
      const refund = storedOp("refund", p2, 3_000, "9");
      await storage.operations.putAccepted([pay, confirm, refund]);
      await reopen();

      expect(await storage.operations.get(confirm.id)).to.deep.equal(confirm);
      expect(await storage.operations.has(refund.id)).to.equal(true);
      expect(await storage.operations.has(hex32())).to.equal(false);
      expect((await storage.operations.listByPayment(p1)).map((op) => op.id)).to.deep.equal([pay.id, confirm.id]);
      expect((await storage.operations.listByPayment(p2.toUpperCase().replace("0X", "0x"))).map((op) => op.id)).to.deep.equal([refund.id]);
      expect((await storage.operations.listByStatus("accepted", 10)).map((op) => op.id)).to.deep.equal([pay.id, confirm.id, refund.id]);
      expect((await storage.operations.listByStatus("accepted", 2)).map((op) => op.id)).to.deep.equal([pay.id, confirm.id]);
      expect(await storage.operations.listByStatus("submitted", 10)).to.deep.equal([]);
    });

    it("marks (signer, nonce) for signed kinds only, whatever the address case", async function () {
      const paymentId = hex32();
      await storage.operations.putAccepted([storedOp("pay", paymentId, 1), storedOp("release", paymentId, 2), storedOp("confirm", paymentId, 3, "7")]);
      expect(await storage.operations.nonceSeen(payer, 7n)).to.equal(true);
      expect(await storage.operations.nonceSeen(payer.toLowerCase(), 7n)).to.equal(true);
      expect(await storage.operations.nonceSeen(payer, 8n)).to.equal(false);
      expect(await storage.operations.nonceSeen(merchant, 7n)).to.equal(false);
      // The pay's terms nonce (1) is not an UnorderedNonces nonce of the payer.
      expect(await storage.operations.nonceSeen(payer, 1n)).to.equal(false);
      await storage.operations.putAccepted([storedOp("resolve", paymentId, 4, "1")]);
      expect(await storage.operations.nonceSeen(payer, 1n)).to.equal(true);
    });

    it("moves the status index on update, durably", async function () {
      const paymentId = hex32();
      const a = storedOp("confirm", paymentId, 1, "1");
      const b = storedOp("dispute", paymentId, 2, "2");
      await storage.operations.putAccepted([a, b]);
      const updated = await storage.operations.update(a.id, { status: "submitted", txHash: hex32() });
      expect(updated.status).to.equal("submitted");
      await reopen();
      expect((await storage.operations.listByStatus("accepted", 10)).map((op) => op.id)).to.deep.equal([b.id]);
      expect((await storage.operations.listByStatus("submitted", 10)).map((op) => op.id)).to.deep.equal([a.id]);
      expect((await storage.operations.get(a.id))?.txHash).to.equal(updated.txHash);

      await storage.operations.update(a.id, { status: "executed" });
      expect(await storage.operations.listByStatus("submitted", 10)).to.deep.equal([]);
      expect((await storage.operations.listByStatus("executed", 10)).map((op) => op.id)).to.deep.equal([a.id]);
    });

    it("attaches the payer's words to a stored dispute only if they hash to its signed reason, once, durably", async function () {
      const text = "Never arrived.";
      const base = storedOp("dispute", hex32(), 1, "3");
      const dispute = { ...base, op: { ...base.op, reason: keccak256(toUtf8Bytes(text)) } as EscrowOperationInput };
      const confirm = storedOp("confirm", hex32(), 2, "4");
      await storage.operations.putAccepted([dispute, confirm]);
      expect(await storage.operations.attachReasonText(dispute.id, "Arrived broken.")).to.equal(false);
      expect(await storage.operations.attachReasonText(confirm.id, text)).to.equal(false);
      expect(await storage.operations.attachReasonText(hex32(), text)).to.equal(false);
      expect(await storage.operations.attachReasonText(dispute.id, text)).to.equal(true);
      expect(await storage.operations.attachReasonText(dispute.id, text)).to.equal(false);
      await reopen();
      const stored = await storage.operations.get(dispute.id);
      expect(stored?.op).to.deep.equal({ ...dispute.op, reasonText: text });
      expect(stored?.status).to.equal("accepted");
      expect((await storage.operations.get(confirm.id))?.op).to.deep.equal(confirm.op);
    });

    it("never moves an operation out of a final status", async function () {
      const op = storedOp("confirm", hex32(), 1);
      await storage.operations.putAccepted([op]);
      await storage.operations.update(op.id, { status: "executed" });
      const late = await storage.operations.update(op.id, { status: "submitted", txHash: "0x" + "ab".repeat(32) });
      expect(late.status).to.equal("executed");
      expect(late.txHash).to.equal("0x" + "ab".repeat(32));
      expect((await storage.operations.listByStatus("executed", 10)).map((o) => o.id)).to.deep.equal([op.id]);
      expect(await storage.operations.listByStatus("submitted", 10)).to.deep.equal([]);
    });

    it("writes nothing for a change that changes nothing (a second record of the same execution)", async function () {
      const op = storedOp("confirm", hex32(), 1);
      await storage.operations.putAccepted([op]);
      const execution = { txHash: "0x" + "cd".repeat(32), blockNumber: 7, relayer: "0x" + "11".repeat(20), timestamp: 1_900_000_000 };
      const first = await storage.operations.updateMany([{ id: op.id, patch: { status: "executed", execution } }]);
      const before = storage.syncStats().ops;
      const again = await storage.operations.updateMany([
        { id: op.id, patch: { status: "executed", execution: { ...execution } } },
        { id: op.id, patch: { status: "executed" } },
      ]);
      expect(storage.syncStats().ops - before, "keys written").to.equal(0);
      expect(again[1]).to.deep.equal(first[0]);
      // Another execution's details are a change: written, the status staying final.
      const other = await storage.operations.update(op.id, { status: "submitted", execution: { ...execution, blockNumber: 8 } });
      expect(storage.syncStats().ops - before, "keys written").to.equal(1);
      expect(other).to.include({ status: "executed" });
      expect(other.execution?.blockNumber).to.equal(8);
    });

    it("leaves an already stored operation as it is when it is stored again", async function () {
      const op = storedOp("markFulfilled", hex32(), 1);
      await storage.operations.putAccepted([op]);
      await storage.operations.update(op.id, { status: "submitted" });
      await storage.operations.putAccepted([op, op]);
      expect((await storage.operations.get(op.id))?.status).to.equal("submitted");
      expect(await storage.operations.listByStatus("accepted", 10)).to.deep.equal([]);
    });

    it("visits every operation received since a time, whatever its status, page after page", async function () {
      const paymentId = hex32();
      const ops = Array.from({ length: 7 }, (_, i) => storedOp("confirm", paymentId, 1_000 + i, String(i)));
      await storage.operations.putAccepted(ops);
      await storage.operations.update(ops[4]!.id, { status: "submitted" });
      await storage.operations.update(ops[5]!.id, { status: "executed" });
      const visited: string[] = [];
      await storage.operations.forEachReceivedSince(1_002, (op) => visited.push(op.id), 2);
      expect(visited.sort()).to.deep.equal(ops.slice(2).map((op) => op.id).sort());
      const all: string[] = [];
      await storage.operations.forEachReceivedSince(0, (op) => all.push(op.id), 1);
      expect(all).to.have.length(7);
    });

    it("refuses to update an unknown operation", async function () {
      expect(await codeOf(storage.operations.update(hex32(), { status: "executed" }))).to.equal("NOT_FOUND");
    });
  });

  describe("index batches", function () {
    it("writes payments, operation status changes and the cursor in one batch that survives a reopen", async function () {
      const paymentId = hex32();
      const pay = storedOp("pay", paymentId, 1);
      const dispute = storedOp("dispute", paymentId, 2);
      await storage.operations.putAccepted([pay, dispute]);
      expect(await storage.getCursor()).to.equal(undefined);
      const execution = { txHash: hex32(), blockNumber: 42, relayer: address(), timestamp: 1_700_000_000 };
      const error = { code: "SignatureExpired", message: "SignatureExpired(5)", args: ["5"] };
      await storage.applyIndexBatch({
        payments: [record({ paymentId, paidAt: 1_700_000_000 })],
        operations: [
          { id: pay.id, status: "executed", execution },
          { id: dispute.id, status: "failed", error },
          { id: hex32(), status: "executed", execution },
        ],
        cursor: 42,
      });
      await reopen();
      expect(await storage.getCursor()).to.equal(42);
      expect((await storage.payments.get(paymentId))?.paidAt).to.equal(1_700_000_000);
      expect(await storage.operations.get(pay.id)).to.include({ status: "executed" }).and.to.have.deep.property("execution", execution);
      expect(await storage.operations.get(dispute.id)).to.include({ status: "failed" }).and.to.have.deep.property("error", error);
      expect(await storage.operations.listByStatus("accepted", 10)).to.deep.equal([]);
      expect((await storage.operations.listByStatus("failed", 10)).map((op) => op.id)).to.deep.equal([dispute.id]);
      expect((await storage.payments.listByMerchant(merchant, { limit: 10 })).items.map((r) => r.paymentId)).to.deep.equal([paymentId]);
    });

    it("keeps a rewritten payment under the index entries it was first written with", async function () {
      const first = record({ paidAt: 1_000 });
      await storage.applyIndexBatch({ payments: [first], operations: [], cursor: 1 });
      await storage.applyIndexBatch({ payments: [{ ...first, status: "released", updatedAt: 2_000 }], operations: [], cursor: 2 });
      for (const page of [
        await storage.payments.listByTime({ limit: 10 }),
        await storage.payments.listByPayer(payer, { limit: 10 }),
        await storage.payments.listByInstitution(first.payerInstitution, { limit: 10 }),
      ]) {
        expect(page.items.map((r) => [r.paymentId, r.status])).to.deep.equal([[first.paymentId, "released"]]);
      }
    });

    it("keeps and reads meta values", async function () {
      expect(await storage.getMeta("peer.count")).to.equal(undefined);
      await storage.putMeta("peer.count", { n: 3 });
      await reopen();
      expect(await storage.getMeta<{ n: number }>("peer.count")).to.deep.equal({ n: 3 });
    });
  });

  describe("payment lists", function () {
    const other = address();
    const institutionA = "0x" + "a1".repeat(20);
    const institutionB = "0x" + "b2".repeat(20);
    const institutionC = "0x" + "c3".repeat(20);
    let records: PaymentRecord[];

    beforeEach(async function () {
      // 9 payments to `merchant` (payer institution A, merchant institution B), 3 to `other` (C, C).
      records = Array.from({ length: 12 }, (_, i) =>
        i < 9
          ? record({ paidAt: 1_000 + i * 10 })
          : record({ paidAt: 1_000 + i * 10, merchant: other, payerInstitution: institutionC, merchantInstitution: institutionC }),
      );
      await storage.applyIndexBatch({ payments: records, operations: [], cursor: 10 });
    });

    const newestFirst = (rs: PaymentRecord[]) => [...rs].sort((a, b) => b.paidAt - a.paidAt).map((r) => r.paymentId);

    async function collect(list: (cursor?: string) => Promise<{ items: PaymentRecord[]; next?: string }>): Promise<string[][]> {
      const pages: string[][] = [];
      let cursor: string | undefined;
      do {
        const page = await list(cursor);
        pages.push(page.items.map((r) => r.paymentId));
        cursor = page.next;
      } while (cursor !== undefined && pages.length < 20);
      return pages;
    }

    it("pages a merchant's payments newest first with a cursor", async function () {
      const pages = await collect((cursor) => storage.payments.listByMerchant(merchant, { limit: 4, cursor }));
      expect(pages.map((p) => p.length)).to.deep.equal([4, 4, 1]);
      expect(pages.flat()).to.deep.equal(newestFirst(records.slice(0, 9)));
    });

    it("ends without a cursor when the last page is exactly full", async function () {
      const pages = await collect((cursor) => storage.payments.listByMerchant(other, { limit: 3, cursor }));
      expect(pages).to.deep.equal([newestFirst(records.slice(9))]);
    });

    it("applies an inclusive paidAt range across pages", async function () {
      // paidAt 1020..1060 → payments 2..6 of the merchant.
      const pages = await collect((cursor) => storage.payments.listByMerchant(merchant, { limit: 2, cursor, from: 1_020, to: 1_060 }));
      expect(pages.map((p) => p.length)).to.deep.equal([2, 2, 1]);
      expect(pages.flat()).to.deep.equal(newestFirst(records.slice(2, 7)));
      expect((await storage.payments.listByTime({ limit: 50, from: 1_110 })).items.map((r) => r.paymentId)).to.deep.equal([records[11]?.paymentId]);
      expect((await storage.payments.listByTime({ limit: 50, to: 1_000 })).items.map((r) => r.paymentId)).to.deep.equal([records[0]?.paymentId]);
      expect((await storage.payments.listByTime({ limit: 50, from: 1_001, to: 1_009 })).items).to.deep.equal([]);
      expect((await storage.payments.listByTime({ limit: 50, from: 1_100, to: 1_000 })).items).to.deep.equal([]);
    });

    it("lists by payer, by both institutions of a payment and by time", async function () {
      expect((await collect((cursor) => storage.payments.listByPayer(payer.toLowerCase(), { limit: 5, cursor }))).flat()).to.deep.equal(newestFirst(records));
      const ofMerchantSide = newestFirst(records.slice(0, 9));
      expect((await storage.payments.listByInstitution(institutionA, { limit: 50 })).items.map((r) => r.paymentId)).to.deep.equal(ofMerchantSide);
      expect((await storage.payments.listByInstitution(institutionB, { limit: 50 })).items.map((r) => r.paymentId)).to.deep.equal(ofMerchantSide);
      expect((await storage.payments.listByInstitution(institutionC, { limit: 50 })).items.map((r) => r.paymentId)).to.deep.equal(newestFirst(records.slice(9)));
      expect((await collect((cursor) => storage.payments.listByTime({ limit: 7, cursor }))).flat()).to.deep.equal(newestFirst(records));
    });

    it("refuses a cursor of another list, a forged cursor and a bad limit", async function () {
      const page = await storage.payments.listByMerchant(merchant, { limit: 2 });
      expect(page.next).to.be.a("string");
      expect(await codeOf(storage.payments.listByMerchant(other, { limit: 2, cursor: page.next }))).to.equal("INVALID_CURSOR");
      expect(await codeOf(storage.payments.listByMerchant(merchant, { limit: 2, cursor: "not*a*cursor" }))).to.equal("INVALID_CURSOR");
      expect(await codeOf(storage.payments.listByMerchant(merchant, { limit: 2, cursor: Buffer.from("x").toString("base64url") }))).to.equal("INVALID_CURSOR");
      expect(await codeOf(storage.payments.listByTime({ limit: 0 }))).to.equal("INVALID_ARGUMENT");
      expect(await codeOf(storage.payments.listByTime({ limit: 5, from: -1 }))).to.equal("INVALID_ARGUMENT");
    });

    it("caps a page at 500 items", async function () {
      const many = Array.from({ length: 510 }, (_, i) => record({ paidAt: 5_000 + i, merchant: other }));
      await storage.applyIndexBatch({ payments: many, operations: [], cursor: 11 });
      const page = await storage.payments.listByMerchant(other, { limit: 10_000 });
      expect(page.items).to.have.length(500);
      expect(page.next).to.be.a("string");
      const rest = await storage.payments.listByMerchant(other, { limit: 10_000, cursor: page.next });
      expect(rest.items).to.have.length(13);
      expect(rest.next).to.equal(undefined);
    });
  });

  describe("whole-database behaviour", function () {
    it("has a checksum that is stable across a reopen and changes with any write", async function () {
      await storage.operations.putAccepted([storedOp("pay", hex32(), 1)]);
      await storage.applyIndexBatch({ payments: [record({ paidAt: 10 })], operations: [], cursor: 3 });
      const before = await storage.checksum();
      expect(before).to.match(/^[0-9a-f]{64}$/);
      expect(await storage.checksum()).to.equal(before);
      await reopen();
      expect(await storage.checksum()).to.equal(before);
      await storage.putMeta("x", 1);
      const after = await storage.checksum();
      expect(after).to.not.equal(before);
      await storage.putMeta("x", 2);
      expect(await storage.checksum()).to.not.equal(after);
    });

    it("gives equal content in two databases the same checksum", async function () {
      const otherDir = await mkdtemp(join(tmpdir(), "settlenet-storage-"));
      const second = await openStorage(otherDir);
      try {
        const op = storedOp("confirm", hex32(), 5);
        const payment = record({ paidAt: 77 });
        for (const s of [storage, second]) {
          await s.operations.putAccepted([op]);
          await s.applyIndexBatch({ payments: [payment], operations: [], cursor: 9 });
        }
        expect(await second.checksum()).to.equal(await storage.checksum());
        await second.putMeta("cursor.other", 1);
        expect(await second.checksum()).to.not.equal(await storage.checksum());
      } finally {
        await second.close();
        await rm(otherDir, { recursive: true, force: true });
      }
    });

    it("refuses a second opener of the same directory", async function () {
      expect(await codeOf(openStorage(dir))).to.equal("STORAGE_LOCKED");
    });

    it("answers STORAGE_CLOSED after close", async function () {
      await storage.close();
      expect(await codeOf(storage.operations.get(hex32()))).to.equal("STORAGE_CLOSED");
      expect(await codeOf(storage.operations.putAccepted([storedOp("pay", hex32(), 1)]))).to.equal("STORAGE_CLOSED");
      expect(await codeOf(storage.payments.listByTime({ limit: 5 }))).to.equal("STORAGE_CLOSED");
      expect(await codeOf(storage.applyIndexBatch({ payments: [], operations: [], cursor: 1 }))).to.equal("STORAGE_CLOSED");
      expect(await codeOf(storage.checksum())).to.equal("STORAGE_CLOSED");
      storage = await openStorage(dir);
    });
  });
});
