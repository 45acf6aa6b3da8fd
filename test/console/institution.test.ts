/**
 * The institution console in a real Chromium against a real network (chain, an institution node and a
 * regulator node, both processes): an operator signs in with TOTP, sees the node's health, peers,
 * relay, money waiting too long and charts, onboards a merchant and suspends it (the registry on-chain
 * then has it suspended), finds a mint the chain refused among the failed operations with its decoded
 * error, verifies the audit log in the browser; an operator cannot freeze nor use the regulator's
 * pages, by URL and by API. Any page error or console error fails a test. Writes docs/screenshots/institution-*.png.
 */
import { expect } from "chai";
import { Contract, JsonRpcProvider, Wallet, type HDNodeWallet } from "ethers";
import type { Browser } from "playwright-core";

import { loadArtifact } from "../../core/protocol/artifacts.js";
import { nodeApi, waitFor } from "../helpers/network.js";
import { randomRef, signedTokenOp, tokenOperationIdOf } from "../helpers/tokens.js";
import { SCREENSHOTS, checkPagesLeftOpen, launchConsoleBrowser, type WatchedPage } from "../helpers/browser.js";
import { launchConsoleNetwork, signedInConsole, type ConsoleNetwork } from "./node-helpers.js";


describe("console: the institution console in Chromium", function () {
  this.timeout(300_000);
  let net: ConsoleNetwork;
  let browser: Browser;
  let watched: WatchedPage | undefined;

  before(async function () {
    browser = await launchConsoleBrowser();
    net = await launchConsoleNetwork({
      institutions: 1,
      users: {
        "onboard@bank.example": { role: "operator", node: "institution-0" },
        "watch@bank.example": { role: "operator", node: "institution-0" },
        "limits@bank.example": { role: "operator", node: "institution-0" },
      },
    });
  });
  afterEach(() => checkPagesLeftOpen(browser));
  after(async function () {
    await browser?.close();
    await net?.net.stop();
  });

  const user = (email: string) => net.user(email);

  it("lets an operator onboard a merchant and suspend it: the registry on-chain has it suspended", async function () {
    watched = await signedInConsole(browser, net, user("onboard@bank.example"), "/console/institution/onboarding");
    const { page } = watched;
    const merchant = Wallet.createRandom().address;
    await page.getByLabel("Account address").first().fill(merchant);
    await page.getByLabel("KYC level").first().fill("2");
    await page.getByLabel("Fee (basis points)").fill("150");
    await page.getByLabel("Payout bank account").fill("CN88 0001 2345 6789");
    await page.getByRole("button", { name: "Register" }).first().click();
    await page.getByRole("status").filter({ hasText: `registered merchant ${merchant}` }).waitFor();
    const account = page.getByTestId("account");
    await account.filter({ hasText: "active, KYC 2, fee 150 bps" }).waitFor();
    await page.screenshot({ path: `${SCREENSHOTS}institution-onboarding.png`, fullPage: true });

    await account.getByRole("button", { name: "Suspend" }).click();
    await account.filter({ hasText: "suspended" }).waitFor();
    await account.getByRole("button", { name: "Reactivate" }).waitFor();

    const { deployment } = net.net.scenario;
    const registry = new Contract(deployment.contracts.registry, loadArtifact("ParticipantRegistry").abi, new JsonRpcProvider(net.net.chain.url));
    const onChain = (await registry.getFunction("accountOf")(merchant)) as { status: bigint; feeBps: bigint; kycLevel: bigint };
    // AccountStatus: 1 active, 2 suspended.
    expect([onChain.status, onChain.feeBps, onChain.kycLevel]).to.deep.equal([2n, 150n, 2n]);
  });

  it("lists a mint the chain refused above the attested reserves, with its id, kind and decoded ReservesExceeded", async function () {
    const s = net.net.scenario;
    // Institution 0 is the CNY custodian and mints with its operator key; one unit above its attested
    // reserves passes the node's validation (it cannot see the cap) and is refused by the token contract.
    const custodian = s.institutions[0] as HDNodeWallet;
    const token = new Contract(s.deployment.tokens["CNY"]!.address, loadArtifact("SettlementToken").abi, new JsonRpcProvider(net.net.chain.url));
    const reserves = (await token.getFunction("reservesOf")(custodian.address)) as { amount: bigint };
    const mint = await signedTokenOp(s, custodian, { kind: "mint", to: s.payers[0]!.address, amount: (reserves.amount + 1n).toString(), bankRef: randomRef() });
    const node = nodeApi(net.node("institution-0"));
    expect((await node.submit(mint)).accepted).to.equal(true);
    const id = tokenOperationIdOf(s, mint);
    await waitFor("the mint to fail on-chain", async () => (await node.operation(id))?.status === "failed", 120_000, 200);

    watched = await signedInConsole(browser, net, user("watch@bank.example"), "/console/institution");
    const { page } = watched;
    await page.getByRole("navigation").getByRole("link", { name: "Failed operations" }).click();
    const row = page.getByRole("row").filter({ has: page.locator(`code[title="${id}"]`) });
    await row.waitFor();
    const cells = await row.getByRole("cell").allTextContents();
    expect(cells[0]).to.equal(`${id.slice(0, 10)}…`);
    expect(cells[1]).to.equal("mint");
    // ReservesExceeded(custodian, outstandingAfter, attestedReserves), decoded by the node from the revert.
    expect(cells[3]).to.match(new RegExp(`^ReservesExceeded\\(${custodian.address}, \\d+, ${reserves.amount}\\)$`));
    // Wide enough for every column, the decoded error among them.
    await page.setViewportSize({ width: 1200, height: 900 });
    await page.screenshot({ path: `${SCREENSHOTS}institution-failed-operations.png`, fullPage: true });
  });

  it("shows the node's health, peers, relay and charts, and verifies the audit log in the browser", async function () {
    watched = await signedInConsole(browser, net, user("watch@bank.example"), "/console/institution");
    const { page } = watched;
    await page.getByTestId("health").filter({ hasText: "Ready" }).waitFor();
    await page.getByRole("heading", { name: /^Peers \(\d+\)$/ }).waitFor();
    await page.getByText(/^Relay lag: /).waitFor();
    // The overdue monitor's figures: nothing waits past its threshold.
    await page.getByTestId("overdue-operation_not_relayed").filter({ hasText: "Not relayed: 0 overdue (threshold 120 s)" }).waitFor();
    await page.getByText("Nothing is waiting beyond its threshold.").waitFor();
    // Two readings make the first point of each chart.
    await page.getByRole("img", { name: "Accepted operations per second" }).locator("polyline[points*=',']").waitFor({ state: "attached" });
    await page.screenshot({ path: `${SCREENSHOTS}institution-overview.png`, fullPage: true });

    await page.getByRole("navigation").getByRole("link", { name: "Audit log" }).click();
    await page.getByRole("cell", { name: "session.signIn" }).first().waitFor();
    await page.getByRole("button", { name: "Verify the chain here" }).click();
    await page.getByRole("status").filter({ hasText: "The audit log verifies" }).waitFor();
    await page.screenshot({ path: `${SCREENSHOTS}institution-audit.png`, fullPage: true });
  });

  it("keeps an operator from freezing (403 FORBIDDEN) and out of the regulator's pages, by URL and by API", async function () {
    watched = await signedInConsole(browser, net, user("limits@bank.example"), "/console/regulator");
    const { page } = watched;
    await page.getByRole("heading", { name: "Not for your role" }).waitFor();
    expect(await page.getByRole("alert").textContent()).to.include("FORBIDDEN");
    // A freeze is an operation the node takes only from the gateway role's submissions.
    const answers = await page.evaluate(async () => {
      const csrf = ((await (await fetch("/v1/session", { credentials: "same-origin" })).json()) as { session: { csrfToken: string } }).session.csrfToken;
      const freeze = await fetch("/v1/operations", {
        method: "POST",
        credentials: "same-origin",
        headers: { "content-type": "application/json", "x-csrf-token": csrf },
        body: JSON.stringify({ kind: "freeze" }),
      });
      return { freeze: { status: freeze.status, code: ((await freeze.json()) as { code: string }).code } };
    });
    watched.allow(/status of 403 .*\/v1\/operations\)$/);
    expect(answers.freeze).to.deep.equal({ status: 403, code: "FORBIDDEN" });
  });
});
