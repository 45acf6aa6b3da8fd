/**
 * The risk engine's counters rebuilt at start from the operations a node stored in its real LevelDB:
 * today's and yesterday's totals and the velocity window come back; older payments and kinds that
 * move no new money do not count.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { expect } from "chai";
import { Wallet, hexlify } from "ethers";

import { operationSchema, type Operation } from "../../../core/operations/index.js";
import type { StoredOperation } from "../../../core/records.js";
import { openStorage, type NodeStorage } from "../../../node/storage/db.js";
import { RiskEngine } from "../../../node/validation/risk.js";
import { refusalOf } from "../../helpers/errors.js";
import { wireTerms } from "../../helpers/operations.js";

const DAY = 86_400;
const hex32 = () => hexlify(randomBytes(32));
const payer = Wallet.createRandom().address;
const merchant = Wallet.createRandom().address;
const token = "0x" + "33".repeat(20);
const signature = "0x" + "aa".repeat(65);

function terms(amount: bigint) {
  return wireTerms({ payer, merchant, token, amount: amount.toString(), orderId: hex32(), nonce: BigInt(hex32()).toString() });
}

function stored(op: StoredOperation["op"], receivedAtSeconds: number): StoredOperation {
  const receivedAtMs = receivedAtSeconds * 1000;
  const signer = op.kind === "release" ? null : payer;
  return { id: hex32(), kind: op.kind, paymentId: hex32(), op, signer, origin: "api", status: "accepted", receivedAtMs, updatedAtMs: receivedAtMs };
}
const payAt = (amount: bigint, at: number) => stored({ kind: "pay", terms: terms(amount), signature }, at);
const parsed = (amount: bigint): Operation => operationSchema.parse({ kind: "pay", terms: terms(amount), signature });

describe("risk counters rebuilt from stored operations (RiskEngine.restore)", function () {
  let dir: string;
  let storage: NodeStorage;
  // Noon of a UTC day.
  const now = 20_000 * DAY + DAY / 2;

  beforeEach(async function () {
    dir = await mkdtemp(join(tmpdir(), "settlenet-risk-restore-"));
    storage = await openStorage(dir);
  });
  afterEach(async function () {
    await storage.close();
    await rm(dir, { recursive: true, force: true });
  });

  const walk = (sinceMs: number, visit: (op: Operation, receivedAtMs: number) => void) =>
    storage.operations.forEachReceivedSince(sinceMs, (op) => {
      if (op.kind === "pay") visit(operationSchema.parse(op.op), op.receivedAtMs);
    });

  it("restores today's and yesterday's totals and the velocity window, whatever the stored status", async function () {
    const today = payAt(600n, now - 100);
    const yesterday = payAt(300n, now - DAY);
    const old = payAt(700n, now - 3 * DAY);
    const confirm = stored({ kind: "confirm", terms: terms(1n), nonce: "5", deadline: "1900000000", signature }, now - 50);
    await storage.operations.putAccepted([today, yesterday, old, confirm]);
    await storage.operations.update(today.id, { status: "executed" });

    const rules = { payerDailyLimit: 1_000n, payerVelocity: { count: 2, windowSeconds: 3_600 } };
    const fresh = new RiskEngine(rules);
    expect(await fresh.restore(walk, now)).to.equal(2);
    expect(fresh.totals(token, payer, now)).to.deep.equal({ paid: 600n, received: 0n });
    expect(fresh.totals(token, merchant, now)).to.deep.equal({ paid: 0n, received: 600n });
    expect(fresh.totals(token, payer, now - DAY)).to.deep.equal({ paid: 300n, received: 0n });

    // 600 restored + 500 is over the day limit; 400 fits.
    expect((await refusalOf(Promise.resolve().then(() => fresh.check(parsed(500n), now, "api")))).code).to.equal("PAYER_DAILY_LIMIT");
    fresh.check(parsed(400n), now, "api");
    // The restored payment is one of the two the velocity window allows.
    fresh.record(parsed(100n), now);
    expect((await refusalOf(Promise.resolve().then(() => fresh.check(parsed(1n), now, "api")))).code).to.equal("VELOCITY_LIMIT");
  });

  it("places a stored payment on its chain-time day when the chain clock runs ahead of the wall clock", async function () {
    // Received a minute before midnight by the wall clock; chain time runs six hours ahead, so it was
    // already today by chain time.
    await storage.operations.putAccepted([payAt(250n, now - DAY / 2 - 60)]);
    const chainNow = now + DAY / 4;
    const engine = new RiskEngine({ payerDailyLimit: 1_000n }, undefined, () => chainNow);
    expect(await engine.restore(walk, now)).to.equal(1);
    expect(engine.totals(token, payer, now).paid).to.equal(250n);
  });

  it("starts empty from an empty store", async function () {
    const engine = new RiskEngine({ payerDailyLimit: 1_000n });
    expect(await engine.restore(walk, now)).to.equal(0);
    expect(engine.size).to.equal(0);
  });
});
