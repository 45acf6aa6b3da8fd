/**
 * BatchRelayer against a real chain served over JSON-RPC (RelayFixture): batching, several batches in
 * flight with their gas fixed per item, per-item failures, an item out of gas retried alone,
 * idempotency, admission control and resuming from storage after a stop. Failover is in
 * scheduler.test.ts, RPC outages and the shared nonce in sender.test.ts, token operations in
 * token-relay.test.ts.
 */
import { expect } from "chai";
import { JsonRpcProvider, Network, Transaction, getAddress } from "ethers";

import { escrowOperationSchema, termsToJson, toContractOperation, type EscrowContext, type PaymentTerms } from "../../../core/operations/index.js";
import type { StoredOperation } from "../../../core/records.js";
import type { LocalChain, Scenario } from "../../helpers/chain.js";
import { startJsonRpcProxy, type JsonRpcProxy } from "../../helpers/json-rpc-proxy.js";
import { FAILED_TOPIC, PAID_TOPIC, RelayFixture, Status, escrowIface, waitFor } from "../../helpers/relay.js";

describe("BatchRelayer", function () {
  this.timeout(60_000);

  let f: RelayFixture;
  let chain: LocalChain;
  let s: Scenario;
  let ctx: EscrowContext;

  RelayFixture.forSuite({ institutions: 3, payers: 4 }, (started) => {
    f = started;
    ({ chain, s, ctx } = f);
  });

  const storage = () => f.storage();
  const relayer = (...args: Parameters<RelayFixture["relayer"]>) => f.relayer(...args);
  const terms = (...args: Parameters<RelayFixture["terms"]>) => f.terms(...args);
  const pay = (...args: Parameters<RelayFixture["pay"]>) => f.pay(...args);
  const stored = (...args: Parameters<RelayFixture["stored"]>) => f.stored(...args);
  const payer = (i: number) => f.payer(i);
  const institution = (i: number) => f.institution(i);
  const statuses = (...args: Parameters<RelayFixture["statuses"]>) => f.statuses(...args);
  const allFinal = (...args: Parameters<RelayFixture["allFinal"]>) => f.allFinal(...args);
  const logsSince = (...args: Parameters<RelayFixture["logsSince"]>) => f.logsSince(...args);
  const paidCount = (...args: Parameters<RelayFixture["paidCount"]>) => f.paidCount(...args);
  const action = (...args: Parameters<RelayFixture["action"]>) => f.action(...args);
  const balance = (address: string) => f.balance(address);
  const chainNow = () => f.chainNow();

  it("executes 50 signed API payments on-chain exactly once, in a few batches", async function () {
    const st = await storage();
    const r = relayer(0, st, { batchSize: 20 });
    const fromBlock = (await chain.provider.getBlockNumber()) + 1;
    const nonceBefore = await chain.provider.getTransactionCount(institution(0).address);
    const ops: StoredOperation[] = [];
    const spent = new Map<string, bigint>();
    for (let i = 0; i < 50; i++) {
      const p = payer(i);
      const amount = 1_000n + BigInt(i);
      ops.push(stored(await pay(p, await terms(p, amount)), "api"));
      spent.set(p.address, (spent.get(p.address) ?? 0n) + amount);
    }
    const balancesBefore = new Map(await Promise.all([...spent.keys()].map(async (a) => [a, await balance(a)] as const)));
    const escrowBefore = await balance(ctx.escrow);

    await r.start();
    await st.operations.putAccepted(ops);
    r.enqueue(ops);
    await waitFor("50 payments executed", () => allFinal(st, ops));

    const records = await Promise.all(ops.map((op) => st.operations.get(op.id)));
    const txHashes = new Set<string>();
    for (const record of records) {
      expect(record?.status).to.equal("executed");
      expect(record?.execution?.txHash).to.match(/^0x[0-9a-f]{64}$/);
      expect(record?.execution?.relayer).to.equal(institution(0).address);
      expect(record?.txHash).to.equal(record?.execution?.txHash);
      txHashes.add(record?.execution?.txHash ?? "");
    }
    expect(txHashes.size).to.be.within(3, 4);
    expect(await chain.provider.getTransactionCount(institution(0).address)).to.equal(nonceBefore + txHashes.size);
    for (const op of ops) {
      expect(await paidCount(fromBlock, op.paymentId)).to.equal(1);
      expect((await s.contracts.escrow.paymentOf(op.paymentId)).status).to.equal(Status.Held);
    }
    expect(await logsSince(fromBlock, FAILED_TOPIC)).to.have.length(0);
    for (const [address, amount] of spent) expect(await balance(address)).to.equal((balancesBefore.get(address) ?? 0n) - amount);
    expect(await balance(ctx.escrow)).to.equal(escrowBefore + [...spent.values()].reduce((a, b) => a + b, 0n));
  });

  it("marks only the items that revert failed, with their decoded custom error", async function () {
    const st = await storage();
    const r = relayer(0, st);
    const p = payer(0);
    const merchant = s.merchants[0];
    if (!merchant) throw new Error("no merchant");
    const tA = await terms(p, 5_000n);
    const tB = await terms(p, 7_000n);
    const tExpired = await terms(p, 9_000n, { payDeadline: (await chainNow()) - 60n });
    const payA = stored(await pay(p, tA), "api");
    const overRefund = stored(await action("refund", merchant, tA, { amount: 5_001n }), "api");
    const expired = stored(await pay(p, tExpired), "api");
    const payB = stored(await pay(p, tB), "api");
    const refundB = stored(await action("refund", merchant, tB, { amount: 100n }), "api");
    const ops = [payA, overRefund, expired, payB, refundB];
    const before = await balance(p.address);

    await st.operations.putAccepted(ops);
    r.enqueue(ops);
    await r.start();
    await waitFor("the batch to be mined", () => allFinal(st, ops));

    expect(await statuses(st, ops)).to.deep.equal(["executed", "failed", "failed", "executed", "executed"]);
    const refundFailure = (await st.operations.get(overRefund.id))?.error;
    expect(refundFailure?.code).to.equal("RefundExceedsAvailable");
    expect(refundFailure?.args).to.deep.equal([payA.paymentId, "5001", "5000"]);
    const expiredFailure = (await st.operations.get(expired.id))?.error;
    expect(expiredFailure?.code).to.equal("PaymentExpired");
    expect(expiredFailure?.args).to.deep.equal([expired.paymentId, tExpired.payDeadline.toString()]);
    const hashes = new Set(await Promise.all(ops.map(async (op) => (await st.operations.get(op.id))?.txHash)));
    expect(hashes.size, "one batch").to.equal(1);

    const stateA = await s.contracts.escrow.paymentOf(payA.paymentId);
    expect([stateA.status, stateA.refunded]).to.deep.equal([Status.Held, 0n]);
    const stateB = await s.contracts.escrow.paymentOf(payB.paymentId);
    expect([stateB.status, stateB.refunded]).to.deep.equal([Status.Held, 100n]);
    expect((await s.contracts.escrow.paymentOf(expired.paymentId)).status).to.equal(Status.None);
    expect(await balance(p.address)).to.equal(before - 5_000n - 7_000n + 100n);
  });

  it("never executes an operation twice: duplicate enqueues, re-enqueues after execution, and another relayer re-sending", async function () {
    const stA = await storage();
    const rA = relayer(0, stA);
    const merchant = s.merchants[0];
    if (!merchant) throw new Error("no merchant");
    const fromBlock = (await chain.provider.getBlockNumber()) + 1;
    const pays: StoredOperation[] = [];
    const termsList: PaymentTerms[] = [];
    for (let i = 0; i < 8; i++) {
      const t = await terms(payer(i), 2_000n, { autoReleasePeriod: 0 });
      termsList.push(t);
      pays.push(stored(await pay(payer(i), t), "api"));
    }
    const [t0, t1] = termsList;
    if (!t0 || !t1) throw new Error("terms missing");
    // A signed confirm (nonce-protected), and markFulfilled + release (release is unsigned).
    const confirm0 = stored(await action("confirm", payer(0), t0), "api");
    const fulfil1 = stored(await action("markFulfilled", merchant, t1), "api");
    const release1 = stored({ kind: "release", terms: termsToJson(t1) }, "api");
    const ops = [...pays, confirm0, fulfil1, release1];

    await rA.start();
    await stA.operations.putAccepted(ops);
    const nonceA = await chain.provider.getTransactionCount(institution(0).address);
    rA.enqueue(ops);
    rA.enqueue(ops);
    rA.enqueue(ops.map((op) => ({ ...op })));
    await waitFor("first execution", () => allFinal(stA, ops));
    expect(new Set(await statuses(stA, ops))).to.deep.equal(new Set(["executed"]));
    expect(await chain.provider.getTransactionCount(institution(0).address)).to.equal(nonceA + 1);
    expect((await s.contracts.escrow.paymentOf(pays[0]?.paymentId ?? "")).status).to.equal(Status.Released);
    expect((await s.contracts.escrow.paymentOf(pays[1]?.paymentId ?? "")).status).to.equal(Status.Released);

    const watched = [merchant.address, s.feeReceiver, ctx.escrow, ...s.payers.map((p) => p.address)];
    const balancesAfterFirst = await Promise.all(watched.map(balance));

    // The same relayer again, with the stale "accepted" copies: storage says executed, nothing is sent.
    const before = rA.progress();
    rA.enqueue(ops);
    await waitFor("the relayer to have taken up every stale copy", () => {
      const now = rA.progress();
      return now.droppedFinal - before.droppedFinal + now.sent - before.sent >= ops.length;
    });
    expect(rA.progress().sent - before.sent, "stale copies sent").to.equal(0);
    expect(rA.progress().droppedFinal - before.droppedFinal).to.equal(ops.length);
    expect(await chain.provider.getTransactionCount(institution(0).address)).to.equal(nonceA + 1);

    // Another institution whose storage still holds them as accepted: the contract refuses each item
    // as already executed, which counts as success.
    const stB = await storage();
    const rB = relayer(1, stB);
    const nonceB = await chain.provider.getTransactionCount(institution(1).address);
    await stB.operations.putAccepted(ops);
    await rB.start();
    rB.enqueue(ops);
    await waitFor("re-sent operations resolved", () => allFinal(stB, ops));
    expect(new Set(await statuses(stB, ops))).to.deep.equal(new Set(["executed"]));
    expect(await chain.provider.getTransactionCount(institution(1).address)).to.equal(nonceB + 1);

    const failures = await logsSince(fromBlock, FAILED_TOPIC);
    expect(failures).to.have.length(ops.length);
    const reasons = failures.map((log) => escrowIface.parseError(String(escrowIface.parseLog(log)?.args.getValue("reason")))?.name);
    expect(new Set(reasons)).to.deep.equal(new Set(["PaymentAlreadyExists", "NonceAlreadyUsed", "InvalidPaymentStatus"]));
    for (const op of pays) expect(await paidCount(fromBlock, op.paymentId)).to.equal(1);
    expect(await Promise.all(watched.map(balance))).to.deep.equal(balancesAfterFirst);
  });

  it("resumes after stop/start: queued operations, a mined batch whose outcome was never recorded, and one never broadcast", async function () {
    const st = await storage();
    const fromBlock = (await chain.provider.getBlockNumber()) + 1;
    const stopped = relayer(0, st, { batchIntervalMs: 60_000, failoverTimeoutMs: 60_000 });
    await stopped.start();
    const queued: StoredOperation[] = [];
    for (let i = 0; i < 5; i++) queued.push(stored(await pay(payer(i), await terms(payer(i), 1_000n)), "api"));
    const gossip = stored(await pay(payer(2), await terms(payer(2), 1_000n)), "gossip");
    await st.operations.putAccepted([...queued, gossip]);
    const before = stopped.progress();
    stopped.enqueue([...queued, gossip]);
    // Stopped only once it has looked at them: its send loop chose to let the batch fill, and two
    // failover sweeps (one begun after the enqueue) found the gossip operation not due.
    await waitFor("the relayer to have looked at its queue and its watch", () => {
      const now = stopped.progress();
      return now.idlePasses > before.idlePasses && now.sweeps >= before.sweeps + 2;
    });
    await stopped.stop();
    expect(stopped.progress().sent, "sent before the stop").to.equal(0);
    expect(new Set(await statuses(st, [...queued, gossip]))).to.deep.equal(new Set(["accepted"]));

    // Crash after broadcast, before the receipt: the batch was mined, storage says "submitted".
    const inst = institution(0);
    const mined = stored(await pay(payer(3), await terms(payer(3), 1_000n)), "api");
    await st.operations.putAccepted([mined]);
    const minedTx = await s.contracts.escrow
      .connect(inst)
      .executeBatch([toContractOperation(escrowOperationSchema.parse(mined.op))]);
    await minedTx.wait();
    await st.operations.update(mined.id, { status: "submitted", txHash: minedTx.hash });

    // Crash after recording "submitted", before the broadcast: the transaction never existed.
    const lost = stored(await pay(payer(1), await terms(payer(1), 1_000n)), "api");
    await st.operations.putAccepted([lost]);
    const neverSent = await inst.signTransaction(
      await inst.populateTransaction({ to: ctx.escrow, data: "0x", nonce: 1_000_000, gasLimit: 100_000n }),
    );
    const lostHash = Transaction.from(neverSent).hash ?? "";
    await st.operations.update(lost.id, { status: "submitted", txHash: lostHash });

    const resumed = relayer(0, st, { failoverTimeoutMs: 300 });
    await resumed.start();
    const all = [...queued, gossip, mined, lost];
    await waitFor("everything resumed", () => allFinal(st, all));

    expect(new Set(await statuses(st, all))).to.deep.equal(new Set(["executed"]));
    const minedRecord = await st.operations.get(mined.id);
    expect(minedRecord?.execution?.txHash).to.equal(minedTx.hash);
    expect(getAddress(minedRecord?.execution?.relayer ?? "")).to.equal(inst.address);
    expect((await st.operations.get(lost.id))?.execution?.txHash).to.not.equal(lostHash);
    for (const op of all) expect(await paidCount(fromBlock, op.paymentId)).to.equal(1);
    expect(await logsSince(fromBlock, FAILED_TOPIC), "nothing was sent twice").to.have.length(0);
  });

  /** A provider through a JSON-RPC pass-through (one call per HTTP request), closed after the test. */
  async function proxied(): Promise<{ provider: JsonRpcProvider; proxy: JsonRpcProxy }> {
    const proxy = await startJsonRpcProxy(chain.url);
    f.onCleanup(() => proxy.close());
    const provider = new JsonRpcProvider(proxy.url, Network.from(ctx.chainId), { staticNetwork: true, cacheTimeout: -1, pollingInterval: 50, batchMaxCount: 1 });
    f.onCleanup(async () => provider.destroy());
    return { provider, proxy };
  }

  const payments = async (count: number): Promise<StoredOperation[]> => {
    const ops: StoredOperation[] = [];
    for (let i = 0; i < count; i++) ops.push(stored(await pay(payer(i), await terms(payer(i), 1_000n)), "api"));
    return ops;
  };

  it("keeps several batches in flight with consecutive nonces, their gas fixed per item: no gas estimate", async function () {
    const { provider, proxy } = await proxied();
    const st = await storage();
    const r = relayer(0, st, { batchSize: 10, batchIntervalMs: 10, maxInFlightBatches: 3, receiptPollMs: 50 }, provider);
    await r.start();
    const ops = await payments(40);
    await st.operations.putAccepted(ops);
    const release = proxy.hold("eth_sendRawTransaction");
    r.enqueue(ops);
    // The first broadcast is held: the next batches are signed and recorded behind it meanwhile.
    await waitFor("three batches recorded as submitted", async () => {
      const records = await Promise.all(ops.map((op) => st.operations.get(op.id)));
      return new Set(records.filter((record) => record?.status === "submitted").map((record) => record?.txHash)).size === 3;
    });
    expect(proxy.calls.get("eth_sendRawTransaction")).to.equal(1);
    release();
    await waitFor("every payment executed", () => allFinal(st, ops));
    const hashes = [...new Set(await Promise.all(ops.map(async (op) => (await st.operations.get(op.id))?.execution?.txHash ?? "")))];
    expect(hashes).to.have.length(4);
    const nonces = (await Promise.all(hashes.map((hash) => chain.provider.getTransaction(hash)))).map((tx) => tx?.nonce ?? -1).sort((a, b) => a - b);
    expect(nonces).to.deep.equal([0, 1, 2, 3].map((i) => (nonces[0] ?? 0) + i));
    expect(proxy.calls.get("eth_estimateGas") ?? 0, "gas estimates").to.equal(0);
    expect(new Set(await statuses(st, ops))).to.deep.equal(new Set(["executed"]));
  });

  it("keeps 16 batches in flight by default: a round of 1,600 items at the default batch size, for chains that seal every second", async function () {
    const { provider, proxy } = await proxied();
    const st = await storage();
    // Batches of 10, so that 30 batches of work wait behind a broadcast held at the proxy.
    const r = relayer(0, st, { batchSize: 10, batchIntervalMs: 10, receiptPollMs: 50 }, provider);
    await r.start();
    const ops = await payments(300);
    await st.operations.putAccepted(ops);
    const release = proxy.hold("eth_sendRawTransaction");
    try {
      r.enqueue(ops);
      // The loop parks once it holds as many batches as it may: from then on none is added until one settles.
      await waitFor("the send loop full", () => r.progress().fullPasses > 0);
      const submitted = async () => {
        const records = await Promise.all(ops.map((op) => st.operations.get(op.id)));
        return new Set(records.filter((record) => record?.status === "submitted").map((record) => record?.txHash)).size;
      };
      // None has settled (the first broadcast is held, the others queue behind it): every batch started is in flight.
      const started = r.progress().batchesStarted;
      await waitFor("the batches in flight recorded as submitted", async () => (await submitted()) === started);
      expect(started).to.equal(16);
      expect(proxy.calls.get("eth_sendRawTransaction")).to.equal(1);
    } finally {
      release();
    }
    await waitFor("every payment executed", () => allFinal(st, ops));
    expect(new Set(await statuses(st, ops))).to.deep.equal(new Set(["executed"]));
  });

  it("sends an item that ran out of gas again alone with twice its budget, and fails it once its tries are spent", async function () {
    const st = await storage();
    const fromBlock = (await chain.provider.getBlockNumber()) + 1;
    // A pay needs about 110,000 gas: at 30,000 it runs out, at 120,000 (its fourth budget) it fits.
    const r = relayer(0, st, { batchIntervalMs: 10, itemGas: { pay: 30_000n } });
    await r.start();
    const ops = await payments(3);
    await st.operations.putAccepted(ops);
    r.enqueue(ops);
    await waitFor("the payments executed after retries", () => allFinal(st, ops));
    expect(new Set(await statuses(st, ops))).to.deep.equal(new Set(["executed"]));
    for (const op of ops) expect(await paidCount(fromBlock, op.paymentId)).to.equal(1);
    const executions = await Promise.all(ops.map(async (op) => chain.provider.getTransaction((await st.operations.get(op.id))?.execution?.txHash ?? "")));
    expect(executions.some((tx) => (tx?.gasLimit ?? 0n) > 4n * 30_000n), "retried with a larger budget").to.equal(true);

    // Never enough: recorded failed, not dropped in silence.
    const st2 = await storage();
    const r2 = relayer(1, st2, { batchIntervalMs: 10, itemGas: { pay: 1_000n } });
    await r2.start();
    const [doomed] = await payments(1);
    if (!doomed) throw new Error("no payment");
    await st2.operations.putAccepted([doomed]);
    r2.enqueue([doomed]);
    await waitFor("the starved payment failed", () => allFinal(st2, [doomed]));
    const record = await st2.operations.get(doomed.id);
    expect(record?.status).to.equal("failed");
    expect(record?.error?.code).to.equal("REVERT_WITHOUT_REASON");
    expect((await s.contracts.escrow.paymentOf(doomed.paymentId)).status).to.equal(Status.None);
  });

  it("sends again the operations of a batch transaction that reverted as a whole (nothing of it executed), and each executes once", async function () {
    const st = await storage();
    const inst = institution(2);
    const fromBlock = (await chain.provider.getBlockNumber()) + 1;
    // Three pays at 30,000 gas each: the first one takes the batch's gas, the second runs out inside
    // it and leaves too little to record its failure, so the whole transaction reverts.
    const r = relayer(2, st, { batchIntervalMs: 10, itemGas: { pay: 30_000n } });
    await r.start();
    const ops = await payments(3);
    await st.operations.putAccepted(ops);
    r.enqueue(ops);
    await waitFor("the payments final", () => allFinal(st, ops));

    const sent: { hash: string; status: number | null }[] = [];
    for (let n = fromBlock; n <= (await chain.provider.getBlockNumber()); n++) {
      const block = await chain.provider.getBlock(n, true);
      for (const tx of block?.prefetchedTransactions ?? []) {
        if (tx.from !== inst.address) continue;
        sent.push({ hash: tx.hash, status: (await chain.provider.getTransactionReceipt(tx.hash))?.status ?? null });
      }
    }
    const reverted = sent.filter((tx) => tx.status === 0);
    expect(reverted, "a batch transaction reverted as a whole").to.have.length.at.least(1);
    expect(await logsSince(fromBlock, PAID_TOPIC), "PaymentPaid events, one a payment").to.have.length(ops.length);
    expect(new Set(await statuses(st, ops))).to.deep.equal(new Set(["executed"]));
    for (const op of ops) {
      expect(await paidCount(fromBlock, op.paymentId)).to.equal(1);
      expect(reverted.map((tx) => tx.hash)).to.not.include((await st.operations.get(op.id))?.execution?.txHash);
    }
    // Items that ran out of gas inside a mined batch are recorded without data; none was refused as executed already.
    const reasons = (await logsSince(fromBlock, FAILED_TOPIC)).map((log) => String(escrowIface.parseLog(log)?.args.getValue("reason")));
    expect(reasons.filter((reason) => reason !== "0x")).to.deep.equal([]);
  });

  it("refuses new API work while its own oldest operation waits longer than maxLagMs, and admits it again once that is relayed", async function () {
    const { provider, proxy } = await proxied();
    const st = await storage();
    const r = relayer(0, st, { batchIntervalMs: 10, maxLagMs: 300, receiptPollMs: 50 }, provider);
    await r.start();
    expect(r.admission().refuse).to.equal(false);
    const ops = await payments(2);
    await st.operations.putAccepted(ops);
    const release = proxy.hold("eth_sendRawTransaction");
    r.enqueue(ops);
    await waitFor("the relay lag past maxLagMs", () => r.admission().refuse);
    const refusal = r.admission();
    if (!refusal.refuse) throw new Error("admitted");
    expect(refusal.lagMs).to.be.greaterThan(300);
    expect(refusal.retryAfterSeconds).to.be.within(1, 30);
    release();
    await waitFor("the operations relayed", () => allFinal(st, ops));
    await waitFor("admitted again", () => !r.admission().refuse);
  });

  it("counts only its own operations in the relay lag, not gossip ones it watches", async function () {
    const st = await storage();
    const r = relayer(0, st, { maxLagMs: 100, batchIntervalMs: 60_000, failoverTimeoutMs: 60_000 });
    await r.start();
    const [first, second, own] = await payments(3);
    if (!first || !second || !own) throw new Error("no payments");
    const gossip = [first, second].map((op) => ({ ...op, origin: "gossip" as const, receivedAtMs: Date.now() - 60_000 }));
    await st.operations.putAccepted([...gossip, own]);
    // Asked as of a minute from now, when any operation counted would be far past maxLagMs: no time
    // has to pass, and the relayer cannot have relayed anything meanwhile (enqueue and admission are synchronous).
    const later = Date.now() + 60_000;
    r.enqueue(gossip);
    expect(r.admission(later).refuse, "with gossip operations only").to.equal(false);
    // The same question once an operation of its own waits (it waits for a batch to fill): refused.
    r.enqueue([own]);
    expect(r.admission(later + 1_000).refuse, "with an operation of its own").to.equal(true);
  });
});
