/**
 * A payout the bank never confirms, on real parts: a chain, one institution node process running the
 * custodian service, the bank simulator over HTTP and the gateway. The merchant tops up while the bank
 * answers in a fraction of a second; then the bank restarts answering new transfers only after a day,
 * so the payout's redemption executes and the bank's confirmation never comes: past the gateway's
 * threshold (1 s here) the payout is overdue in the merchant's view, and the gateway raises one alert.
 */
import { expect } from "chai";

import { ChainRedemptions } from "../../../bank-sim/redemptions.js";
import { launchCustodianNetwork, type CustodianNetwork } from "../../helpers/custodian.js";
import { waitFor, type NodeHandle } from "../../helpers/network.js";
import { gatewayFixture, merchantRequests, moneyModules, startBankSimulator, type BankSimulatorHandle, type GatewayFixture, type TestMerchant } from "../fixture.js";

interface MoneyView {
  id: string;
  stage: string;
  bank: { bankRef: string; status: string } | null;
  overdue?: boolean;
}

const DAY_MS = 86_400_000;

describe("gateway overdue alerts: a payout the bank never confirms", function () {
  this.timeout(240_000);
  let custody: CustodianNetwork;
  let gw: GatewayFixture;
  let slowBank: BankSimulatorHandle | undefined;
  let redemptions: ChainRedemptions | undefined;
  let merchant: TestMerchant;

  before(async function () {
    custody = await launchCustodianNetwork({ institutions: 1, regulator: false, merchants: 1, payers: 1, bankLatencyMs: { min: 200, max: 400 } });
    const node = custody.net.nodes[0] as NodeHandle;
    gw = await gatewayFixture({
      scenario: custody.net.scenario,
      nodeUrl: node.apiUrl,
      app: { moneyTickMs: 200, overdue: { checkIntervalMs: 100, payoutSeconds: 1, topupSeconds: 3_600, webhookSeconds: 3_600 } },
      money: moneyModules(custody.net.scenario, custody.bank.url),
    });
    [merchant] = gw.merchants as [TestMerchant];
  });

  after(async function () {
    await gw?.close();
    await slowBank?.stop();
    redemptions?.close();
    await custody?.close();
  });

  const requests = merchantRequests(() => gw, () => merchant);
  /** A gauge or counter of the gateway's metrics, by kind. */
  const metric = async (name: string, kind: string) => {
    const line = (await gw.metrics()).split("\n").find((l) => l.startsWith(`${name}{kind="${kind}"}`));
    return Number(line?.split(" ").at(-1));
  };

  it("flags the payout overdue past the threshold and raises one alert for it", async function () {
    const topup = await requests.post<MoneyView>("/v1/topups", { amount: "5000", currency: "CNY", account: "merchant-0" });
    expect(topup.status).to.equal(202);
    const completed = await requests.poll<MoneyView>("the top-up", `/v1/topups/${topup.body.id}`, (v) => v.stage === "completed");
    expect(completed.overdue).to.equal(false);

    // The bank restarts on the same address and data, now answering new transfers after a day.
    const { bank } = custody;
    const port = Number(new URL(bank.url).port);
    await bank.stop();
    const { scenario } = custody.net;
    redemptions = ChainRedemptions.connect(scenario.chain.url, BigInt(scenario.deployment.chainId), { deployment: scenario.deployment, confirmations: 0 });
    slowBank = await startBankSimulator(custody.bankDir, { latencyMs: { min: DAY_MS, max: DAY_MS }, failureRate: 0 }, port, redemptions);

    const created = await requests.post<MoneyView>("/v1/payouts", { amount: "3000", currency: "CNY", account: "merchant-0" });
    expect(created.status).to.equal(202);
    const id = created.body.id;
    // Redeemed on-chain and asked of the bank, which keeps it pending.
    const overdue = await requests.poll<MoneyView>("the payout overdue", `/v1/payouts/${id}`, (v) => v.overdue === true);
    expect([overdue.stage, overdue.bank?.status]).to.deep.equal(["paying", "pending"]);
    await waitFor("the gateway's alert", async () => (await metric("gateway_overdue_items", "payout")) === 1, 30_000, 100);
    // Checked every 100 ms: several checks later, still one alert raised.
    const checks = await metric("gateway_overdue_oldest_age_seconds", "payout");
    await waitFor("more checks", async () => (await metric("gateway_overdue_oldest_age_seconds", "payout")) >= checks + 1, 30_000, 200);
    expect(await metric("gateway_overdue_alerts_raised_total", "payout")).to.equal(1);
    expect(await metric("gateway_overdue_items", "topup")).to.equal(0);
  });
});
