/**
 * The change feed's log on real LevelDB: every operation status change and payment state change is
 * recorded in order with the write that makes it, numbering survives a reopen, the feed is neither
 * backed up nor checksummed, a bounded number of changes is kept, and cursors it cannot continue
 * from are refused with FEED_CURSOR_EXPIRED.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { expect } from "chai";
import { Wallet, hexlify } from "ethers";

import type { Change } from "../../../core/api/changes.js";
import type { PaymentRecord, StoredOperation } from "../../../core/records.js";
import { openStorage, type NodeStorage } from "../../../node/storage/db.js";
import { refusalOf } from "../../helpers/errors.js";
import { wireTerms } from "../../helpers/operations.js";

const hex32 = () => hexlify(randomBytes(32));
const payer = Wallet.createRandom().address;
const merchant = Wallet.createRandom().address;

function pay(receivedAtMs = 1): StoredOperation {
  const id = hex32();
  const terms = wireTerms({ payer, merchant, orderId: hex32() });
  return { id, kind: "pay", paymentId: id, op: { kind: "pay", terms, signature: "0x" + "aa".repeat(65) }, signer: payer, origin: "api", status: "accepted", receivedAtMs, updatedAtMs: receivedAtMs };
}

function held(paymentId: string): PaymentRecord {
  return {
    paymentId,
    payer,
    merchant,
    token: "0x" + "33".repeat(20),
    amount: "1000",
    orderId: hex32(),
    feeBps: 100,
    direct: false,
    status: "held",
    refunded: "0",
    deadline: 160,
    payerInstitution: "",
    merchantInstitution: "",
    paidAt: 100,
    paidBlock: 7,
    updatedAt: 100,
    events: [],
  };
}

const summary = (changes: Change[]) => changes.map((c) => (c.type === "operation" ? `${c.seq} operation ${c.status}` : `${c.seq} payment ${c.status}`));

describe("change feed log (node/storage/changes.ts)", function () {
  let dir: string;
  let storage: NodeStorage;

  beforeEach(async function () {
    dir = await mkdtemp(join(tmpdir(), "settlenet-changes-"));
    storage = await openStorage(dir);
  });
  afterEach(async function () {
    await storage.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("records each status change and payment change in the order of the writes that made them", async function () {
    const op = pay();
    await storage.operations.putAccepted([op]);
    // Storing the same operation again changes nothing, so it records nothing.
    await storage.operations.putAccepted([op]);
    await storage.operations.update(op.id, { status: "submitted", txHash: hex32() });
    await storage.operations.update(op.id, { txHash: hex32() });
    const execution = { txHash: hex32(), blockNumber: 7, relayer: payer, timestamp: 100 };
    await storage.applyIndexBatch({ payments: [held(op.id)], operations: [{ id: op.id, status: "executed", execution }], cursor: 7 });
    // A final status never moves again: nothing to record.
    await storage.operations.update(op.id, { status: "failed" });

    const page = await storage.changes.page(undefined, 100);
    expect(summary(page.changes)).to.deep.equal(["1 operation accepted", "2 operation submitted", "3 payment held", "4 operation executed"]);
    expect(page.changes[3]).to.deep.include({ type: "operation", id: op.id, kind: "pay", paymentId: op.paymentId, execution });
    expect(page.changes[2]).to.deep.include({ type: "payment", paymentId: op.id, payer, merchant, amount: "1000", refunded: "0", deadline: 160, blockNumber: 7 });
    expect([page.next, page.latest]).to.deep.equal([4, 4]);

    const rest = await storage.changes.page(storage.changes.position(storage.changes.cursor(2)), 100);
    expect(summary(rest.changes)).to.deep.equal(["3 payment held", "4 operation executed"]);
    const none = await storage.changes.page(storage.changes.position(storage.changes.cursor(4)), 100);
    expect([none.changes, none.next]).to.deep.equal([[], 4]);
  });

  it("keeps its epoch and numbering across a reopen", async function () {
    await storage.operations.putAccepted([pay()]);
    const epoch = storage.changes.epoch;
    await storage.close();
    storage = await openStorage(dir);
    expect([storage.changes.epoch, storage.changes.latest]).to.deep.equal([epoch, 1]);
    await storage.operations.putAccepted([pay()]);
    expect(summary((await storage.changes.page(undefined, 10)).changes)).to.deep.equal(["1 operation accepted", "2 operation accepted"]);
  });

  it("is neither backed up nor checksummed: equal state has equal checksums whatever the feeds hold", async function () {
    const otherDir = await mkdtemp(join(tmpdir(), "settlenet-changes-"));
    const other = await openStorage(otherDir);
    try {
      const op = pay();
      await storage.operations.putAccepted([op]);
      // Same state; the feeds differ (another epoch, other times).
      await other.operations.putAccepted([op]);
      expect(other.changes.epoch).to.not.equal(storage.changes.epoch);
      expect(await other.checksum()).to.equal(await storage.checksum());
      const keyspaces: string[] = [];
      await storage.exportSnapshot((record) => void keyspaces.push(record.keyspace));
      expect(keyspaces).to.include("ops").and.not.include("changes");
    } finally {
      await other.close();
      await rm(otherDir, { recursive: true, force: true });
    }
  });

  it("refuses a cursor of another feed, one beyond the newest change and one whose next changes were pruned", async function () {
    for (let i = 0; i < 5; i += 1) await storage.operations.putAccepted([pay()]);
    const feed = storage.changes;
    const foreign = await refusalOf(Promise.resolve().then(() => feed.position(`${"0".repeat(16)}-1`)));
    expect([foreign.code, foreign.meta["latest"]]).to.deep.equal(["FEED_CURSOR_EXPIRED", feed.cursor(5)]);
    expect((await refusalOf(feed.page({ epoch: feed.epoch, seq: 9 }, 10))).code).to.equal("FEED_CURSOR_EXPIRED");

    // Read with a cursor before the prune too: what the feed knows of its oldest change must follow the prune.
    expect((await feed.page({ epoch: feed.epoch, seq: 1 }, 10)).changes).to.have.length(4);
    expect(await feed.prune(2)).to.equal(3);
    expect(summary((await feed.page(undefined, 10)).changes)).to.deep.equal(["4 operation accepted", "5 operation accepted"]);
    // After 3 the feed continues at 4: still fine. After 2, change 3 is gone.
    expect((await feed.page({ epoch: feed.epoch, seq: 3 }, 10)).changes).to.have.length(2);
    expect((await refusalOf(feed.page({ epoch: feed.epoch, seq: 2 }, 10))).code).to.equal("FEED_CURSOR_EXPIRED");
  });

  it("wakes a waiting reader once a change after its cursor is durable, and lets an idle wait end", async function () {
    const feed = storage.changes;
    await storage.operations.putAccepted([pay()]);
    let woken = false;
    const waiting = feed.waitAfter(1, 60_000).then(() => (woken = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(woken).to.equal(false);
    await storage.operations.putAccepted([pay()]);
    await waiting;
    expect(summary((await feed.page({ epoch: feed.epoch, seq: 1 }, 10)).changes)).to.deep.equal(["2 operation accepted"]);
    // Nothing after the newest change: the wait ends when the signal aborts.
    const stop = new AbortController();
    const idle = feed.waitAfter(2, 60_000, stop.signal);
    stop.abort();
    await idle;
  });
});
