/**
 * Payer actions and money movement on real parts: a chain, one institution node process running the
 * custodian service (node/custodian/) with its own custodian key, the bank simulator over HTTP with its
 * own LevelDB, and the gateway (LevelDB in a temp dir) with a permit relayer and no custodian key.
 * Requests are signed as a merchant would sign them.
 */
import { expect } from "chai";
import { MaxUint256, keccak256, toUtf8Bytes, type HDNodeWallet, type Wallet } from "ethers";

import { chainBankRef, reversalBankRef } from "../../../core/bank/references.js";
import { launchCustodianNetwork, type CustodianNetwork } from "../../helpers/custodian.js";
import { getJson, nodeApi, waitFor, type TestNetwork } from "../../helpers/network.js";
import { signEscrowOperation } from "../../../core/operations/index.js";
import { gatewayFixture, merchantRequests, moneyModules, signedInject, type BankSimulatorHandle, type GatewayFixture, type TestMerchant } from "../fixture.js";

interface TypedData {
  domain: Record<string, unknown>;
  types: Record<string, { name: string; type: string }[]>;
  message: Record<string, unknown>;
}
interface PaymentView {
  id: string;
  status: string;
  paymentId: string;
  typedData: TypedData | null;
  fulfilment: { status: string } | null;
  refunds: { status: string; amount: string }[];
  refundedAmount: string;
}
interface Payload {
  nonce: string;
  deadline: string;
  reasonHash: string | null;
  typedData: TypedData;
}
interface Payout {
  id: string;
  status: string;
  stage: string;
  reversed: boolean;
  burn: { operationId: string; status: string };
  bank: { bankRef: string; status: string; reason?: string } | null;
  reversal: { status: string } | null;
  failure: { code: string } | null;
}
interface Topup {
  id: string;
  status: string;
  stage: string;
  bank: { bankRef: string; status: string } | null;
  mint: { status: string } | null;
  failure: { code: string } | null;
}
interface Balance {
  balances: { currency: string; available: string; heldInEscrow: string; pendingPayouts: string; pendingTopups: string }[];
}

