/**
 * The rest of the escrow life cycle through the gateway, on real parts: a chain, two institution node
 * processes with short settlement cycles, the bank simulator over HTTP and the gateway (LevelDB in a
 * temp dir) with the custodian's key. Requests are signed as a merchant would sign them; chain time is
 * moved with evm_setNextBlockTimestamp / evm_mine, never read from the wall clock.
 *   - regulator freezes (a token operation submitted to the node) refuse authorizations, payouts,
 *     top-ups and transfers with ACCOUNT_FROZEN and change nothing; the unfreeze lets them through;
 *   - the auto-release keeper submits `release` once the auto-release time passed (payment.released once);
 *   - the payer reclaims a never-fulfilled payment after the fulfilment period (signed payload);
 *   - GET /v1/statements serves a finalized cycle's statement (JSON, CSV) and refuses the others.
 */
import { expect } from "chai";
import type { HDNodeWallet, Wallet } from "ethers";

import { GATEWAY_CODES } from "../../../gateway/plugins/app/problem.js";
import { signRequest } from "../../../gateway/client/signing.js";
import type { OrderRecord } from "../../../gateway/domain/records.js";
import { getJson, postJson, waitFor, waitForOperation, type NodeHandle, type TestNetwork } from "../../helpers/network.js";
import { randomRef, signedTokenOp, tokenOperationIdOf } from "../../helpers/tokens.js";
import { gatewayFixture, merchantRequests, moneyModules, type BankSimulatorHandle, type GatewayFixture, type TestMerchant } from "../fixture.js";
import { launchCustodianNetwork, type CustodianNetwork } from "../../helpers/custodian.js";

interface TypedData {
  domain: Record<string, unknown>;
  types: Record<string, { name: string; type: string }[]>;
  primaryType: string;
  message: Record<string, unknown>;
}
interface PaymentView {
  id: string;
  status: string;
  paymentId: string;
  typedData: TypedData | null;
  onChain: { deadline: string } | null;
}
interface Problem {
  code: string;
  status: number;
  role?: string;
  account?: string;
}
interface Payload {
  nonce: string;
  deadline: string;
  typedData: TypedData;
}
interface EventItem {
  type: string;
  data: { id: string };
}

const CYCLE = 300;

