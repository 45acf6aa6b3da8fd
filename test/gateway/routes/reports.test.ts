/**
 * Three-way reconciliation on real parts: a chain, an institution node process, the bank simulator over
 * HTTP and the gateway. After real activity (escrow and direct payments, a top-up, a payout, a
 * transfer) the three sides agree (no break); then one break is injected on each side — a payout
 * the gateway never made (redeemed on-chain by the merchant's key and paid by the bank), orders whose stored state or amount differs from the chain, a chain payment
 * the gateway does not know — and each is listed once with its kind, by the function, the merchant's
 * GET /v1/reports/threeway and the CLI (`settlenet report threeway`, gateway stopped) in JSON and CSV.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";

import { expect } from "chai";
import type { HDNodeWallet, Wallet } from "ethers";
import { pino } from "pino";

import { HttpBankAdapter } from "../../../gateway/adapters/bank.js";
import { NodeApiClient } from "../../../core/api/client.js";
import { signRequest } from "../../../gateway/client/signing.js";
import { THREEWAY_CSV_COLUMNS, threeWayReport, type ThreeWayReport } from "../../../gateway/domain/threeway.js";
import { threeWayReportCommand } from "../../../gateway/cli/threeway-report.js";
import { writeTokenFile } from "../../../scripts/lib/launch/nodes.js";
import { writeDeployment } from "../../../core/protocol/deployment.js";
import type { SettlenetError } from "../../../core/errors.js";
import { nodeApi, postJson, waitFor, waitForOperation, type NodeHandle, type TestNetwork } from "../../helpers/network.js";
import { signedPay, termsFor } from "../../helpers/operations.js";
import { signedTokenOp, tokenOperationIdOf } from "../../helpers/tokens.js";
import { chainBankRef } from "../../../gateway/domain/token-ops.js";
import { gatewayFixture, merchantRequests, moneyModules, type BankSimulatorHandle, type GatewayFixture, type TestMerchant } from "../fixture.js";
import { launchCustodianNetwork, type CustodianNetwork } from "../../helpers/custodian.js";

interface PaymentView {
  id: string;
  status: string;
  paymentId: string;
  typedData: { domain: Record<string, unknown>; types: Record<string, { name: string; type: string }[]>; message: Record<string, unknown> } | null;
}

const logger = pino({ level: "silent" });
const ORPHAN_PAYOUT = "po_0123456789abcdef01234567";
const summary = (report: Pick<ThreeWayReport, "breaks">) => report.breaks.map((b) => [b.kind, b.subject, b.ref, b.merchantId]).sort();

describe("gateway: three-way reconciliation of gateway, chain and bank (node, chain and bank simulator)", function () {
  this.timeout(180_000);
  let custody: CustodianNetwork;
  let net: TestNetwork;
  let node0: NodeHandle;
  let gw: GatewayFixture;
  let bank: BankSimulatorHandle;
  let a: TestMerchant;
  let b: TestMerchant;
  let payers: (Wallet | HDNodeWallet)[];
  let held: PaymentView;
  let direct: PaymentView;
  let foreignPaymentId: string;
  /** The injected breaks as [kind, subject, ref, merchantId], sorted. */
  let expected: (string | null)[][];

  before(async function () {
    // Top-ups are minted by the custodian service on node 0, reading the bank.
    custody = await launchCustodianNetwork({ institutions: 1, regulator: false, merchants: 2, payers: 2, bankLatencyMs: { min: 100, max: 300 } });
    ({ net, bank } = custody);
    node0 = net.nodes[0] as NodeHandle;
    gw = await gatewayFixture({
      scenario: net.scenario,
      nodeUrl: node0.apiUrl,
      // The reconciler runs only at start and the keeper never: injected order breaks must stay.
      app: { moneyTickMs: 200, reconcile: { intervalMs: 0 }, keeper: { intervalMs: 0 } },
      money: moneyModules(net.scenario, bank.url),
    });
    [a, b] = gw.merchants as [TestMerchant, TestMerchant];
    payers = net.scenario.payers;
  });

  after(async function () {
    await gw?.close();
    await custody?.close();
  });

  const requests = merchantRequests(() => gw, () => a);
  const { get, post, poll } = requests;
  const report = () =>
    threeWayReport({ storage: gw.storage, node: new NodeApiClient({ baseUrl: node0.apiUrl, timeoutMs: 10_000, credentials: node0.credentials.gateway }), bank: new HttpBankAdapter({ baseUrl: bank.url }, { logger }), deployment: net.scenario.deployment });

  function paidOrder(merchantOrderId: string, payerIndex: number, overrides: Record<string, unknown>, until: string): Promise<PaymentView> {
    const payer = payers[payerIndex];
    if (!payer) throw new Error("no payer");
    return requests.paidOrder<PaymentView>(payer, merchantOrderId, overrides, until);
  }

  it("finds no break after real payments, a top-up, a payout and a transfer", async function () {
    held = await paidOrder("held-1", 0, { amount: "3000" }, "held");
    direct = await paidOrder("direct-1", 1, { mode: "direct", amount: "10000" }, "released");
    const topup = await post<{ id: string }>("/v1/topups", { amount: "5000", currency: "CNY", account: "merchant-0" });
    await poll<{ stage: string }>("the top-up", `/v1/topups/${topup.body.id}`, (v) => v.stage === "completed");
    const payout = await post<{ id: string }>("/v1/payouts", { amount: "1000", currency: "CNY", account: "merchant-0" });
    await poll<{ status: string }>("the payout", `/v1/payouts/${payout.body.id}`, (v) => v.status === "paid");
    const transfer = await post<{ id: string }>("/v1/transfers", { to: b.address, amount: "500", currency: "CNY", reference: "tw-1" });
    await poll<{ status: string }>("the transfer", `/v1/transfers/${transfer.body.id}`, (v) => v.status === "executed");

    // The node indexes token events and payments asynchronously: wait until it has them all.
    const clean = await waitFor("a clean report", async () => {
      const r = await report();
      return r.breaks.length === 0 && r.counts.chainPayments === 3 ? r : undefined;
    }, 60_000, 500);
    expect(clean.counts).to.deep.include({ orders: 2, transfers: 1, payouts: 1, topups: 1, chainPayments: 3, bankTransfers: 2 });
    expect(clean.chainEventsTruncated).to.equal(false);
    for (const merchant of [a, b]) {
      const own = await get<ThreeWayReport>("/v1/reports/threeway", merchant);
      expect(own.status).to.equal(200);
      expect([own.body.merchantId, own.body.breaks]).to.deep.equal([merchant.id, []]);
    }
  });

  it("lists one break of the right kind for each injected disagreement, in JSON and CSV", async function () {
    // Chain and bank side: a payout the gateway never made. The bank pays only against a final redemption,
    // so the merchant's key redeems outside the gateway first, then the bank is asked directly.
    const merchantKey = net.scenario.merchants.find((m) => m.address === a.address);
    if (!merchantKey) throw new Error("merchant a's key is not in the scenario");
    const custodian = net.scenario.institutions[0]?.address ?? "";
    const redemption = await signedTokenOp(net.scenario, merchantKey, { kind: "redeem", holder: a.address, custodian, amount: "700", bankRef: chainBankRef(ORPHAN_PAYOUT) });
    expect((await nodeApi(node0).submit(redemption)).accepted).to.equal(true);
    await waitForOperation([node0], tokenOperationIdOf(net.scenario, redemption), "executed", 60_000);
    const orphan = await postJson<{ bankRef: string }>(`${bank.url}/v1/payouts`, { reference: ORPHAN_PAYOUT, account: "merchant-0", amount: "700", currency: "CNY" });
    expect(orphan.status).to.equal(201);
    // Gateway side: a stored state and a stored amount the chain does not have.
    await gw.storage.orders.update(held.id, (o) => ({ next: { ...o, status: "released" } }));
    await gw.storage.orders.update(direct.id, (o) => ({ next: { ...o, amount: "9999" } }));
    // Chain side: a payment to merchant a that never went through the gateway.
    const { op, paymentId } = await signedPay(net.scenario, await termsFor(net.scenario, 0, 0, { amount: 1_234n }));
    expect((await nodeApi(node0).submit(op)).accepted).to.equal(true);
    await waitForOperation([node0], paymentId, "executed", 60_000);
    foreignPaymentId = paymentId;

    expected = [
      ["amount_mismatch", "payment", direct.id, a.id],
      ["missing_in_gateway", "payment", foreignPaymentId, a.id],
      ["missing_in_gateway", "payout", ORPHAN_PAYOUT, null],
      ["missing_in_gateway", "payout", chainBankRef(ORPHAN_PAYOUT), a.id],
      ["status_mismatch", "payment", held.id, a.id],
    ].sort();
    const found = await waitFor("the injected breaks", async () => {
      const r = await report();
      return r.breaks.length === 5 ? r : undefined;
    }, 60_000, 500);
    expect(summary(found)).to.deep.equal(expected);
    const status = found.breaks.find((x) => x.kind === "status_mismatch");
    expect([status?.gateway, status?.chain]).to.deep.equal(["released 3000 refunded 0", "held 3000 refunded 0"]);
    expect(found.breaks.find((x) => x.subject === "payout" && x.ref === ORPHAN_PAYOUT)?.bank).to.match(/ 700$/);

    // The merchant's own report: the same breaks (the orphan payout went to its registered account); b has none.
    const own = await get<ThreeWayReport>("/v1/reports/threeway");
    expect(summary(own.body)).to.deep.equal(expected);
    expect((await get<ThreeWayReport>("/v1/reports/threeway", b)).body.breaks).to.deep.equal([]);
    const path = "/v1/reports/threeway?format=csv";
    const csv = await gw.app.inject({ method: "GET", url: path, headers: signRequest({ keyId: a.keyId, secret: a.secret, method: "GET", path }) });
    expect(csv.headers["content-type"]).to.match(/^text\/csv/);
    const rows = csv.body.trim().split("\r\n");
    expect(rows[0]).to.equal(THREEWAY_CSV_COLUMNS.join(","));
    expect(rows.slice(1).map((r) => r.split(",").slice(0, 4).join(",")).sort()).to.deep.equal(expected.map((e) => e.map((v) => v ?? "").join(",")).sort());
    const bad = await get<{ code: string }>("/v1/reports/threeway?format=xml");
    expect([bad.status, bad.body.code]).to.deep.equal([400, "MALFORMED"]);
  });

  it("reports the same from the CLI with the gateway stopped, and refuses bad arguments with USAGE", async function () {
    const deploymentFile = join(gw.dir, "deployment.json");
    const configFile = join(gw.dir, "gateway.json");
    await writeDeployment(deploymentFile, net.scenario.deployment);
    const nodeCredentialFile = join(gw.dir, "node-credential");
    await writeTokenFile(nodeCredentialFile, node0.credentials.gateway);
    await writeFile(configFile, JSON.stringify({ port: 0, dataDir: gw.dir, nodeUrl: node0.apiUrl, nodeCredentialFile, rpcUrl: net.chain.url, deploymentFile, bank: { url: bank.url } }));
    // The running gateway holds the database.
    const locked = await threeWayReportCommand(["--gateway-config", configFile], () => undefined).catch((e: unknown) => e);
    expect((locked as SettlenetError).code).to.equal("STORAGE_LOCKED");
    await gw.stop();
    try {
      let text = "";
      await threeWayReportCommand(["--gateway-config", configFile], (t) => (text += t));
      const json = JSON.parse(text) as ThreeWayReport;
      expect(json.merchantId).to.equal(null);
      expect(summary(json)).to.deep.equal(expected);
      let csv = "";
      await threeWayReportCommand(["--gateway-config", configFile, "--format", "csv", "--node", node0.apiUrl, "--bank", bank.url], (t) => (csv += t));
      expect(csv.trim().split("\r\n")).to.have.length(6);
      for (const args of [["--format", "csv"], ["--gateway-config", configFile, "--format", "xml"], ["--gateway-config", configFile, "--bank", "ftp://x"], ["--gateway-config", configFile, "--nope"]]) {
        const refused = await threeWayReportCommand(args, () => undefined).catch((e: unknown) => e);
        expect((refused as SettlenetError).code, args.join(" ")).to.equal("USAGE");
      }
    } finally {
      await gw.restart();
    }
  });
});