describe("gateway: payer actions and money movement (node, chain and bank simulator)", function () {
  this.timeout(180_000);
  let custody: CustodianNetwork;
  let net: TestNetwork;
  let gw: GatewayFixture;
  let bank: BankSimulatorHandle;
  let a: TestMerchant;
  let b: TestMerchant;
  let payer: Wallet | HDNodeWallet;
  let other: Wallet | HDNodeWallet;

  before(async function () {
    // Two mint attempts of 5 s each before the custodian gives up on a transfer. The custodian's
    // machine clock runs 5 minutes ahead of the chain: its deadlines, and the node's judgement of
    // them, go by chain time all the same.
    custody = await launchCustodianNetwork({
      institutions: 1,
      regulator: false,
      merchants: 2,
      payers: 2,
      bankLatencyMs: { min: 1_500, max: 2_000 },
      custodian: { maxMintAttempts: 2, mintDeadlineSeconds: 5 },
      nodeEnv: { "institution-0": { SETTLENET_CLOCK_OFFSET_MS: String(5 * 60_000) } },
    });
    ({ net, bank } = custody);
    const node = net.nodes[0];
    if (!node) throw new Error("network incomplete");
    gw = await gatewayFixture({
      scenario: net.scenario,
      nodeUrl: node.apiUrl,
      app: { moneyTickMs: 200, topups: { maxAmount: 50_000_000n, dailyMaxAmount: 60_000_000n } },
      money: moneyModules(net.scenario, bank.url) });
    [a, b] = gw.merchants as [TestMerchant, TestMerchant];
    [payer, other] = net.scenario.payers as [Wallet, Wallet];
  });

  after(async function () {
    await gw?.close();
    await custody?.close();
  });

  const requests = merchantRequests(() => gw, () => a);
  const { get, post, poll } = requests;
  const tokenBalance = (address: string) => net.scenario.token.balanceOf(address);
  const balanceOf = async (as: TestMerchant = a) => {
    const res = await get<Balance>("/v1/balance", as);
    expect(res.status).to.equal(200);
    const line = res.body.balances.find((l) => l.currency === "CNY");
    if (!line) throw new Error("no CNY line");
    return line;
  };

  /** Creates an order, has the payer sign it and waits until it is held. */
  function heldPayment(orderId: string, amount = "10000"): Promise<PaymentView> {
    return requests.paidOrder<PaymentView>(payer, orderId, { amount }, "held");
  }

  async function signedAction(id: string, action: "confirm" | "dispute", signer: Wallet | HDNodeWallet, reason?: string) {
    const query = reason ? `?reason=${encodeURIComponent(reason)}` : "";
    const payload = await get<Payload>(`/v1/payments/${id}/${action}${query}`);
    expect(payload.status).to.equal(200);
    const { typedData, nonce, deadline } = payload.body;
    const signature = await signer.signTypedData(typedData.domain, typedData.types, typedData.message);
    return { nonce, deadline, signature, ...(reason ? { reason } : {}) };
  }

  it("has the payer confirm by signed payload; someone else's signature is refused with BAD_SIGNATURE and changes nothing", async function () {
    const held = await heldPayment("confirm-1");
    expect((await post(`/v1/payments/${held.id}/fulfilment`)).status).to.equal(202);
    await poll<PaymentView>("fulfilment", `/v1/payments/${held.id}`, (v) => v.status === "fulfilled");

    const forged = await signedAction(held.id, "confirm", other);
    const refused = await post<{ code: string }>(`/v1/payments/${held.id}/confirm`, forged);
    expect(refused.status).to.equal(422);
    expect(refused.body.code).to.equal("BAD_SIGNATURE");
    const unchanged = await get<PaymentView & { lastError: unknown }>(`/v1/payments/${held.id}`);
    expect(unchanged.body.status).to.equal("fulfilled");
    expect(unchanged.body.lastError).to.equal(null);
    expect((await net.scenario.contracts.escrow.paymentOf(held.paymentId)).status).to.equal(2n);

    const merchantBefore = await tokenBalance(a.address);
    const confirmed = await post<{ action: { status: string; action: string } }>(`/v1/payments/${held.id}/confirm`, await signedAction(held.id, "confirm", payer));
    expect(confirmed.status).to.equal(202);
    expect(confirmed.body.action.action).to.equal("confirm");
    const released = await poll<PaymentView>("release", `/v1/payments/${held.id}`, (v) => v.status === "released");
    expect((await net.scenario.contracts.escrow.paymentOf(released.paymentId)).status).to.equal(4n);
    // 10000 less the merchant's 1% fee.
    expect((await tokenBalance(a.address)) - merchantBefore).to.equal(9_900n);

    const late = await post<{ code: string }>(`/v1/payments/${held.id}/confirm`, forged);
    expect(late.body.code).to.equal("BAD_SIGNATURE");
    const wrongState = await get<{ code: string }>(`/v1/payments/${held.id}/confirm`);
    expect(wrongState.status).to.equal(409);
    expect(wrongState.body.code).to.equal("INVALID_PAYMENT_STATUS");
  });

  it("refunds after release from the merchant's balance (allowance by a relayed permit)", async function () {
    const page = await get<{ items: PaymentView[] }>("/v1/payments?status=released");
    const released = page.body.items[0];
    if (!released) throw new Error("no released payment");
    const payerBefore = await tokenBalance(payer.address);
    const merchantBefore = await tokenBalance(a.address);
    const refund = await post<{ refund: { status: string } }>(`/v1/payments/${released.id}/refunds`, { amount: "2500", reason: "returned after release" });
    expect(refund.status).to.equal(202);
    await poll<PaymentView>("the refund to execute", `/v1/payments/${released.id}`, (v) => v.refunds[0]?.status === "executed" && v.refundedAmount === "2500");
    expect((await tokenBalance(payer.address)) - payerBefore).to.equal(2_500n);
    expect(merchantBefore - (await tokenBalance(a.address))).to.equal(2_500n);
    expect(await net.scenario.token.allowance(a.address, net.scenario.deployment.contracts.escrow)).to.equal((1n << 256n) - 1n);
  });

  it("has the payer dispute by signed payload and lists the dispute with its reason", async function () {
    const held = await heldPayment("dispute-1", "4000");
    const forged = await signedAction(held.id, "dispute", other, "item never arrived");
    const refused = await post<{ code: string }>(`/v1/payments/${held.id}/dispute`, forged);
    expect(refused.body.code).to.equal("BAD_SIGNATURE");
    expect((await get<{ items: unknown[] }>("/v1/disputes")).body.items).to.have.length(0);

    const disputed = await post(`/v1/payments/${held.id}/dispute`, await signedAction(held.id, "dispute", payer, "item never arrived"));
    expect(disputed.status).to.equal(202);
    await poll<PaymentView>("the dispute", `/v1/payments/${held.id}`, (v) => v.status === "disputed");
    expect((await net.scenario.contracts.escrow.paymentOf(held.paymentId)).status).to.equal(3n);
    const list = await get<{ items: { payment: { id: string; status: string }; reason: string; reasonHash: string }[]; nextCursor: string | null }>("/v1/disputes?limit=10");
    expect(list.status).to.equal(200);
    expect(list.body.items.map((d) => [d.payment.id, d.payment.status, d.reason])).to.deep.equal([[held.id, "disputed", "item never arrived"]]);
    expect(list.body.items[0]?.reasonHash).to.equal(keccak256(toUtf8Bytes("item never arrived")));
    // The words went to the node with the signed dispute, so its arbiters read them too (in its dispute
    // queue once its indexer has seen the dispute on-chain, which may come after the gateway's view).
    const queued = await waitFor("the dispute in the node's queue", async () => (await nodeApi(net.nodes[0]!).disputes({ status: "open" })).items.find((d) => d.payment.paymentId === held.paymentId), 60_000);
    expect([queued?.reason, queued?.reasonText]).to.deep.equal([keccak256(toUtf8Bytes("item never arrived")), "item never arrived"]);
    expect((await get<{ items: unknown[] }>("/v1/disputes", b)).body.items).to.have.length(0);
  });

  it("reports the balance exactly: on-chain tokens and amounts held in escrow", async function () {
    await heldPayment("held-1", "1234");
    const line = await balanceOf();
    expect(line.available).to.equal((await tokenBalance(a.address)).toString());
    expect(line.available).to.equal("7400"); // 9900 released less the 2500 refund
    expect(line.heldInEscrow).to.equal("5234"); // the disputed 4000 and the held 1234
    expect(line.pendingPayouts).to.equal("0");
    expect(line.pendingTopups).to.equal("0");
  });

  it("transfers to another merchant as a direct escrow payment, less the recipient's fee", async function () {
    const before = await tokenBalance(b.address);
    const body = { to: b.address, amount: "1000", currency: "CNY", reference: "settle-42" };
    const created = await post<{ id: string; status: string; fee: string; netAmount: string }>("/v1/transfers", body);
    expect(created.status).to.equal(202);
    expect([created.body.fee, created.body.netAmount]).to.deep.equal(["10", "990"]);
    await poll<{ status: string }>("the transfer", `/v1/transfers/${created.body.id}`, (v) => v.status === "executed");
    expect((await tokenBalance(b.address)) - before).to.equal(990n);
    expect((await balanceOf()).available).to.equal("6400");
    const again = await post<{ id: string }>("/v1/transfers", body);
    expect(again.status).to.equal(200);
    expect(again.body.id).to.equal(created.body.id);
    const conflict = await post<{ code: string }>("/v1/transfers", { ...body, amount: "1" });
    expect(conflict.body.code).to.equal("TRANSFER_REFERENCE_CONFLICT");
    const toPayer = await post<{ code: string }>("/v1/transfers", { ...body, to: payer.address, reference: "settle-43" });
    expect(toPayer.body.code).to.equal("RECIPIENT_NOT_MERCHANT");
    expect((await balanceOf()).available).to.equal("6400");
    // The merchant's transfers are listed (the refused ones were never stored); another merchant sees none of them.
    const listed = await get<{ items: { id: string; reference: string; status: string }[]; nextCursor: string | null }>("/v1/transfers?limit=10");
    expect(listed.body.items.map((t) => [t.id, t.reference, t.status])).to.deep.equal([[created.body.id, "settle-42", "executed"]]);
    expect(listed.body.nextCursor).to.equal(null);
    const theirs = await merchantRequests(() => gw, () => b).get<{ items: unknown[] }>("/v1/transfers");
    expect(theirs.body.items).to.deep.equal([]);
  });

  it("tops up: mints only after the bank confirms the deposit", async function () {
    const before = await tokenBalance(a.address);
    // From the merchant's registered bank account (the one payouts go to): no other account may be drawn on.
    const created = await post<Topup>("/v1/topups", { amount: "5000", currency: "CNY", account: "merchant-0" });
    expect(created.status).to.equal(202);
    expect(created.body.stage).to.equal("awaiting_bank");
    expect(created.body.mint).to.equal(null);
    expect((await balanceOf()).pendingTopups).to.equal("5000");
    const bankRef = created.body.bank?.bankRef ?? "";
    expect((await getJson<{ status: string }>(`${bank.url}/v1/transfers/${bankRef}`)).body.status).to.equal("pending");
    expect(await tokenBalance(a.address)).to.equal(before);

    const done = await poll<Topup>("the top-up", `/v1/topups/${created.body.id}`, (v) => v.stage === "completed");
    expect(done.bank?.status).to.equal("confirmed");
    expect((await tokenBalance(a.address)) - before).to.equal(5_000n);
    // Minted by the custodian service beside the node, signed with the custodian key: the gateway holds none.
    const minted = await net.scenario.token.queryFilter(net.scenario.token.filters.Minted());
    expect(minted.filter((e) => e.args.bankRef === keccak256(toUtf8Bytes(bankRef))).map((e) => [e.args.custodian, e.args.to, e.args.amount])).to.deep.equal([[net.scenario.institutions[0]?.address, a.address, 5_000n]]);
    const record = await nodeApi(net.nodes[0]!).custodyTransfer(bankRef);
    expect(record).to.deep.include({ kind: "deposit", status: "minted", attempts: 1, to: a.address, amount: "5000", chainBankRef: chainBankRef(bankRef) });
    const mintOp = await nodeApi(net.nodes[0]!).operation(record?.operationId ?? "");
    expect(mintOp?.op).to.include({ kind: "mint", to: a.address });
    const events = await get<{ items: { type: string; data: { id: string; status: string } }[] }>("/v1/events");
    expect(events.body.items.filter((e) => e.type.startsWith("topup.")).map((e) => [e.type, e.data.id, e.data.status])).to.deep.equal([["topup.completed", created.body.id, "completed"]]);
    const line = await balanceOf();
    expect([line.available, line.pendingTopups]).to.deep.equal(["11400", "0"]);
    const listed = await get<{ items: { id: string; stage: string; amount: string }[] }>("/v1/topups?limit=1");
    expect(listed.body.items.map((t) => [t.id, t.stage, t.amount])).to.deep.equal([[created.body.id, "completed", "5000"]]);
    expect((await merchantRequests(() => gw, () => b).get<{ items: unknown[] }>("/v1/topups")).body.items).to.deep.equal([]);
  });

  it("pays out: the merchant redeems first, then the bank pays; refuses other accounts and more than the balance", async function () {
    const mismatch = await post<{ code: string }>("/v1/payouts", { amount: "100", currency: "CNY", account: "SOMEONE-ELSE" });
    expect(mismatch.body.code).to.equal("PAYOUT_ACCOUNT_MISMATCH");
    const tooMuch = await post<{ code: string }>("/v1/payouts", { amount: "11401", currency: "CNY", account: "merchant-0" });
    expect(tooMuch.body.code).to.equal("INSUFFICIENT_BALANCE");
    expect((await get<{ items: unknown[] }>("/v1/payouts")).body.items).to.have.length(0);

    const created = await post<Payout>("/v1/payouts", { amount: "3000", currency: "CNY", account: "merchant-0" });
    expect(created.status).to.equal(202);
    expect(created.body.status).to.equal("pending");
    const paid = await poll<Payout>("the payout", `/v1/payouts/${created.body.id}`, (v) => v.status === "paid");
    expect(paid.burn.status).to.equal("executed");
    expect(paid.bank?.status).to.equal("confirmed");
    expect(await tokenBalance(a.address)).to.equal(8_400n);
    const account = await getJson<{ balances: { paidOut: string }[] }>(`${bank.url}/v1/accounts/merchant-0`);
    expect(account.body.balances[0]?.paidOut).to.equal("3000");
    const events = await get<{ items: { type: string; data: { id: string } }[] }>("/v1/events");
    expect(events.body.items.filter((e) => e.type.startsWith("payout.")).map((e) => [e.type, e.data.id])).to.deep.equal([["payout.paid", created.body.id]]);
  });

  it("leaves merchants allowing nobody but the escrow contract, after provisioning and a payout: the custodian's transferFrom(merchant → custodian) fails", async function () {
    const { token, deployment } = net.scenario;
    const escrow = deployment.contracts.escrow;
    const custodian = net.scenario.institutions[0];
    if (!custodian) throw new Error("no custodian");
    for (const merchant of gw.merchants) {
      // The money tick gave each merchant its escrow allowance at start (refunds after release, transfers).
      await waitFor(`${merchant.address}'s escrow allowance`, async () => (await token.allowance(merchant.address, escrow)) === MaxUint256);
      const approvals = await token.queryFilter(token.filters.Approval(merchant.address));
      expect([...new Set(approvals.map((e) => e.args.spender))], merchant.address).to.deep.equal([escrow]);
      expect(await token.allowance(merchant.address, custodian.address)).to.equal(0n);
    }
    const asCustodian = token.connect(custodian) as typeof token;
    const refusal = await asCustodian.transferFrom.staticCall(a.address, custodian.address, 1n).then(
      () => undefined,
      (error: { revert?: { name: string } }) => error.revert?.name,
    );
    expect(refusal).to.equal("ERC20InsufficientAllowance");
  });

  it("has the custodian mint back, exactly once, a payout the bank rejects, restoring the balance (payout.failed)", async function () {
    // The custodian's reserve at the bank holds 2000 now (5000 deposited, 3000 paid): 4000 is rejected.
    const created = await post<Payout>("/v1/payouts", { amount: "4000", currency: "CNY", account: "merchant-0" });
    expect(created.status).to.equal(202);
    const failed = await poll<Payout>("the payout to fail", `/v1/payouts/${created.body.id}`, (v) => v.status === "failed");
    expect(failed.reversed).to.equal(true);
    expect(failed.bank?.status).to.equal("rejected");
    expect(failed.bank?.reason).to.equal("insufficient_funds");
    expect(failed.reversal?.status).to.equal("executed");
    expect(failed.failure?.code).to.equal("BANK_REJECTED");
    expect(await tokenBalance(a.address)).to.equal(8_400n);
    const burned = await net.scenario.token.queryFilter(net.scenario.token.filters.Burned());
    expect(burned.filter((e) => e.args.bankRef === keccak256(toUtf8Bytes(created.body.id))).map((e) => e.args.amount)).to.deep.equal([4_000n]);
    const events = await get<{ items: { type: string; data: { id: string; reversed: boolean } }[] }>("/v1/events");
    const failedEvents = events.body.items.filter((e) => e.type === "payout.failed");
    expect(failedEvents.map((e) => [e.data.id, e.data.reversed])).to.deep.equal([[created.body.id, true]]);
    expect((await balanceOf()).pendingPayouts).to.equal("0");
    // The custodian read the rejection from the bank itself and minted the redeemed amount back once.
    const reversal = await nodeApi(net.nodes[0]!).custodyTransfer(failed.bank?.bankRef ?? "");
    expect(reversal).to.deep.include({ kind: "reversal", status: "minted", attempts: 1, to: a.address, amount: "4000" });
    const reMinted = await net.scenario.token.queryFilter(net.scenario.token.filters.Minted(undefined, undefined, undefined, reversalBankRef(created.body.id)));
    expect(reMinted.map((e) => [e.args.to, e.args.amount])).to.deep.equal([[a.address, 4_000n]]);
  });

  it("resumes a payout after a restart in the middle without a second burn or bank transfer", async function () {
    const created = await post<Payout>("/v1/payouts", { amount: "1500", currency: "CNY", account: "merchant-0" });
    expect(created.status).to.equal(202);
    // Restart while the bank has not answered yet.
    await poll<Payout>("the burn", `/v1/payouts/${created.body.id}`, (v) => v.stage === "paying" && v.bank?.status === "pending");
    await gw.restart();
    const paid = await poll<Payout>("the payout after the restart", `/v1/payouts/${created.body.id}`, (v) => v.status === "paid");
    expect(paid.bank?.status).to.equal("confirmed");
    expect(await tokenBalance(a.address)).to.equal(6_900n);
    const burned = await net.scenario.token.queryFilter(net.scenario.token.filters.Burned());
    expect(burned.filter((e) => e.args.bankRef === keccak256(toUtf8Bytes(created.body.id)))).to.have.length(1);
    const feed = await getJson<{ transfers: { reference: string }[] }>(`${bank.url}/v1/transfers?limit=500`);
    expect(feed.body.transfers.filter((t) => t.reference === created.body.id)).to.have.length(1);
    const account = await getJson<{ balances: { paidOut: string }[] }>(`${bank.url}/v1/accounts/merchant-0`);
    expect(account.body.balances[0]?.paidOut).to.equal("4500");
  });

  it("takes top-ups only from the registered account and within the limits; a mint that keeps failing ends failed with topup.failed", async function () {
    const elsewhere = await post<{ code: string }>("/v1/topups", { amount: "100", currency: "CNY", account: "SOMEONE-ELSES-ACCOUNT" });
    expect([elsewhere.status, elsewhere.body.code]).to.deep.equal([422, "TOPUP_ACCOUNT_MISMATCH"]);
    const huge = await post<{ code: string }>("/v1/topups", { amount: "50000001", currency: "CNY", account: "merchant-0" });
    expect([huge.status, huge.body.code]).to.deep.equal([422, "TOPUP_LIMIT_EXCEEDED"]);

    // Above the reserves the custodian attested: the bank confirms the deposit, every mint fails on-chain.
    const before = await tokenBalance(a.address);
    const unbacked = await post<Topup>("/v1/topups", { amount: "20000000", currency: "CNY", account: "merchant-0" });
    expect(unbacked.status).to.equal(202);
    // 5,000 earlier + 20,000,000 pending + 40,000,000 would pass the day's 60,000,000.
    const daily = await post<{ code: string }>("/v1/topups", { amount: "40000000", currency: "CNY", account: "merchant-0" });
    expect([daily.status, daily.body.code]).to.deep.equal([422, "TOPUP_LIMIT_EXCEEDED"]);

    // A failed attempt is replaced only once its deadline has passed in chain time: blocks are mined meanwhile.
    let last: Topup | undefined;
    const failed = await waitFor("the unbacked top-up to fail", async () => {
      await net.scenario.chain.provider.send("evm_mine", []);
      const view = await get<Topup>(`/v1/topups/${unbacked.body.id}`);
      last = view.body;
      return view.body.status === "failed" ? view.body : undefined;
    }, 120_000, 500).catch(async (error: Error) => {
      // What the gateway and the custodian last said, for a failure that happens only under load.
      const record = last?.bank?.bankRef ? await nodeApi(net.nodes[0]!).custodyTransfer(last.bank.bankRef).catch(() => undefined) : undefined;
      const head = await net.scenario.chain.provider.getBlock("latest");
      throw new Error(`${error.message}; top-up ${JSON.stringify(last)}; custody ${JSON.stringify(record)}; head ${head?.number} at ${head?.timestamp}, wall ${Math.floor(Date.now() / 1000)}; logs ${net.dir}`);
    });
    expect(failed.bank?.status).to.equal("confirmed");
    expect(failed.failure?.code).to.equal("MINT_FAILED");
    expect(failed.mint?.status).to.equal("failed");
    expect(await tokenBalance(a.address)).to.equal(before);
    const events = await get<{ items: { type: string; data: { id: string } }[] }>("/v1/events");
    expect(events.body.items.filter((e) => e.type === "topup.failed").map((e) => e.data.id)).to.deep.equal([unbacked.body.id]);
    // The custodian gave up after its two attempts, each refused by the chain above the attested reserves,
    // and raised an alert that the node's alerts API serves (and gossips to regulators).
    const bankRef = failed.bank?.bankRef ?? "";
    const record = await nodeApi(net.nodes[0]!).custodyTransfer(bankRef);
    expect(record).to.deep.include({ status: "failed", attempts: 2 });
    expect(record?.failure?.message).to.include("ReservesExceeded");
    const alerts = await nodeApi(net.nodes[0]!).alerts({ rule: "CUSTODY_MINT_FAILED" });
    expect(alerts.items.map((x) => [x.account, x.amount, x.facts["bankRef"], x.facts["attempts"]])).to.deep.equal([[a.address, "20000000", bankRef, "2"]]);
    // Failed is final: no more mints are signed for it.
    const stored = await gw.storage.money.get("topup", unbacked.body.id);
    expect(stored?.mintAttempts).to.equal(2);
    await net.scenario.chain.provider.send("evm_mine", []);
    await gw.app.money?.advance("topup", unbacked.body.id);
    expect((await nodeApi(net.nodes[0]!).custodyTransfer(bankRef))?.attempts).to.equal(2);
    expect((await gw.storage.money.get("topup", unbacked.body.id))?.mintAttempts).to.equal(2);
  });

  it("adds the merchant's signed notes to its open dispute (Idempotency-Key replays), shows them in the disputes list and at the node, and refuses another merchant's payment, an undisputed one and a resolved one with their codes", async function () {
    type Note = { object: string; id: string; text: string; evidence: string[]; createdAt: string };
    const disputes = await get<{ items: { payment: { id: string; paymentId: string }; notes: Note[] }[] }>("/v1/disputes?status=disputed");
    const dispute = disputes.body.items[0];
    if (!dispute) throw new Error("no open dispute");
    const { id, paymentId } = dispute.payment;
    expect(dispute.notes).to.deep.equal([]);
    const path = `/v1/disputes/${id}/notes`;
    const body = { text: "Shipped on 3 Dec; <b>signed for</b> by the payer.", evidence: ["SF1234567890"] };

    const first = await signedInject<Note>(gw.app, a, "POST", path, body, { idempotencyKey: "note-1" });
    expect(first.status, JSON.stringify(first.body)).to.equal(201);
    expect([first.body.object, first.body.text, first.body.evidence]).to.deep.equal(["dispute_note", body.text, body.evidence]);
    const replay = await signedInject<Note>(gw.app, a, "POST", path, body, { idempotencyKey: "note-1" });
    expect([replay.status, replay.body]).to.deep.equal([201, first.body]);
    const reused = await signedInject<{ code: string }>(gw.app, a, "POST", path, { text: "something else" }, { idempotencyKey: "note-1" });
    expect([reused.status, reused.body.code]).to.deep.equal([422, "IDEMPOTENCY_KEY_REUSED"]);
    const unkeyed = await signedInject<{ code: string }>(gw.app, a, "POST", path, body, { idempotencyKey: null });
    expect(unkeyed.body.code).to.equal("IDEMPOTENCY_KEY_REQUIRED");

    // Another merchant's payment is as good as missing; bad text is refused before anything is signed.
    const foreign = await post<{ code: string }>(path, body, b);
    expect([foreign.status, foreign.body.code]).to.deep.equal([404, "PAYMENT_NOT_FOUND"]);
    for (const bad of [{ text: "x".repeat(2001) }, { text: "   " }, { text: "bell\u0007" }, { text: "ok", evidence: ["a", "b", "c", "d", "e", "f"] }, { text: "ok", html: "<b>" }]) {
      const refused = await post<{ code: string }>(path, bad);
      expect([refused.status, refused.body.code], JSON.stringify(bad)).to.deep.equal([400, "MALFORMED"]);
    }
    const released = (await get<{ items: { id: string }[] }>("/v1/payments?status=released")).body.items[0];
    if (!released) throw new Error("no released payment");
    const undisputed = await post<{ code: string }>(`/v1/disputes/${released.id}/notes`, body);
    expect([undisputed.status, undisputed.body.code]).to.deep.equal([409, "PAYMENT_NOT_DISPUTED"]);

    const listed = await get<{ items: { payment: { id: string }; notes: Note[] }[] }>("/v1/disputes?status=disputed");
    expect(listed.body.items.find((d) => d.payment.id === id)?.notes).to.deep.equal([first.body]);
    expect((await get<{ items: Note[] }>(path)).body.items).to.deep.equal([first.body]);
    expect((await get<{ code: string }>(path, b)).body.code).to.equal("PAYMENT_NOT_FOUND");
    const node = net.nodes[0];
    if (!node) throw new Error("no node");
    const atNode = await nodeApi(node).disputeNotes(paymentId);
    expect(atNode.map((n) => [n.id, n.text, n.merchant])).to.deep.equal([[first.body.id, body.text, a.address.toLowerCase()]]);

    // An arbiter decides: the dispute takes no more notes.
    const s = net.scenario;
    const view = await nodeApi(node).payment(paymentId);
    const pay = view?.operations.find((o) => o.kind === "pay")?.op;
    if (!pay || !("terms" in pay)) throw new Error("no pay operation at the node");
    const terms = pay.terms;
    const now = (await net.chain.provider.getBlock("latest"))?.timestamp ?? 0;
    const resolve = await signEscrowOperation(
      s.arbiter,
      { kind: "resolve", terms, payerAmount: "1000", reason: keccak256(toUtf8Bytes("split")), nonce: "77", deadline: String(now + 3_600) },
      { chainId: BigInt(s.deployment.chainId), escrow: s.deployment.contracts.escrow },
    );
    const resolved = await nodeApi(node).submit(resolve);
    if (!resolved.accepted) throw new Error(`resolve refused: ${resolved.problem.code}`);
    await poll<PaymentView>("the resolution", `/v1/payments/${id}`, (v) => v.status === "resolved");
    const late = await post<{ code: string }>(path, { text: "one more thing" });
    expect([late.status, late.body.code]).to.deep.equal([409, "DISPUTE_RESOLVED"]);
    expect((await get<{ items: Note[] }>(path)).body.items).to.deep.equal([first.body]);
  });
});