describe("gateway: freezes, auto-release, reclaim and statements (nodes, chain and bank simulator)", function () {
  this.timeout(240_000);
  let custody: CustodianNetwork;
  let net: TestNetwork;
  let gw: GatewayFixture;
  let bank: BankSimulatorHandle;
  let a: TestMerchant;
  let b: TestMerchant;
  let payers: (Wallet | HDNodeWallet)[];
  let node0: NodeHandle;
  let node1: NodeHandle;
  /** An escrow order of merchant a, held, with a 60 s auto-release period (test of the keeper). */
  let toRelease: PaymentView;

  before(async function () {
    // Top-ups are minted by the custodian service on node 0, reading the bank.
    custody = await launchCustodianNetwork({
      institutions: 2,
      regulator: false,
      merchants: 2,
      payers: 3,
      config: { settlement: { cycleSeconds: CYCLE, tickMs: 300, finalizeFailoverMs: 1_000, rebroadcastMs: 1_000 } },
      bankLatencyMs: { min: 100, max: 300 },
    });
    ({ net, bank } = custody);
    [node0, node1] = net.nodes as [NodeHandle, NodeHandle];
    gw = await gatewayFixture({
      scenario: net.scenario,
      nodeUrl: node0.apiUrl,
      app: { moneyTickMs: 200, keeper: { intervalMs: 300 } },
      money: moneyModules(net.scenario, bank.url),
    });
    [a, b] = gw.merchants as [TestMerchant, TestMerchant];
    payers = net.scenario.payers;
  });

  after(async function () {
    await gw?.close();
    await custody?.close();
  });

  const payer = (i: number) => {
    const p = payers[i];
    if (!p) throw new Error(`no payer ${i}`);
    return p;
  };
  const requests = merchantRequests(() => gw, () => a);
  const { get, post, poll } = requests;
  const stored = async (id: string): Promise<OrderRecord> => {
    const order = await gw.storage.orders.get(id);
    if (!order) throw new Error(`no order ${id}`);
    return order;
  };
  const tokenBalance = (address: string) => net.scenario.token.balanceOf(address);
  const chainTime = async () => (await net.chain.provider.getBlock("latest"))?.timestamp ?? 0;
  /** Mines a block at chain time `at` (or one second after the latest block if that is later). */
  const mineAt = async (at: number) => {
    await net.chain.provider.send("evm_setNextBlockTimestamp", [Math.max(at, (await chainTime()) + 1)]);
    await net.chain.provider.send("evm_mine", []);
  };
  const events = async (type: string, orderId: string) =>
    (await get<{ items: EventItem[] }>("/v1/events?limit=100")).body.items.filter((e) => e.type === type && e.data.id === orderId);

  const createOrder = (merchantOrderId: string, payerIndex: number, overrides: Record<string, unknown> = {}) =>
    requests.signedOrder<PaymentView>(payer(payerIndex), merchantOrderId, { expiresIn: 86_400, ...overrides });
  const paidOrder = (merchantOrderId: string, payerIndex: number, overrides: Record<string, unknown> = {}, until = "held") =>
    requests.paidOrder<PaymentView>(payer(payerIndex), merchantOrderId, { expiresIn: 86_400, ...overrides }, until);

  /** A regulator freeze (or unfreeze) submitted to node 0, executed, and mirrored by every node's registry. */
  async function setFrozen(account: string, frozen: boolean): Promise<void> {
    const s = net.scenario;
    const op = await signedTokenOp(s, s.regulator, { kind: "freeze", account, frozen, reason: randomRef() });
    const id = tokenOperationIdOf(s, op);
    expect((await postJson(`${node0.apiUrl}/v1/operations`, op)).status).to.equal(202);
    const [record] = await waitForOperation([node0], id, "executed", 60_000);
    expect(await s.token.isFrozen(account)).to.equal(frozen);
    const block = (record as unknown as { execution?: { blockNumber: number } }).execution?.blockNumber ?? Infinity;
    for (const n of net.nodes) {
      await waitFor(`${n.name}'s registry mirror to reach block ${block}`, async () => {
        const { body } = await getJson<{ chain: { registry: number } }>(`${n.apiUrl}/health`);
        return body.chain.registry >= block;
      });
    }
  }

  it("refuses a frozen payer's authorization with ACCOUNT_FROZEN (403) and changes nothing; after the unfreeze it goes through", async function () {
    const frozenPayer = payer(2);
    const { order, signature } = await createOrder("frozen-payer-1", 2, { amount: "3000" });
    const before = await tokenBalance(frozenPayer.address);
    await setFrozen(frozenPayer.address, true);

    const refused = await post<Problem>(`/v1/payments/${order.id}/authorization`, { signature });
    expect(refused.status).to.equal(403);
    expect(refused.status).to.equal(GATEWAY_CODES.ACCOUNT_FROZEN.status);
    expect([refused.body.code, refused.body.role, refused.body.account]).to.deep.equal(["ACCOUNT_FROZEN", "payer", frozenPayer.address]);
    const unchanged = await stored(order.id);
    expect(unchanged.status).to.equal("awaiting_authorization");
    expect(unchanged.authorization).to.equal(undefined);
    expect(unchanged.lastError).to.equal(undefined);
    expect((await getJson(`${node0.apiUrl}/v1/operations/${order.paymentId}`)).status).to.equal(404);
    expect((await net.scenario.contracts.escrow.paymentOf(order.paymentId)).status).to.equal(0n);
    expect(await tokenBalance(frozenPayer.address)).to.equal(before);

    await setFrozen(frozenPayer.address, false);
    expect((await post(`/v1/payments/${order.id}/authorization`, { signature })).status).to.equal(202);
    await poll<PaymentView>("the payment to be held", `/v1/payments/${order.id}`, (v) => v.status === "held");
    expect(before - (await tokenBalance(frozenPayer.address))).to.equal(3_000n);
  });

  it("refuses a frozen merchant's payout, top-up, transfer and payments with ACCOUNT_FROZEN and changes nothing; after the unfreeze they work", async function () {
    await paidOrder("direct-1", 0, { mode: "direct" }, "released");
    expect(await tokenBalance(a.address)).to.equal(9_900n);
    const { order, signature } = await createOrder("release-1", 0, { autoReleasePeriod: 60 });
    await setFrozen(a.address, true);

    const refusals = [
      await post<Problem>("/v1/payouts", { amount: "1000", currency: "CNY", account: "merchant-0" }),
      await post<Problem>("/v1/topups", { amount: "5000", currency: "CNY", account: "merchant-0" }),
      await post<Problem>("/v1/transfers", { to: b.address, amount: "1000", currency: "CNY", reference: "frozen-1" }),
      await post<Problem>(`/v1/payments/${order.id}/authorization`, { signature }),
    ];
    expect(refusals.map((r) => [r.status, r.body.code, r.body.role])).to.deep.equal(Array(4).fill([403, "ACCOUNT_FROZEN", "merchant"]));
    expect((await get<{ items: unknown[] }>("/v1/payouts")).body.items).to.have.length(0);
    expect((await getJson<{ transfers: unknown[] }>(`${bank.url}/v1/transfers?limit=500`)).body.transfers).to.have.length(0);
    expect(await gw.storage.money.transferByReference(a.id, "frozen-1")).to.equal(undefined);
    expect((await stored(order.id)).status).to.equal("awaiting_authorization");
    expect(await tokenBalance(a.address)).to.equal(9_900n);
    expect(await tokenBalance(b.address)).to.equal(0n);

    await setFrozen(a.address, false);
    const topup = await post<{ id: string }>("/v1/topups", { amount: "5000", currency: "CNY", account: "merchant-0" });
    expect(topup.status).to.equal(202);
    await poll<{ stage: string }>("the top-up", `/v1/topups/${topup.body.id}`, (v) => v.stage === "completed");
    const payout = await post<{ id: string }>("/v1/payouts", { amount: "1000", currency: "CNY", account: "merchant-0" });
    expect(payout.status).to.equal(202);
    await poll<{ status: string }>("the payout", `/v1/payouts/${payout.body.id}`, (v) => v.status === "paid");
    const transfer = await post<{ id: string }>("/v1/transfers", { to: b.address, amount: "1000", currency: "CNY", reference: "frozen-1" });
    expect(transfer.status).to.equal(202);
    await poll<{ status: string }>("the transfer", `/v1/transfers/${transfer.body.id}`, (v) => v.status === "executed");
    expect(await tokenBalance(a.address)).to.equal(12_900n);
    expect(await tokenBalance(b.address)).to.equal(990n);
    expect((await post(`/v1/payments/${order.id}/authorization`, { signature })).status).to.equal(202);
    toRelease = await poll<PaymentView>("the payment to be held", `/v1/payments/${order.id}`, (v) => v.status === "held");
  });

  it("auto-releases a fulfilled payment once its auto-release time has passed in chain time, exactly once (payment.released)", async function () {
    const keeper = gw.app.releaseKeeper;
    if (!keeper) throw new Error("no keeper");
    expect((await post(`/v1/payments/${toRelease.id}/fulfilment`)).status).to.equal(202);
    const fulfilled = await waitFor("the order to be fulfilled", async () => {
      const o = await stored(toRelease.id);
      return o.status === "fulfilled" && o.onChain ? o : undefined;
    }, 60_000);
    const releaseAt = fulfilled.onChain?.deadline ?? 0;
    const releaseId = keeper.releaseIdOf(fulfilled);

    // Not due yet in chain time: the keeper sends nothing.
    expect(releaseAt).to.be.greaterThan(await chainTime());
    expect((await keeper.runOnce()).submitted).to.deep.equal([]);
    expect((await getJson(`${node0.apiUrl}/v1/operations/${releaseId}`)).status).to.equal(404);

    const before = await tokenBalance(a.address);
    await mineAt(releaseAt);
    const released = await waitFor("the keeper's release to execute", async () => {
      const o = await stored(toRelease.id);
      return o.status === "released" && o.autoRelease?.status === "executed" ? o : undefined;
    }, 60_000, 250);
    expect(released.autoRelease?.operationId.toLowerCase()).to.equal(releaseId.toLowerCase());
    const op = await getJson<{ kind: string; status: string; origin: string }>(`${node0.apiUrl}/v1/operations/${releaseId}`);
    expect([op.body.kind, op.body.status, op.body.origin]).to.deep.equal(["release", "executed", "api"]);
    expect((await tokenBalance(a.address)) - before).to.equal(9_900n);

    // Once: another run sends nothing, and there is one release on-chain and one event.
    expect((await keeper.runOnce()).submitted).to.deep.equal([]);
    const escrow = net.scenario.contracts.escrow;
    expect(await escrow.queryFilter(escrow.filters.PaymentReleased(toRelease.paymentId))).to.have.length(1);
    await waitFor("payment.released", async () => (await events("payment.released", toRelease.id)).length === 1);
    expect(await events("payment.released", toRelease.id)).to.have.length(1);
    const view = await get<{ autoRelease: { status: string } | null }>(`/v1/payments/${toRelease.id}`);
    expect(view.body.autoRelease?.status).to.equal("executed");
  });

  it("lets the payer reclaim a payment the merchant never fulfilled, only after the fulfilment period in chain time (payment.reclaimed)", async function () {
    const held = await paidOrder("reclaim-1", 1, { amount: "4000", fulfilmentPeriod: 120 });
    const notDue = await get<Problem>(`/v1/payments/${held.id}/reclaim`);
    expect([notDue.status, notDue.body.code]).to.deep.equal([409, "RECLAIM_NOT_DUE"]);
    const released = await get<Problem>(`/v1/payments/${toRelease.id}/reclaim`);
    expect([released.status, released.body.code]).to.deep.equal([409, "INVALID_PAYMENT_STATUS"]);

    const fulfilBy = (await stored(held.id)).onChain?.deadline ?? 0;
    await mineAt(fulfilBy + 1);
    const payload = await get<Payload>(`/v1/payments/${held.id}/reclaim`);
    expect(payload.status).to.equal(200);
    expect(payload.body.typedData.primaryType).to.equal("Reclaim");
    const { typedData, nonce, deadline } = payload.body;

    const before = await tokenBalance(payer(1).address);
    const forged = await post<Problem>(`/v1/payments/${held.id}/reclaim`, { nonce, deadline, signature: await payer(0).signTypedData(typedData.domain, typedData.types, typedData.message) });
    expect([forged.status, forged.body.code]).to.deep.equal([422, "BAD_SIGNATURE"]);
    expect((await stored(held.id)).status).to.equal("held");
    expect(await gw.storage.money.payerActionsOf(held.id)).to.have.length(0);

    const signature = await payer(1).signTypedData(typedData.domain, typedData.types, typedData.message);
    const reclaimed = await post<{ action: { action: string; status: string } }>(`/v1/payments/${held.id}/reclaim`, { nonce, deadline, signature });
    expect(reclaimed.status).to.equal(202);
    expect(reclaimed.body.action.action).to.equal("reclaim");
    await poll<PaymentView>("the reclaim", `/v1/payments/${held.id}`, (v) => v.status === "reclaimed");
    expect((await net.scenario.contracts.escrow.paymentOf(held.paymentId)).status).to.equal(7n);
    expect((await tokenBalance(payer(1).address)) - before).to.equal(4_000n);
    await waitFor("payment.reclaimed", async () => (await events("payment.reclaimed", held.id)).length === 1);
  });

  it("serves the merchant's statement of a finalized cycle in JSON and CSV, and refuses cycles not closed, not finalized or malformed", async function () {
    // With one of the two institutions down, a closed cycle gathers too few attestations to finalize.
    await node1.stop();
    await mineAt(Math.ceil(((await chainTime()) + 1) / CYCLE) * CYCLE);
    const direct = await paidOrder("statement-1", 0, { mode: "direct", amount: "2000" }, "released");
    const paidAt = await waitFor("node 0 to index the payment", async () => {
      const { body } = await getJson<{ payment: { paidAt: number } | null }>(`${node0.apiUrl}/v1/payments/${direct.paymentId}`);
      return body.payment?.paidAt;
    });
    const cycle = Math.floor(paidAt / CYCLE);

    const open = await get<Problem>(`/v1/statements?cycle=${cycle}`);
    expect([open.status, open.body.code]).to.deep.equal([404, "CYCLE_NOT_FOUND"]);
    await mineAt((cycle + 1) * CYCLE);
    await waitFor("node 0 to close the cycle", async () => (await getJson(`${node0.apiUrl}/v1/cycles/${cycle}`)).status === 200, 60_000);
    const pending = await get<Problem>(`/v1/statements?cycle=${cycle}`);
    expect([pending.status, pending.body.code]).to.deep.equal([409, "CYCLE_NOT_FINALIZED"]);

    await node1.start();
    await waitFor("the cycle to be finalized", async () => net.scenario.contracts.ledger.isFinalized(BigInt(cycle)), 90_000, 500);
    const statement = await waitFor("the finalized statement", async () => {
      const res = await get<{ cycleId: string; party: { account: string }; cycle: { finalized: boolean }; records: { kindName: string; amount: string }[]; totals: Record<string, unknown>[] }>(
        `/v1/statements?cycle=${cycle}`,
      );
      return res.status === 200 ? res.body : undefined;
    }, 60_000, 500);
    expect(statement.cycleId).to.equal(String(cycle));
    expect(statement.party.account).to.equal(a.address);
    expect(statement.cycle.finalized).to.equal(true);
    expect(statement.records.filter((r) => r.kindName === "directPayment").map((r) => r.amount)).to.deep.equal(["2000"]);
    const token = await net.scenario.token.getAddress();
    expect(statement.totals).to.deep.equal([{ token, gross: "2000", fee: "20", net: "1980", refunded: "0", reclaimed: "0", payments: 1, deposits: "0", payouts: "0" }]);

    const csv = await gw.app.inject({ method: "GET", url: `/v1/statements?cycle=${cycle}&format=csv`, headers: signRequest({ keyId: a.keyId, secret: a.secret, method: "GET", path: `/v1/statements?cycle=${cycle}&format=csv` }) });
    expect(csv.statusCode).to.equal(200);
    expect(csv.headers["content-type"]).to.match(/^text\/csv/);
    const lines = csv.body.trim().split("\n");
    expect(lines[0]).to.equal("cycle_id,section,kind,record_id,account,counterparty,token,amount,fee,net,refunded,reclaimed,payments");
    expect(lines.filter((l) => l.includes(",record,directPayment,"))).to.have.length(1);
    expect(lines.at(-1)).to.equal(`${cycle},total,merchant,,${a.address},,${token},2000,20,1980,0,0,1`);

    // Another merchant sees only its own statement of the same cycle.
    const other = await get<{ party: { account: string }; totals: unknown[]; records: unknown[] }>(`/v1/statements?cycle=${cycle}`, b);
    expect([other.body.party.account, other.body.totals.length, other.body.records.length]).to.deep.equal([b.address, 0, 0]);

    const future = await get<Problem>(`/v1/statements?cycle=${cycle + 1_000_000}`);
    expect([future.status, future.body.code]).to.deep.equal([404, "CYCLE_NOT_FOUND"]);
    for (const query of ["", "?cycle=abc", "?cycle=-1", `?cycle=${cycle}&format=xml`, `?cycle=${cycle}&merchant=${b.address}`]) {
      const bad = await get<Problem>(`/v1/statements${query}`);
      expect([bad.status, bad.body.code], query).to.deep.equal([400, "MALFORMED"]);
    }
  });

});
