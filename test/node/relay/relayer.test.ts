/**
 * BatchRelayer against a real chain served over JSON-RPC (startChain/deployScenario): batching,
 * per-item failures, idempotency, gossip failover by rank, RPC outages (through a TCP proxy the
 * test stops and starts) and resuming from storage after a stop.
 */
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import net from "node:net";

import { expect } from "chai";
import {
  Interface,
  JsonRpcProvider,
  Network,
  Transaction,
  getAddress,
  keccak256,
  solidityPackedKeccak256,
  toUtf8Bytes,
  type HDNodeWallet,
  type Wallet,
} from "ethers";
import { pino } from "pino";

import { loadArtifact } from "../../../core/protocol/artifacts.js";
import { escrowDomain } from "../../../core/protocol/eip712.js";
import {
  ESCROW_ACTION_TYPES,
  PAYMENT_TYPES,
  escrowOperationSchema,
  operationIdOf,
  paymentIdOf,
  termsToJson,
  toContractOperation,
  type EscrowContext,
  type EscrowOperationInput,
  type PaymentTerms,
} from "../../../core/operations/index.js";
import { BatchRelayer, type BatchRelayerOptions } from "../../../node/relay/relayer.js";
import type { Storage } from "../../../node/services.js";
import { openStorage } from "../../../node/storage/db.js";
import type { OperationOrigin, OperationStatus, StoredOperation } from "../../../core/records.js";
import { deployScenario, startChain, type LocalChain, type Scenario } from "../../helpers/chain.js";

const logger = pino({ level: process.env.RELAY_LOG_LEVEL ?? "silent" });
const escrowIface = new Interface(loadArtifact("PaymentEscrow").abi);
const PAID_TOPIC = escrowIface.getEvent("PaymentPaid")?.topicHash ?? "";
const FAILED_TOPIC = escrowIface.getEvent("OperationFailed")?.topicHash ?? "";
const ZERO32 = "0x" + "00".repeat(32);
const Status = { None: 0n, Held: 1n, Fulfilled: 2n, Released: 4n } as const;

// ---------------------------------------------------------------- TCP proxy between relayer and chain

/**
 * Forwards loopback TCP to the chain's RPC port; stop() refuses and cuts every connection. With
 * `cutOn` set, the first client request containing that text is forwarded to the chain but its
 * answer is lost and the proxy goes down (a broadcast whose result the relayer never sees).
 */
class TcpProxy {
  port = 0;
  cuts = 0;
  cutOn: string | undefined;
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();

  constructor(private readonly targetPort: number) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const server = net.createServer((client) => this.connect(client));
    server.listen(this.port, "127.0.0.1");
    await once(server, "listening");
    this.port = (server.address() as net.AddressInfo).port;
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private connect(client: net.Socket): void {
    const upstream = net.connect(this.targetPort, "127.0.0.1");
    this.sockets.add(client);
    this.sockets.add(upstream);
    let cut = false;
    client.on("data", (chunk: Buffer) => {
      upstream.write(chunk);
      if (this.cutOn && chunk.includes(this.cutOn)) {
        this.cutOn = undefined;
        this.cuts++;
        cut = true;
        // Keep the upstream connection until the chain has answered, so the request really runs.
        this.sockets.delete(upstream);
        void this.stop();
      }
    });
    upstream.on("data", (chunk: Buffer) => {
      if (cut) upstream.destroy();
      else client.write(chunk);
    });
    client.on("close", () => {
      this.sockets.delete(client);
      if (!cut) upstream.destroy();
    });
    upstream.on("close", () => {
      this.sockets.delete(upstream);
      client.destroy();
    });
    client.on("error", () => {});
    upstream.on("error", () => {});
  }
}

// ---------------------------------------------------------------- helpers

