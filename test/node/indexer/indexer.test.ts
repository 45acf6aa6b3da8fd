import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { expect } from "chai";
import { JsonRpcProvider, Network, hexlify, randomBytes, type HDNodeWallet, type JsonRpcPayload, type JsonRpcResult, type Wallet } from "ethers";
import { pino } from "pino";

import { Indexer } from "../../../node/indexer/indexer.js";
import {
  escrowOperationSchema,
  operationIdOf,
  paymentIdOf,
  signEscrowOperation,
  termsToJson,
  toContractOperation,
  type EscrowOperationInput,
  type PaymentTerms,
  type UnsignedEscrowOperation,
} from "../../../core/operations/index.js";
import { openStorage, type NodeStorage } from "../../../node/storage/db.js";
import type { StoredOperation } from "../../../core/records.js";
import { deployScenario, startChain, type LocalChain, type Scenario } from "../../helpers/chain.js";
import { waitFor as waitUntil } from "../../helpers/wait.js";
import { startTcpProxy, type TcpProxy } from "../../../scripts/lib/tcp-proxy.js";

type Actor = Wallet | HDNodeWallet;
type ActionKind = Exclude<EscrowOperationInput["kind"], "pay" | "release">;

const DAY = 86_400;
const silent = pino({ level: "silent" });

/** A JsonRpcProvider that records the block ranges it was asked for logs (to check where indexing resumes) and counts its JSON-RPC calls and HTTP requests. */
class RecordingProvider extends JsonRpcProvider {
  readonly ranges: { fromBlock: number; toBlock: number }[] = [];
  readonly calls = new Map<string, number>();
  /** Methods of each HTTP request (a JSON-RPC batch carries several). */
  readonly requests: string[][] = [];
  override _send(payload: JsonRpcPayload | JsonRpcPayload[]): Promise<JsonRpcResult[]> {
    this.requests.push((Array.isArray(payload) ? payload : [payload]).map((p) => p.method));
    return super._send(payload);
  }
  override async send(method: string, params: unknown[] | Record<string, unknown>): Promise<unknown> {
    this.calls.set(method, (this.calls.get(method) ?? 0) + 1);
    const filter = method === "eth_getLogs" && Array.isArray(params) ? (params[0] as { fromBlock?: string; toBlock?: string }) : undefined;
    if (filter?.fromBlock !== undefined) this.ranges.push({ fromBlock: Number(filter.fromBlock), toBlock: Number(filter.toBlock) });
    return super.send(method, params);
  }
}

