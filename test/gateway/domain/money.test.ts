/**
 * MoneyService without HTTP and without the money tick: built straight from the gateway's parts
 * (LevelDB in a temp dir, the chain, one institution node process running the custodian service, the
 * bank simulator over HTTP and a permit relayer; no custodian key), with the test advancing payouts
 * and top-ups itself. What it
 * stores, relays and refuses is checked on the records, the chain and the bank.
 */
import { expect } from "chai";
import { keccak256, toUtf8Bytes, type HDNodeWallet, type Wallet } from "ethers";
import { pino } from "pino";

import type { GatewayMoneyModules } from "../../../gateway/options.js";
import { MerchantAllowances } from "../../../gateway/domain/allowances.js";
import { MoneyService } from "../../../gateway/domain/money.js";
import type { PayoutRecord, TopupRecord } from "../../../gateway/domain/money-types.js";
import type { MerchantRecord, OrderRecord } from "../../../gateway/domain/records.js";
import { refusalOf } from "../../helpers/errors.js";
import { launchCustodianNetwork, type CustodianNetwork } from "../../helpers/custodian.js";
import { getJson, waitFor, type NodeHandle, type TestNetwork } from "../../helpers/network.js";
import { gatewayStore, moneyModules, nodeAndChain, type BankSimulatorHandle, type GatewayStore } from "../parts.js";