async function waitFor(what: string, predicate: () => Promise<boolean> | boolean, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await predicate()) return;
    await sleep(25);
  }
  throw new Error(`timed out waiting for ${what}`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe("BatchRelayer", function () {
  this.timeout(60_000);

  let chain: LocalChain;
  let s: Scenario;
  let ctx: EscrowContext;
  let seq = 0;
  const cleanups: (() => Promise<void>)[] = [];

  before(async function () {
    chain = await startChain();
    s = await deployScenario(chain, { institutions: 3, payers: 4 });
    ctx = { chainId: BigInt(s.deployment.chainId), escrow: s.deployment.contracts.escrow };
  });

  afterEach(async function () {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  after(async function () {
    await chain?.close();
  });

  /** The chain's own time (EDR's clock can lag the wall clock in a long test run, so never mix them). */
  async function chainNow(): Promise<bigint> {
    const block = await chain.provider.getBlock("latest");
    if (!block) throw new Error("no latest block");
    return BigInt(block.timestamp);
  }

  async function terms(payer: Wallet | HDNodeWallet, amount: bigint, overrides: Partial<PaymentTerms> = {}): Promise<PaymentTerms> {
    seq++;
    const merchant = s.merchants[0];
    const token = s.deployment.tokens["CNY"];
    if (!merchant || !token) throw new Error("scenario incomplete");
    return {
      payer: payer.address,
      merchant: merchant.address,
      token: token.address,
      amount,
      orderId: keccak256(toUtf8Bytes(`relayer-test-order-${seq}`)),
      feeBps: 100,
      direct: false,
      payDeadline: (await chainNow()) + 3600n,
      fulfilmentPeriod: 3600,
      autoReleasePeriod: 3600,
      refundPeriod: 3600,
      nonce: BigInt(seq),
      ...overrides,
    };
  }

  function payer(i: number): Wallet | HDNodeWallet {
    const p = s.payers[i % s.payers.length];
    if (!p) throw new Error("no payer");
    return p;
  }

  async function pay(payerWallet: Wallet | HDNodeWallet, t: PaymentTerms): Promise<EscrowOperationInput> {
    const signature = await payerWallet.signTypedData(escrowDomain(ctx.chainId, ctx.escrow), PAYMENT_TYPES, t);
    return { kind: "pay", terms: termsToJson(t), signature };
  }

  async function action(
    kind: "refund" | "confirm" | "markFulfilled",
    signer: Wallet | HDNodeWallet,
    t: PaymentTerms,
    extra: { amount?: bigint } = {},
  ): Promise<EscrowOperationInput> {
    const paymentId = paymentIdOf(t, ctx);
    seq++;
    const nonce = BigInt(seq);
    const deadline = (await chainNow()) + 3600n;
    const base = { paymentId, nonce, deadline };
    const message = kind === "refund" ? { ...base, amount: extra.amount ?? 0n, reason: ZERO32 } : base;
    const signature = await signer.signTypedData(escrowDomain(ctx.chainId, ctx.escrow), ESCROW_ACTION_TYPES[kind], message);
    const signed = { terms: termsToJson(t), nonce: nonce.toString(), deadline: deadline.toString(), signature };
    if (kind === "refund") return { kind, ...signed, amount: (extra.amount ?? 0n).toString(), reason: ZERO32 };
    return { kind, ...signed };
  }

  function stored(op: EscrowOperationInput, origin: OperationOrigin, receivedAtMs = Date.now()): StoredOperation {
    const parsed = escrowOperationSchema.parse(op);
    return {
      id: operationIdOf(parsed, ctx),
      kind: parsed.kind,
      paymentId: paymentIdOf(parsed.terms, ctx),
      op,
      signer: null,
      origin,
      status: "accepted",
      receivedAtMs,
      updatedAtMs: receivedAtMs,
    };
  }

  function institution(i: number): HDNodeWallet {
    const inst = s.institutions[i];
    if (!inst) throw new Error("no institution");
    return inst;
  }

  function relayer(
    i: number,
    storage: Storage,
    options: Partial<BatchRelayerOptions> = {},
    provider: JsonRpcProvider = chain.provider,
    catchUp?: () => Promise<unknown>,
  ): BatchRelayer {
    const wallet = institution(i).connect(provider);
    const r = new BatchRelayer(
      { deployment: s.deployment, institutionId: wallet.address, ...options },
      { wallet, storage, logger, activeInstitutions: () => s.institutions.map((inst) => ({ id: inst.address })), ...(catchUp ? { catchUp } : {}) },
    );
    cleanups.push(() => r.stop());
    return r;
  }

  async function storage(): Promise<Storage> {
    const dir = await mkdtemp(join(tmpdir(), "settlenet-relayer-"));
    const st = await openStorage(dir);
    cleanups.push(async () => {
      await st.close();
      await rm(dir, { recursive: true, force: true });
    });
    return st;
  }

  async function statuses(st: Storage, ops: StoredOperation[]): Promise<(OperationStatus | undefined)[]> {
    return Promise.all(ops.map(async (op) => (await st.operations.get(op.id))?.status));
  }

  async function allFinal(st: Storage, ops: StoredOperation[]): Promise<boolean> {
    return (await statuses(st, ops)).every((status) => status === "executed" || status === "failed");
  }

  async function logsSince(fromBlock: number, topic: string) {
    return chain.provider.getLogs({ address: ctx.escrow, fromBlock, toBlock: "latest", topics: [topic] });
  }

  async function paidCount(fromBlock: number, paymentId: string): Promise<number> {
    const logs = await chain.provider.getLogs({ address: ctx.escrow, fromBlock, toBlock: "latest", topics: [PAID_TOPIC, paymentId] });
    return logs.length;
  }

  async function balance(address: string): Promise<bigint> {
    return s.token.balanceOf(address);
  }

  /** Failover rank (1 = first) computed here from the rule, independently of the relayer's code. */
  function expectedRank(operationId: string, institutionIndex: number): number {
    const sorted = s.institutions
      .map((inst) => ({ address: inst.address, key: BigInt(solidityPackedKeccak256(["bytes32", "address"], [operationId, inst.address])) }))
      .sort((a, b) => (a.key < b.key ? -1 : 1));
    return sorted.findIndex((entry) => entry.address === institution(institutionIndex).address) + 1;
  }

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
    rA.enqueue(ops);
    await sleep(600);
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
    const reasons = failures.map((log) => escrowIface.parseError(String(escrowIface.parseLog(log)?.args[3]))?.name);
    expect(new Set(reasons)).to.deep.equal(new Set(["PaymentAlreadyExists", "NonceAlreadyUsed", "InvalidPaymentStatus"]));
    for (const op of pays) expect(await paidCount(fromBlock, op.paymentId)).to.equal(1);
    expect(await Promise.all(watched.map(balance))).to.deep.equal(balancesAfterFirst);
  });

  it("relays a gossip operation from the best-ranked watching institution after its timeout; the other sees it settled", async function () {
    const failoverTimeoutMs = 700;
    const stA = await storage();
    const stB = await storage();
    const rA = relayer(0, stA, { failoverTimeoutMs });
    const rB = relayer(1, stB, { failoverTimeoutMs });
    const fromBlock = (await chain.provider.getBlockNumber()) + 1;
    await rA.start();
    await rB.start();

    const t0 = Date.now();
    const ops: StoredOperation[] = [];
    for (let i = 0; i < 4; i++) ops.push(stored(await pay(payer(i), await terms(payer(i), 3_000n)), "gossip", t0));
    await stA.operations.putAccepted(ops);
    await stB.operations.putAccepted(ops);
    rA.enqueue(ops);
    rB.enqueue(ops);

    // Stand-in for the indexer: whatever one node sees executed, the other is told is settled.
    const executedAt = new Map<string, number>();
    const settle = setInterval(() => {
      void (async () => {
        for (const op of ops) {
          if (executedAt.has(op.id)) continue;
          const [a, b] = await Promise.all([stA.operations.get(op.id), stB.operations.get(op.id)]);
          if (a?.status === "executed") rB.settled([op.id]);
          if (b?.status === "executed") rA.settled([op.id]);
          if (a?.status === "executed" || b?.status === "executed") executedAt.set(op.id, Date.now() - t0);
        }
      })();
    }, 20);
    cleanups.push(async () => clearInterval(settle));

    await waitFor("every gossip operation relayed", () => executedAt.size === ops.length);
    // Past the latest moment the slower of the two would have relayed.
    await sleep(Math.max(0, t0 + 3 * failoverTimeoutMs + 600 - Date.now()));

    for (const op of ops) {
      const rankA = expectedRank(op.id, 0);
      const rankB = expectedRank(op.id, 1);
      const [winner, loser, rank] = rankA < rankB ? [stA, stB, rankA] : [stB, stA, rankB];
      const winnerAddress = institution(rankA < rankB ? 0 : 1).address;
      const won = await winner.operations.get(op.id);
      expect(won?.status).to.equal("executed");
      expect(won?.execution?.relayer).to.equal(winnerAddress);
      expect(executedAt.get(op.id)).to.be.at.least(rank * failoverTimeoutMs - 20);
      expect((await loser.operations.get(op.id))?.status, "the other never sent it").to.equal("accepted");
      expect(await paidCount(fromBlock, op.paymentId)).to.equal(1);
    }
    expect(await logsSince(fromBlock, FAILED_TOPIC)).to.have.length(0);
  });

  it("fails over to a lower-ranked institution when nobody else relays a gossip operation", async function () {
    const failoverTimeoutMs = 300;
    const st = await storage();
    const r = relayer(2, st, { failoverTimeoutMs });
    await r.start();
    const t0 = Date.now();
    const op = stored(await pay(payer(1), await terms(payer(1), 1_500n)), "gossip", t0);
    await st.operations.putAccepted([op]);
    r.enqueue([op]);
    await waitFor("failover relay", async () => (await st.operations.get(op.id))?.status === "executed");
    expect(Date.now() - t0).to.be.at.least(expectedRank(op.id, 2) * failoverTimeoutMs);
    expect((await st.operations.get(op.id))?.execution?.relayer).to.equal(institution(2).address);
  });

  it("catches up with the chain before a failover: relays nothing its index then reports settled, and still relays when the catch-up fails", async function () {
    const failoverTimeoutMs = 300;
    const st = await storage();
    const t0 = Date.now();
    const settledElsewhere = stored(await pay(payer(1), await terms(payer(1), 1_700n)), "gossip", t0);
    const unsettled = stored(await pay(payer(2), await terms(payer(2), 1_800n)), "gossip", t0);
    let calls = 0;
    // Stands in for the indexer: each catch-up finds `settledElsewhere` executed by another node, then the RPC fails.
    const r: BatchRelayer = relayer(2, st, { failoverTimeoutMs }, chain.provider, async () => {
      calls += 1;
      r.settled([settledElsewhere.id]);
      throw new Error("RPC down");
    });
    await r.start();
    await st.operations.putAccepted([settledElsewhere, unsettled]);
    r.enqueue([settledElsewhere, unsettled]);
    await waitFor("the failover of the unsettled operation", async () => (await st.operations.get(unsettled.id))?.status === "executed");
    await sleep(Math.max(0, t0 + 4 * failoverTimeoutMs + 500 - Date.now()));
    expect(calls).to.be.at.least(1);
    expect((await st.operations.get(unsettled.id))?.execution?.relayer).to.equal(institution(2).address);
    expect((await st.operations.get(settledElsewhere.id))?.status).to.equal("accepted");
    expect((await s.contracts.escrow.paymentOf(settledElsewhere.paymentId)).status).to.equal(Status.None);
  });

  it("keeps operations through an unreachable RPC and executes them once it returns, even when a broadcast's answer was lost", async function () {
    const chainPort = Number(new URL(chain.url).port);
    const proxy = new TcpProxy(chainPort);
    await proxy.start();
    cleanups.push(() => proxy.stop());
    const provider = new JsonRpcProvider(proxy.url, Network.from(ctx.chainId), { staticNetwork: true, cacheTimeout: -1 });
    cleanups.push(async () => provider.destroy());
    const st = await storage();
    const r = relayer(0, st, { batchSize: 10, batchIntervalMs: 50, maxRetryDelayMs: 400 }, provider);
    const fromBlock = (await chain.provider.getBlockNumber()) + 1;
    await r.start();

    const make = async (n: number) => {
      const out: StoredOperation[] = [];
      for (let i = 0; i < n; i++) out.push(stored(await pay(payer(i), await terms(payer(i), 1_000n)), "api"));
      await st.operations.putAccepted(out);
      return out;
    };

    const first = await make(10);
    r.enqueue(first);
    await waitFor("first batch", () => allFinal(st, first));

    // Down for a while: nothing executes, nothing is dropped.
    await proxy.stop();
    const second = await make(20);
    r.enqueue(second);
    await sleep(2_000);
    for (const op of second) expect((await s.contracts.escrow.paymentOf(op.paymentId)).status).to.equal(Status.None);
    expect(new Set(await statuses(st, second))).to.not.include("executed");
    await proxy.start();
    await waitFor("operations after the outage", () => allFinal(st, second));

    // The chain receives a batch but the relayer never hears back, then the RPC is gone for a while.
    proxy.cutOn = "eth_sendRawTransaction";
    const third = await make(10);
    r.enqueue(third);
    await waitFor("a cut broadcast", () => proxy.cuts === 1);
    await sleep(1_000);
    await proxy.start();
    await waitFor("operations after the lost answer", () => allFinal(st, third));

    const all = [...first, ...second, ...third];
    expect(new Set(await statuses(st, all))).to.deep.equal(new Set(["executed"]));
    for (const op of all) expect(await paidCount(fromBlock, op.paymentId)).to.equal(1);
    // The cut batch was executed by its first transaction, which the relayer found on the chain
    // instead of sending the operations again.
    const cutHashes = new Set(await Promise.all(third.map(async (op) => (await st.operations.get(op.id))?.execution?.txHash)));
    expect(cutHashes.size).to.equal(1);
    expect(await logsSince(fromBlock, FAILED_TOPIC), "nothing was sent twice").to.have.length(0);
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
    stopped.enqueue([...queued, gossip]);
    await sleep(200);
    await stopped.stop();
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
});
