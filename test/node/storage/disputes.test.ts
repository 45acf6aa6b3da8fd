/**
 * The dispute index on LevelDB: kept by the indexer's batches (applyIndexBatch), so an old dispute
 * stays in the arbiter's queue however many payments follow it; cursor pages; rebuilt once for
 * payments indexed before it existed.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { expect } from "chai";
import { Wallet, hexlify } from "ethers";

import type { PaymentRecord } from "../../../core/records.js";
import { openStorage, type NodeStorage } from "../../../node/storage/db.js";

const hex32 = () => hexlify(randomBytes(32));
const merchant = Wallet.createRandom().address;

function record(paidAt: number, overrides: Partial<PaymentRecord> = {}): PaymentRecord {
  return {
    paymentId: hex32(),
    payer: Wallet.createRandom().address,
    merchant,
    token: "0x" + "33".repeat(20),
    amount: "1000",
    orderId: hex32(),
    feeBps: 100,
    direct: false,
    status: "held",
    refunded: "0",
    deadline: paidAt + 60,
    payerInstitution: "",
    merchantInstitution: "",
    paidAt,
    paidBlock: 1,
    updatedAt: paidAt,
    events: [],
    ...overrides,
  };
}

const event = (name: string, timestamp: number, args: Record<string, string> = {}) => ({ event: name, blockNumber: timestamp, txHash: hex32(), logIndex: 0, timestamp, args });
const disputed = (r: PaymentRecord, at: number): PaymentRecord => ({ ...r, status: "disputed", updatedAt: at, events: [...r.events, event("PaymentDisputed", at, { reason: hex32() })] });
const resolved = (r: PaymentRecord, at: number): PaymentRecord => ({ ...r, status: "resolved", updatedAt: at, events: [...r.events, event("PaymentResolved", at, { payerAmount: "10" })] });

describe("node storage: the dispute index", function () {
  let dir: string;
  let storage: NodeStorage;
  let cursor = 0;
  const index = (payments: PaymentRecord[]) => storage.applyIndexBatch({ payments, operations: [], cursor: ++cursor });

  beforeEach(async function () {
    dir = await mkdtemp(join(tmpdir(), "settlenet-disputes-"));
    storage = await openStorage(dir);
  });
  afterEach(async function () {
    await storage.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("keeps a dispute in the open queue behind more than 500 newer payments, and moves it to resolved once decided", async function () {
    const old = record(1_000);
    await index([old]);
    await index([disputed(old, 1_100)]);
    // 600 newer payments, indexed as the indexer would (one batch per step), none disputed.
    for (let step = 0; step < 6; step++) await index(Array.from({ length: 100 }, (_, i) => record(2_000 + step * 100 + i)));
    const newest = await storage.payments.listByTime({ limit: 500 });
    expect(newest.items.map((p) => p.paymentId)).not.to.include(old.paymentId);

    const open = await storage.disputes.list("open", { limit: 50 });
    expect(open.items.map((p) => p.paymentId)).to.deep.equal([old.paymentId]);
    expect(open.next).to.equal(undefined);

    await index([resolved(disputed(old, 1_100), 3_000)]);
    expect((await storage.disputes.list("open", { limit: 50 })).items).to.deep.equal([]);
    expect((await storage.disputes.list("resolved", { limit: 50 })).items.map((p) => p.paymentId)).to.deep.equal([old.paymentId]);
  });

  it("pages open disputes oldest first and resolved ones newest first with a cursor, and refuses another list's cursor", async function () {
    const payments = Array.from({ length: 5 }, (_, i) => record(100 + i));
    await index(payments);
    await index(payments.map((p, i) => disputed(p, 200 + i)));
    const first = await storage.disputes.list("open", { limit: 2 });
    expect(first.items.map((p) => p.paymentId)).to.deep.equal(payments.slice(0, 2).map((p) => p.paymentId));
    const second = await storage.disputes.list("open", { limit: 2, ...(first.next ? { cursor: first.next } : {}) });
    expect(second.items.map((p) => p.paymentId)).to.deep.equal(payments.slice(2, 4).map((p) => p.paymentId));
    const third = await storage.disputes.list("open", { limit: 2, ...(second.next ? { cursor: second.next } : {}) });
    expect(third.items.map((p) => p.paymentId)).to.deep.equal([payments[4]?.paymentId]);
    expect(third.next).to.equal(undefined);

    await index(payments.map((p, i) => resolved(disputed(p, 200 + i), 300 + i)));
    const decided = await storage.disputes.list("resolved", { limit: 3 });
    expect(decided.items.map((p) => p.paymentId)).to.deep.equal(payments.slice(2).reverse().map((p) => p.paymentId));
    const rest = await storage.disputes.list("resolved", { limit: 3, ...(decided.next ? { cursor: decided.next } : {}) });
    expect(rest.items.map((p) => p.paymentId)).to.deep.equal(payments.slice(0, 2).reverse().map((p) => p.paymentId));
    let code: string | undefined;
    await storage.disputes.list("open", { limit: 3, cursor: decided.next ?? "" }).catch((error: { code: string }) => (code = error.code));
    expect(code).to.equal("INVALID_CURSOR");
  });

  it("indexes the disputes of payments stored before the index existed, once, when the store opens", async function () {
    const a = disputed(record(10), 20);
    await index([record(5), a]);
    // As a store written before the dispute index: no index entries and no note that it was built.
    const raw = storage as unknown as { disputes: { ctx: { write: <T>(fn: () => Promise<T>) => Promise<T>; commit: (ops: unknown[]) => Promise<void>; spaces: Record<string, unknown> } } };
    const { ctx } = raw.disputes;
    await ctx.write(() => ctx.commit([
      { type: "del", sublevel: ctx.spaces["disputes"], key: `open!${String(20).padStart(12, "0")}!${a.paymentId.toLowerCase()}` },
      { type: "del", sublevel: ctx.spaces["meta"], key: "disputes.indexed" },
    ]));
    expect((await storage.disputes.list("open", { limit: 10 })).items).to.deep.equal([]);
    await storage.close();
    storage = await openStorage(dir);
    expect((await storage.disputes.list("open", { limit: 10 })).items.map((p) => p.paymentId)).to.deep.equal([a.paymentId]);
  });
});