describe("gateway domain: MoneyService on real storage, chain, node and bank (no HTTP)", function () {
  this.timeout(180_000);
  let custody: CustodianNetwork;
  let net: TestNetwork;
  let bank: BankSimulatorHandle;
  let store: GatewayStore;
  let parts: ReturnType<typeof nodeAndChain>;
  let modules: GatewayMoneyModules;
  let money: MoneyService;
  let a: MerchantRecord;
  let b: MerchantRecord;
  let payer: Wallet | HDNodeWallet;

  before(async function () {
    custody = await launchCustodianNetwork({ institutions: 1, regulator: false, merchants: 2, payers: 1, bankLatencyMs: { min: 200, max: 400 } });
    ({ net, bank } = custody);
    const node = net.nodes[0] as NodeHandle;
    store = await gatewayStore(net.scenario);
    parts = nodeAndChain(net.scenario, node.apiUrl);
    modules = moneyModules(net.scenario, bank.url)();
    money = service(modules);
    [a, b] = [await store.merchant(0), await store.merchant(1)];
    [payer] = net.scenario.payers as [Wallet];
  });

  after(async function () {
    await money?.idle();
    await modules?.chain.close();
    await parts?.close();
    await store?.close();
    await custody?.close();
  });

  function service(given: Partial<GatewayMoneyModules> & Pick<GatewayMoneyModules, "chain">): MoneyService {
    const allowances = new MerchantAllowances({ deployment: net.scenario.deployment }, { money: given.chain, secrets: store.secrets });
    return new MoneyService(
      { deployment: net.scenario.deployment, operationDeadlineSeconds: 3_600 },
      {
        storage: store.storage,
        secrets: store.secrets,
        node: parts.node,
        chain: parts.chain,
        money: given.chain,
        allowances,
        bank: given.bank,
        logger: pino({ level: "silent" }),
      },
    );
  }

  const tokens = (address: string) => net.scenario.token.balanceOf(address);
  const line = async (merchant: MerchantRecord) => {
    const found = (await money.balance(merchant)).find((l) => l.currency === "CNY");
    if (!found) throw new Error("no CNY line");
    return found;
  };
  /** Advances `kind` `id` (as the money tick would) until `done` holds. */
  const advanceUntil = <R extends PayoutRecord | TopupRecord>(kind: "payout" | "topup", id: string, done: (r: R) => boolean) =>
    waitFor(`${kind} ${id}`, async () => {
      const record = (await money.advance(kind, id)) as R;
      return done(record) ? record : undefined;
    }, 60_000, 200);
  const eventsOf = async (merchant: MerchantRecord) => (await store.storage.webhooks.listEvents(merchant.id, { limit: 100 })).items.map((e) => [e.type, e.data["id"]]).reverse();

  it("tops up: asks the bank first; the custodian service mints once the bank confirmed, and the gateway follows it through the node", async function () {
    const created = await money.createTopup(a, { amount: "5000", currency: "CNY", account: "merchant-0" });
    expect([created.stage, created.mint, created.bank?.status]).to.deep.equal(["awaiting_bank", undefined, "pending"]);
    expect((await line(a)).pendingTopups).to.equal(5_000n);
    expect(await tokens(a.address)).to.equal(0n);

    const done = await advanceUntil<TopupRecord>("topup", created.id, (r) => r.stage === "completed");
    expect([done.bank?.status, done.mint?.status, done.mint?.op, done.mintAttempts]).to.deep.equal(["confirmed", "executed", undefined, 1]);
    expect(await tokens(a.address)).to.equal(5_000n);
    const minted = await net.scenario.token.queryFilter(net.scenario.token.filters.Minted());
    expect(minted.filter((e) => e.args.bankRef === keccak256(toUtf8Bytes(done.bank?.bankRef ?? ""))).map((e) => e.args.amount)).to.deep.equal([5_000n]);
    expect(await store.storage.money.open("topup")).to.deep.equal([]);
    expect(await line(a)).to.include({ available: 5_000n, pendingTopups: 0n });
    // topup.completed joins the completion's batch; advanced again, nothing more happens.
    expect(await eventsOf(a)).to.deep.equal([["topup.completed", created.id]]);
    expect((await money.advance("topup", created.id)).stage).to.equal("completed");
    expect(await eventsOf(a)).to.deep.equal([["topup.completed", created.id]]);
  });

  it("pays out: refuses another account and more than the balance; the merchant redeems with its own key, then the bank pays once, and payout.paid joins the payout's batch", async function () {
    expect((await refusalOf(money.createPayout(a, { amount: "100", currency: "CNY", account: "SOMEONE-ELSE" }))).code).to.equal("PAYOUT_ACCOUNT_MISMATCH");
    const tooMuch = await refusalOf(money.createPayout(a, { amount: "5001", currency: "CNY", account: "merchant-0" }));
    expect([tooMuch.code, tooMuch.meta["available"]]).to.deep.equal(["INSUFFICIENT_BALANCE", "5000"]);
    expect((await money.listPayouts(a, { limit: 10 })).items).to.deep.equal([]);

    const created = await money.createPayout(a, { amount: "3000", currency: "CNY", account: "merchant-0" });
    expect(["burning", "paying"]).to.include(created.stage);
    const paid = await advanceUntil<PayoutRecord>("payout", created.id, (r) => r.stage === "paid");
    expect([paid.burn.status, paid.bank?.status, paid.reversed]).to.deep.equal(["executed", "confirmed", false]);
    expect(await tokens(a.address)).to.equal(2_000n);
    // Signed by the merchant's own key, for its own balance: no allowance to the custodian was given or used.
    const custodian = net.scenario.institutions[0]?.address ?? "";
    expect(paid.burn.op).to.include({ kind: "redeem", holder: a.address, custodian });
    const redeemed = await net.scenario.token.queryFilter(net.scenario.token.filters.Redeemed(a.address, undefined, undefined, keccak256(toUtf8Bytes(created.id))));
    expect(redeemed.map((e) => e.args.amount)).to.deep.equal([3_000n]);
    expect(await net.scenario.token.allowance(a.address, custodian)).to.equal(0n);
    // Advanced again, as after a restart: the bank still made one transfer for it.
    expect((await money.advance("payout", created.id)).stage).to.equal("paid");
    const transfers = await getJson<{ transfers: { reference: string }[] }>(`${bank.url}/v1/transfers?limit=500`);
    expect(transfers.body.transfers.filter((t) => t.reference === created.id)).to.have.length(1);
    const account = await getJson<{ balances: { paidOut: string }[] }>(`${bank.url}/v1/accounts/merchant-0`);
    expect(account.body.balances[0]?.paidOut).to.equal("3000");
    expect((await eventsOf(a)).filter(([type]) => String(type).startsWith("payout."))).to.deep.equal([["payout.paid", created.id]]);
    expect((await money.getPayout(a, created.id)).stage).to.equal("paid");
    expect((await refusalOf(money.getPayout(b, created.id))).code).to.equal("PAYOUT_NOT_FOUND");
  });

  it("never pays a payout whose redemption fails on-chain: it ends failed with payout.failed, the balance untouched and the bank never asked", async function () {
    const token = net.scenario.token.connect(net.scenario.admin) as typeof net.scenario.token;
    await (await token.pause()).wait();
    try {
      const created = await money.createPayout(a, { amount: "500", currency: "CNY", account: "merchant-0" });
      const failed = await advanceUntil<PayoutRecord>("payout", created.id, (r) => r.stage === "failed");
      expect([failed.burn.status, failed.burn.error?.code, failed.bank, failed.reversed]).to.deep.equal(["failed", "EnforcedPause", undefined, false]);
      expect(failed.failure?.code).to.equal("EnforcedPause");
      const transfers = await getJson<{ transfers: { reference: string }[] }>(`${bank.url}/v1/transfers?limit=500`);
      expect(transfers.body.transfers.filter((t) => t.reference === created.id)).to.deep.equal([]);
      expect((await eventsOf(a)).at(-1)).to.deep.equal(["payout.failed", created.id]);
      expect(await store.storage.money.open("payout")).to.deep.equal([]);
    } finally {
      await (await token.unpause()).wait();
    }
    expect(await tokens(a.address)).to.equal(2_000n);
  });

  it("transfers to another merchant as a direct escrow payment less the recipient's fee; the same reference is the same transfer", async function () {
    const input = { to: b.address, amount: "1000", currency: "CNY", reference: "settle-1" };
    const { created, record } = await money.createTransfer(a, input);
    expect([created, record.feeBps, record.operation.status, record.paymentId]).to.deep.equal([true, 100, "pending", record.operation.operationId]);
    const executed = await waitFor("the transfer", async () => {
      const current = await money.getTransfer(a, record.id);
      return current.operation.status === "executed" ? current : undefined;
    }, 60_000, 200);
    expect(executed.id).to.equal(record.id);
    expect(await tokens(b.address)).to.equal(990n);
    expect(await tokens(a.address)).to.equal(1_000n);

    const again = await money.createTransfer(a, input);
    expect([again.created, again.record.id]).to.deep.equal([false, record.id]);
    expect((await refusalOf(money.createTransfer(a, { ...input, amount: "1" }))).code).to.equal("TRANSFER_REFERENCE_CONFLICT");
    expect((await refusalOf(money.createTransfer(a, { ...input, to: payer.address, reference: "settle-2" }))).code).to.equal("RECIPIENT_NOT_MERCHANT");
    expect((await refusalOf(money.createTransfer(a, { ...input, to: a.address, reference: "settle-3" }))).code).to.equal("RECIPIENT_NOT_MERCHANT");
    expect((await refusalOf(money.getTransfer(b, record.id))).code).to.equal("TRANSFER_NOT_FOUND");
    expect(await tokens(a.address)).to.equal(1_000n);
  });

  it("counts what the merchant's payments still hold in escrow, less refunds", async function () {
    const base = (await store.storage.orders.list(a.id, { limit: 1, status: "held" })).items.length;
    expect(base).to.equal(0);
    const now = Date.now();
    const order = (id: string, status: OrderRecord["status"], amount: string, refunded: string): OrderRecord => ({
      id,
      merchantId: a.id,
      merchantOrderId: id,
      requestHash: "h",
      status,
      amount,
      currency: "CNY",
      description: null,
      mode: "escrow",
      terms: { token: net.scenario.deployment.tokens["CNY"]?.address ?? "" } as OrderRecord["terms"],
      paymentId: keccak256(toUtf8Bytes(id)),
      createdAtMs: now,
      updatedAtMs: now,
      expiresAtMs: now,
      refunds: [],
      onChain: { status, amount, refunded, deadline: 0 },
    });
    for (const stored of [order("pay_held", "held", "1234", "234"), order("pay_disputed", "disputed", "4000", "0"), order("pay_released", "released", "999", "0")]) {
      await store.storage.orders.create(stored);
    }
    expect(await line(a)).to.include({ available: 1_000n, heldInEscrow: 5_000n, pendingPayouts: 0n, pendingTopups: 0n });
  });

  it("without a bank, refuses payouts and top-ups with MONEY_NOT_CONFIGURED and stores nothing", async function () {
    const bare = service({ chain: modules.chain });
    for (const attempt of [
      () => bare.createPayout(a, { amount: "1", currency: "CNY", account: "merchant-0" }),
      () => bare.createTopup(a, { amount: "1", currency: "CNY", account: "merchant-0" }),
    ]) {
      expect((await refusalOf(attempt())).code).to.equal("MONEY_NOT_CONFIGURED");
    }
    expect(await store.storage.money.open("payout")).to.deep.equal([]);
    expect(await store.storage.money.open("topup")).to.deep.equal([]);
    expect((await bare.balance(a)).map((l) => l.available)).to.deep.equal([1_000n]);
  });
});