describe("chain indexer", function () {
  this.timeout(120_000);

  let chain: LocalChain;
  let s: Scenario;
  let ctx: { chainId: bigint; escrow: string };
  let institutionOf: (account: string) => string | undefined;
  const cleanups: (() => Promise<void>)[] = [];

  before(async function () {
    chain = await startChain();
    s = await deployScenario(chain, { payers: 3 });
    ctx = { chainId: BigInt(s.deployment.chainId), escrow: s.deployment.contracts.escrow };
    // Payer i is a customer of institution i mod n; merchants were onboarded by institution 0.
    const owners = new Map<string, string>();
    s.payers.forEach((p, i) => owners.set(p.address.toLowerCase(), s.institutions[i % s.institutions.length]!.address));
    s.merchants.forEach((m) => owners.set(m.address.toLowerCase(), s.institutions[0]!.address));
    institutionOf = (account) => owners.get(account.toLowerCase());
  });
  afterEach(async function () {
    while (cleanups.length > 0) await cleanups.pop()!();
  });
  after(async function () {
    await chain.close();
  });

  // ------------------------------------------------------------------ helpers

  const payer = (i = 0) => s.payers[i]!;
  const merchant = () => s.merchants[0]!;
  const relayer = (i = 0) => s.institutions[i]!;
  const escrowAs = (wallet: Actor) => s.contracts.escrow.connect(wallet);
  const now = async () => BigInt((await chain.provider.getBlock("latest"))!.timestamp);

  async function tempStorage(dir?: string): Promise<{ dir: string; storage: NodeStorage }> {
    const path = dir ?? (await mkdtemp(join(tmpdir(), "settlenet-indexer-")));
    const storage = await openStorage(path);
    cleanups.push(async () => {
      await storage.close();
      if (!dir) await rm(path, { recursive: true, force: true });
    });
    return { dir: path, storage };
  }

  function indexer(storage: NodeStorage, extra: { provider?: JsonRpcProvider; onSettled?: (ids: string[]) => void; logger?: pino.Logger } = {}) {
    const instance = new Indexer(
      { deployment: s.deployment, pollIntervalMs: 100 },
      { provider: extra.provider ?? chain.provider, storage, institutionOf, logger: extra.logger ?? silent, onSettled: extra.onSettled },
    );
    cleanups.push(() => instance.stop());
    return instance;
  }

  let order = 0;
  async function newTerms(overrides: Partial<PaymentTerms> = {}, payerIndex = 0): Promise<PaymentTerms> {
    order += 1;
    return {
      payer: payer(payerIndex).address,
      merchant: merchant().address,
      token: await s.token.getAddress(),
      amount: 1_000n,
      orderId: hexlify(randomBytes(32)),
      feeBps: 100,
      direct: false,
      payDeadline: (await now()) + BigInt(30 * DAY),
      fulfilmentPeriod: 3 * DAY,
      autoReleasePeriod: DAY,
      refundPeriod: 7 * DAY,
      nonce: BigInt(order),
      ...overrides,
    };
  }

  async function signPay(terms: PaymentTerms, payerIndex = 0): Promise<EscrowOperationInput> {
    return signEscrowOperation(payer(payerIndex), { kind: "pay", terms: termsToJson(terms) }, ctx);
  }

  let actionNonce = 1_000n;
  async function signAction(
    kind: ActionKind,
    signer: Actor,
    terms: PaymentTerms,
    extra: { amount?: bigint; payerAmount?: bigint; nonce?: bigint; deadline?: bigint } = {},
  ): Promise<EscrowOperationInput> {
    const nonce = (extra.nonce ?? actionNonce++).toString();
    const deadline = (extra.deadline ?? (await now()) + BigInt(DAY)).toString();
    const reason = hexlify(randomBytes(32));
    const fields =
      kind === "refund"
        ? { amount: (extra.amount ?? 0n).toString(), reason }
        : kind === "dispute"
          ? { reason }
          : kind === "resolve"
            ? { payerAmount: (extra.payerAmount ?? 0n).toString(), reason }
            : {};
    return signEscrowOperation(signer, { kind, terms: termsToJson(terms), ...fields, nonce, deadline } as UnsignedEscrowOperation, ctx);
  }

  const release = (terms: PaymentTerms): EscrowOperationInput => ({ kind: "release", terms: termsToJson(terms) });

  /** Relays one operation through `execute` from an institution wallet. */
  async function execute(op: EscrowOperationInput, by = relayer()) {
    const receipt = await (await escrowAs(by).execute(toContractOperation(escrowOperationSchema.parse(op)))).wait();
    return receipt!;
  }

  async function executeBatch(ops: EscrowOperationInput[], by = relayer()) {
    const receipt = await (await escrowAs(by).executeBatch(ops.map((op) => toContractOperation(escrowOperationSchema.parse(op))))).wait();
    return receipt!;
  }

  function stored(op: EscrowOperationInput, signer: string | null, receivedAtMs = Date.now()): StoredOperation {
    const parsed = escrowOperationSchema.parse(op);
    return {
      id: operationIdOf(parsed, ctx),
      kind: parsed.kind,
      paymentId: paymentIdOf(parsed.terms, ctx),
      op,
      signer,
      origin: "api",
      status: "accepted",
      receivedAtMs,
      updatedAtMs: receivedAtMs,
    };
  }

  async function advance(seconds: number) {
    await chain.provider.send("evm_increaseTime", [seconds]);
    await chain.provider.send("evm_mine", []);
  }

  /** Polls `probe` (test/helpers/wait.ts) for up to a minute. */
  const waitFor = <T>(what: string, probe: () => Promise<T | undefined>) => waitUntil(what, probe, 60_000, 50);

  const eventsOf = async (storage: NodeStorage, terms: PaymentTerms) => (await storage.payments.get(paymentIdOf(terms, ctx)))?.events.map((e) => e.event);

  // ------------------------------------------------------------------ tests

  it("indexes pays, fulfilments, confirms, refunds, disputes, resolutions, releases and reclaims done on-chain", async function () {
    // Partial refund while held, then fulfilment and confirmation.
    const confirmed = await newTerms();
    await execute(await signPay(confirmed));
    await execute(await signAction("refund", merchant(), confirmed, { amount: 300n }));
    await execute(await signAction("markFulfilled", merchant(), confirmed));
    const confirmReceipt = await execute(await signAction("confirm", payer(), confirmed));
    // Refunded in two steps: the second empties it.
    const refunded = await newTerms({}, 1);
    await execute(await signPay(refunded, 1));
    await execute(await signAction("refund", merchant(), refunded, { amount: 400n }));
    await execute(await signAction("refund", merchant(), refunded, { amount: 600n }));
    // Disputed and resolved.
    const resolved = await newTerms({}, 2);
    await execute(await signPay(resolved, 2));
    await execute(await signAction("dispute", payer(2), resolved));
    await execute(await signAction("resolve", s.arbiter, resolved, { payerAmount: 250n }), relayer(1));
    // Direct.
    const direct = await newTerms({ direct: true, amount: 500n });
    const directReceipt = await execute(await signPay(direct));
    // Never fulfilled → reclaimed; fulfilled → auto-released.
    const reclaimed = await newTerms({ fulfilmentPeriod: 5 });
    await execute(await signPay(reclaimed));
    const autoReleased = await newTerms({ autoReleasePeriod: 5 });
    await execute(await signPay(autoReleased));
    await execute(await signAction("markFulfilled", merchant(), autoReleased));
    await advance(10);
    await execute(await signAction("reclaim", payer(), reclaimed));
    await execute(release(autoReleased), relayer(2));

    const { storage } = await tempStorage();
    const head = await chain.provider.getBlockNumber();
    expect(await indexer(storage).syncOnce()).to.equal(head);
    expect(await storage.getCursor()).to.equal(head);

    const get = async (terms: PaymentTerms) => (await storage.payments.get(paymentIdOf(terms, ctx)))!;
    const c = await get(confirmed);
    expect(c).to.include({ status: "released", refunded: "300", amount: "1000", payer: payer().address, merchant: merchant().address, feeBps: 100, direct: false });
    expect(c.events.map((e) => e.event)).to.deep.equal(["PaymentPaid", "PaymentRefunded", "PaymentFulfilled", "PaymentReleased"]);
    const confirmBlock = (await chain.provider.getBlock(confirmReceipt.blockNumber))!;
    expect(c.deadline).to.equal(confirmBlock.timestamp + 7 * DAY);
    expect(c.updatedAt).to.equal(confirmBlock.timestamp);
    expect(c.events[3]).to.include({ txHash: confirmReceipt.hash, blockNumber: confirmReceipt.blockNumber, timestamp: confirmBlock.timestamp });
    expect(c.events[3]!.args).to.include({ merchantAmount: "693", fee: "7" });
    expect(c).to.include({ payerInstitution: relayer(0).address, merchantInstitution: relayer(0).address });

    const r = await get(refunded);
    expect(r).to.include({ status: "refunded", refunded: "1000", payerInstitution: relayer(1).address });
    expect(r.events.map((e) => e.event)).to.deep.equal(["PaymentPaid", "PaymentRefunded", "PaymentRefunded"]);
    expect(r.events[1]!.args).to.include({ amount: "400", remaining: "600" });

    expect(await get(resolved)).to.include({ status: "resolved", refunded: "250" });
    expect((await get(resolved)).events.map((e) => e.event)).to.deep.equal(["PaymentPaid", "PaymentDisputed", "PaymentResolved"]);

    const d = await get(direct);
    const directBlock = (await chain.provider.getBlock(directReceipt.blockNumber))!;
    expect(d).to.include({ status: "released", direct: true, paidAt: directBlock.timestamp, paidBlock: directReceipt.blockNumber, deadline: directBlock.timestamp + 7 * DAY });
    expect(d.events.map((e) => e.event)).to.deep.equal(["PaymentPaid", "PaymentReleased"]);

    expect(await get(reclaimed)).to.include({ status: "reclaimed", refunded: "0" });
    expect((await get(autoReleased)).events.map((e) => e.event)).to.deep.equal(["PaymentPaid", "PaymentFulfilled", "PaymentReleased"]);
    expect(await get(autoReleased)).to.include({ status: "released" });

    // The lists see every payment, newest first.
    const all = [confirmed, refunded, resolved, direct, reclaimed, autoReleased].map((t) => paymentIdOf(t, ctx));
    const byTime = (await storage.payments.listByTime({ limit: 500 })).items.map((p) => p.paymentId);
    expect(byTime).to.include.members(all);
    const byMerchant = (await storage.payments.listByMerchant(merchant().address, { limit: 500 })).items;
    expect(byMerchant.map((p) => p.paymentId)).to.include.members(all);
    expect(byMerchant.map((p) => p.paidAt)).to.deep.equal([...byMerchant.map((p) => p.paidAt)].sort((a, b) => b - a));
    expect((await storage.payments.listByPayer(payer(1).address, { limit: 500 })).items.map((p) => p.paymentId)).to.include(all[1]);
    expect((await storage.payments.listByInstitution(relayer(2).address, { limit: 500 })).items.map((p) => p.paymentId)).to.include(all[2]);
  });

  it("marks stored operations executed when the chain executed them, whoever relayed", async function () {
    const terms = await newTerms();
    const pay = await signPay(terms);
    const fulfil = await signAction("markFulfilled", merchant(), terms);
    const confirm = await signAction("confirm", payer(), terms);
    const secondConfirm = await signAction("confirm", payer(), terms);
    const refundA = await signAction("refund", merchant(), terms, { amount: 100n });
    const refundB = await signAction("refund", merchant(), terms, { amount: 100n });
    const refundOther = await signAction("refund", merchant(), terms, { amount: 50n });
    const ops = [
      stored(pay, payer().address, 1),
      stored(fulfil, merchant().address, 2),
      stored(refundA, merchant().address, 3),
      stored(refundB, merchant().address, 4),
      stored(refundOther, merchant().address, 5),
      stored(confirm, payer().address, 6),
      stored(secondConfirm, payer().address, 7),
    ];
    const [payOp, fulfilOp, refundAOp, refundBOp, refundOtherOp, confirmOp, secondConfirmOp] = ops;
    const { storage } = await tempStorage();
    await storage.operations.putAccepted(ops);
    await storage.operations.update(fulfilOp!.id, { status: "submitted", txHash: hexlify(randomBytes(32)) });

    const batch = await executeBatch([pay, fulfil], relayer(1));
    const refund = await execute(refundB, relayer(2)); // the later of two equal refunds
    const confirmed = await execute(confirm, relayer(0));

    const settled: string[][] = [];
    await indexer(storage, { onSettled: (ids) => settled.push(ids) }).syncOnce();

    const status = async (op: StoredOperation) => (await storage.operations.get(op.id))!;
    const batchBlock = (await chain.provider.getBlock(batch.blockNumber))!;
    expect(await status(payOp!)).to.include({ status: "executed" }).and.to.have.deep.property("execution", {
      txHash: batch.hash,
      blockNumber: batch.blockNumber,
      relayer: relayer(1).address,
      timestamp: batchBlock.timestamp,
    });
    expect((await status(fulfilOp!)).execution).to.include({ txHash: batch.hash, relayer: relayer(1).address });
    expect((await status(refundBOp!)).execution).to.include({ txHash: refund.hash, relayer: relayer(2).address });
    expect((await status(confirmOp!)).execution).to.include({ txHash: confirmed.hash, relayer: relayer(0).address });
    // The payment was released: the second confirm can never run; it is settled by the same event.
    expect((await status(secondConfirmOp!)).execution).to.include({ txHash: confirmed.hash });
    // Only the refund that ran is settled; an equal one and a different one still wait.
    expect((await status(refundAOp!)).status).to.equal("accepted");
    expect((await status(refundOtherOp!)).status).to.equal("accepted");

    expect(settled.flat()).to.have.members([payOp!.id, fulfilOp!.id, refundBOp!.id, confirmOp!.id, secondConfirmOp!.id]);
    expect((await storage.operations.listByStatus("executed", 50)).map((o) => o.id)).to.have.members(settled.flat());
    expect(await storage.operations.listByStatus("submitted", 50)).to.deep.equal([]);
  });

  it("records a failed batch item with its decoded error, as its relayer does, and leaves a failure that means already executed pending", async function () {
    const terms = await newTerms();
    const pay = await signPay(terms);
    const expired = await signAction("markFulfilled", merchant(), terms, { deadline: (await now()) - 10n });
    const early = release(terms);
    // A second payment: released before its dispute is relayed (the dispute can never run), and a
    // refund whose nonce the merchant already spent on another operation (already executed, by the
    // operation's only on-chain meaning: its signer and nonce).
    const other = await newTerms();
    const otherPay = await signPay(other);
    const lateDispute = await signAction("dispute", payer(), other);
    const spentNonce = 777_777n;
    const refundSpent = await signAction("refund", merchant(), other, { amount: 10n, nonce: spentNonce });
    const ops = [stored(pay, payer().address), stored(expired, merchant().address), stored(early, null), stored(lateDispute, payer().address), stored(refundSpent, merchant().address)];
    const [payOp, expiredOp, earlyOp, lateDisputeOp, refundSpentOp] = ops;
    const { storage } = await tempStorage();
    await storage.operations.putAccepted(ops);

    await execute(otherPay);
    await execute(await signAction("markFulfilled", merchant(), other, { nonce: spentNonce }));
    await execute(await signAction("confirm", payer(), other));
    const failing = await executeBatch([pay, expired, early, lateDispute, refundSpent]);
    const failures = failing.logs.filter((log) => log.topics[0] === s.contracts.escrow.interface.getEvent("OperationFailed").topicHash);
    expect(failures).to.have.length(4);

    const settled: string[] = [];
    await indexer(storage, { onSettled: (ids) => settled.push(...ids) }).syncOnce();

    expect((await storage.operations.get(payOp!.id))!.status).to.equal("executed");
    const expiredNow = (await storage.operations.get(expiredOp!.id))!;
    expect(expiredNow.status).to.equal("failed");
    expect(expiredNow.error).to.deep.include({ code: "SignatureExpired", args: [(expired as { deadline: string }).deadline] });
    const earlyNow = (await storage.operations.get(earlyOp!.id))!;
    expect(earlyNow.status).to.equal("failed");
    expect(earlyNow.error).to.deep.include({ code: "InvalidPaymentStatus", args: [paymentIdOf(terms, ctx), "1"] });
    const lateDisputeNow = (await storage.operations.get(lateDisputeOp!.id))!;
    expect(lateDisputeNow.status).to.equal("failed");
    expect(lateDisputeNow.error).to.deep.include({ code: "InvalidPaymentStatus", args: [paymentIdOf(other, ctx), "4"] });
    expect((await storage.operations.get(refundSpentOp!.id))!.status).to.equal("accepted");
    expect(settled).to.have.members([payOp!.id, expiredOp!.id, earlyOp!.id, lateDisputeOp!.id]);
    expect((await storage.operations.listByStatus("failed", 50)).map((o) => o.id)).to.have.members([expiredOp!.id, earlyOp!.id, lateDisputeOp!.id]);
  });

  it("fills in where an operation recorded executed without it was executed (its relay found it already executed), and adds no change to the feed", async function () {
    const terms = await newTerms();
    const pay = await signPay(terms);
    const fulfil = await signAction("markFulfilled", merchant(), terms);
    const [payOp, fulfilOp] = [stored(pay, payer().address), stored(fulfil, merchant().address)];
    const { storage } = await tempStorage();
    await storage.operations.putAccepted([payOp!, fulfilOp!]);
    // Another institution relayed both; this node's relays were refused as already executed, and recorded no details.
    const paid = await execute(pay, relayer(1));
    const fulfilled = await execute(fulfil, relayer(2));
    for (const op of [payOp!, fulfilOp!]) await storage.operations.update(op.id, { status: "executed" });
    const operationChanges = async () => (await storage.changes.page(undefined, 1_000)).changes.filter((change) => change.type === "operation");
    const before = await operationChanges();

    await indexer(storage).syncOnce();

    const timeOf = async (block: number) => (await chain.provider.getBlock(block))!.timestamp;
    expect((await storage.operations.get(payOp!.id))!).to.deep.include({
      status: "executed",
      execution: { txHash: paid.hash, blockNumber: paid.blockNumber, relayer: relayer(1).address, timestamp: await timeOf(paid.blockNumber) },
    });
    expect((await storage.operations.get(fulfilOp!.id))!).to.deep.include({
      status: "executed",
      execution: { txHash: fulfilled.hash, blockNumber: fulfilled.blockNumber, relayer: relayer(2).address, timestamp: await timeOf(fulfilled.blockNumber) },
    });
    // The status did not change: the feed, which carries status changes, has nothing new about them.
    expect(await operationChanges()).to.deep.equal(before);
  });

  it("settles operations from the logs alone: a failed item by the id its log names, among several of its kind, with one block read per block", async function () {
    const terms = await newTerms();
    const pay = await signPay(terms);
    // Two fulfilments of the same payment are pending; the expired one fails in a batch, the other runs later.
    const expired = await signAction("markFulfilled", merchant(), terms, { deadline: (await now()) - 10n });
    const valid = await signAction("markFulfilled", merchant(), terms);
    const ops = [stored(pay, payer().address, 1), stored(expired, merchant().address, 2), stored(valid, merchant().address, 3)];
    const [payOp, expiredOp, validOp] = ops;
    const { storage } = await tempStorage();
    await storage.operations.putAccepted(ops);
    const from = (await chain.provider.getBlockNumber()) + 1;
    const batch = await executeBatch([pay, expired], relayer(1));
    const fulfilled = await execute(valid, relayer(2));

    const provider = new RecordingProvider(chain.url, Network.from(ctx.chainId), { staticNetwork: true, cacheTimeout: -1 });
    cleanups.push(async () => provider.destroy());
    await storage.applyIndexBatch({ payments: [], operations: [], cursor: from - 1 });
    await indexer(storage, { provider }).syncOnce();

    expect(await storage.operations.get(payOp!.id)).to.deep.include({ status: "executed" });
    expect((await storage.operations.get(payOp!.id))!.execution).to.include({ txHash: batch.hash, relayer: relayer(1).address });
    expect((await storage.operations.get(expiredOp!.id))!.error).to.deep.include({ code: "SignatureExpired" });
    expect((await storage.operations.get(validOp!.id))!.execution).to.include({ txHash: fulfilled.hash, relayer: relayer(2).address });
    // No transaction or receipt is fetched: one getLogs and one full block read per block with events.
    expect(provider.calls.get("eth_getTransactionByHash") ?? 0).to.equal(0);
    expect(provider.calls.get("eth_getTransactionReceipt") ?? 0).to.equal(0);
    expect(provider.calls.get("eth_getBlockByNumber")).to.equal(2);
    // A step of two blocks asks for its blocks in the same HTTP request as its logs (after the head).
    expect(provider.requests).to.deep.equal([["eth_blockNumber"], ["eth_getBlockByNumber", "eth_getBlockByNumber", "eth_getLogs"]]);
  });

  it("continues from its cursor after a restart without indexing anything twice", async function () {
    const { dir, storage } = await tempStorage();
    const before = await newTerms();
    await execute(await signPay(before));
    const firstCursor = await indexer(storage).syncOnce();
    const firstChecksum = await storage.checksum();
    await storage.close();

    await execute(await signAction("markFulfilled", merchant(), before));
    const after = await newTerms();
    await execute(await signPay(after));

    const reopened = (await tempStorage(dir)).storage;
    expect(await reopened.checksum()).to.equal(firstChecksum);
    const provider = new RecordingProvider(chain.url, Network.from(ctx.chainId), { staticNetwork: true, cacheTimeout: -1 });
    cleanups.push(async () => provider.destroy());
    const second = indexer(reopened, { provider });
    const head = await chain.provider.getBlockNumber();
    expect(await second.syncOnce()).to.equal(head);
    expect(provider.ranges[0]).to.deep.equal({ fromBlock: firstCursor + 1, toBlock: head });
    expect(await eventsOf(reopened, before)).to.deep.equal(["PaymentPaid", "PaymentFulfilled"]);
    expect(await eventsOf(reopened, after)).to.deep.equal(["PaymentPaid"]);

    // Nothing new: no logs asked for, nothing rewritten.
    const checksum = await reopened.checksum();
    expect(await second.syncOnce()).to.equal(head);
    expect(provider.ranges).to.have.length(1);
    expect(await reopened.checksum()).to.equal(checksum);
  });

  it("indexes in steps of at most maxBlocksPerStep blocks, advancing the cursor with each", async function () {
    const { storage } = await tempStorage();
    const provider = new RecordingProvider(chain.url, Network.from(ctx.chainId), { staticNetwork: true, cacheTimeout: -1 });
    cleanups.push(async () => provider.destroy());
    const instance = new Indexer({ deployment: s.deployment, pollIntervalMs: 100, maxBlocksPerStep: 7, confirmations: 2 }, { provider, storage, institutionOf, logger: silent });
    const head = await chain.provider.getBlockNumber();
    expect(await instance.syncOnce()).to.equal(head - 2);
    expect(provider.ranges[0]!.fromBlock).to.equal(s.deployment.deploymentBlock);
    for (const [i, range] of provider.ranges.entries()) {
      expect(range.toBlock - range.fromBlock).to.be.lessThan(7);
      if (i > 0) expect(range.fromBlock).to.equal(provider.ranges[i - 1]!.toBlock + 1);
    }
    expect(provider.ranges.at(-1)!.toBlock).to.equal(head - 2);
  });

  it("retries while the RPC is unreachable and catches up when it returns", async function () {
    let proxy: TcpProxy | undefined = await startTcpProxy(chain.url);
    cleanups.push(async () => proxy?.close());
    const provider = new JsonRpcProvider(proxy.url, Network.from(ctx.chainId), { staticNetwork: true, cacheTimeout: -1 });
    cleanups.push(async () => provider.destroy());
    const warnings: { msg: string; failures?: number }[] = [];
    const logger = pino({ level: "warn" }, { write: (line: string) => void warnings.push(JSON.parse(line) as { msg: string }) });
    const { storage } = await tempStorage();
    const instance = indexer(storage, { provider, logger });
    await instance.start();
    const head = await chain.provider.getBlockNumber();
    await waitFor("the first catch-up", async () => ((await storage.getCursor()) === head ? true : undefined));

    await proxy.pause();
    const terms = await newTerms();
    const paid = await execute(await signPay(terms));
    await execute(await signAction("markFulfilled", merchant(), terms));
    // Failed steps are retried, not given up: wait for several failures while the RPC is cut off.
    const failures = warnings.filter((w) => w.msg === "indexer step failed; retrying").length;
    await waitFor("two more failed indexer steps", async () => (warnings.filter((w) => w.msg === "indexer step failed; retrying").length >= failures + 2 ? true : undefined));
    expect(await storage.getCursor()).to.be.lessThan(paid.blockNumber);
    expect(await storage.payments.get(paymentIdOf(terms, ctx))).to.equal(undefined);

    await proxy.resume();
    const record = await waitFor("the payment after the outage", async () => {
      const found = await storage.payments.get(paymentIdOf(terms, ctx));
      return found?.status === "fulfilled" ? found : undefined;
    });
    expect(record.events.map((e) => e.event)).to.deep.equal(["PaymentPaid", "PaymentFulfilled"]);
    expect(await storage.getCursor()).to.be.at.least(paid.blockNumber + 1);
    await instance.stop();
    await proxy.close();
    proxy = undefined;
  });
});
