/**
 * The hosted checkout in a real Chromium against real parts: a chain, one institution node process,
 * the gateway listening on a port (LevelDB in a temp dir, chain access for the payer's account and
 * actions) and the built console. The payer's wallet is an ethers wallet behind an injected EIP-1193
 * provider. Any page error or console error fails a test. Writes the checkout's screenshots to
 * docs/screenshots/.
 */
import { expect } from "chai";
import { Wallet, parseEther, type HDNodeWallet } from "ethers";
import type { Browser, Page } from "playwright-core";
import { pino } from "pino";

import { MoneyChain } from "../../gateway/adapters/money-chain.js";
import { devWallet } from "../helpers/chain.js";
import { freePort, launchNetwork, nodeApi, postJson, waitFor, waitForOperation, type NodeHandle, type TestNetwork } from "../helpers/network.js";
import { randomRef, signedTokenOp, tokenOperationIdOf } from "../helpers/tokens.js";
import { gatewayFixture, paymentBody, signedInject, type GatewayFixture, type TestMerchant } from "../gateway/fixture.js";
import { PHONE, SCREENSHOTS, checkPagesLeftOpen, launchConsoleBrowser, walletPage, type WatchedPage } from "../helpers/browser.js";
import { signedInConsole } from "./node-helpers.js";

/** Bounds only how long a page may take to show a state (the chain and the node are real). */
const SHOWN_WITHIN_MS = 120_000;

interface Created {
  id: string;
  checkoutUrl: string;
}

describe("console: hosted checkout in Chromium (chain, node, gateway)", function () {
  this.timeout(300_000);
  let net: TestNetwork;
  let gw: GatewayFixture;
  let browser: Browser;
  let merchant: TestMerchant;
  let payer: Wallet | HDNodeWallet;
  let chainId: bigint;
  let baseUrl: string;
  let clockOffsetMs = 0;
  let watched: WatchedPage | undefined;
  /** The payment paid in the first test and confirmed in a later one. */
  let paid: Created | undefined;

  before(async function () {
    browser = await launchConsoleBrowser();
    // Payers: 0 pays, 1 has no allowance to the escrow (permit first), 2 gets frozen.
    net = await launchNetwork({ institutions: 1, regulator: false, merchants: 1, payers: 3 });
    const node = net.nodes[0];
    if (!node) throw new Error("no node");
    chainId = BigInt(net.scenario.deployment.chainId);
    payer = net.scenario.payers[0] as Wallet | HDNodeWallet;
    // Known before the gateway is built: its public URL (the checkout links it hands out) names it.
    const port = await freePort();
    baseUrl = `http://127.0.0.1:${port}`;
    gw = await gatewayFixture({
      scenario: net.scenario,
      nodeUrl: node.apiUrl,
      now: () => Date.now() + clockOffsetMs,
      app: { publicUrl: baseUrl, moneyTickMs: 200 },
      money: () => ({ chain: new MoneyChain(net.scenario.chain.url, net.scenario.deployment, { permitRelayer: devWallet(15), logger: pino({ level: "silent" }) }) }),
    });
    await gw.app.listen({ host: "127.0.0.1", port });
    merchant = gw.merchants[0] as TestMerchant;
  });
  afterEach(() => checkPagesLeftOpen(browser));
  after(async function () {
    await browser?.close();
    await gw?.close();
    await net?.stop();
  });

  const create = async (ref: string, overrides: Record<string, unknown> = {}, from: Wallet | HDNodeWallet = payer) => {
    const res = await signedInject<Created>(gw.app, merchant, "POST", "/v1/payments", paymentBody(from.address, ref, { description: "Longjing tea, 250 g", ...overrides }));
    expect(res.status, JSON.stringify(res.body)).to.equal(201);
    return res.body;
  };
  const open = async (url: string, wallet: Wallet | HDNodeWallet, beforeSign?: () => void) => {
    watched = await walletPage(browser, { wallet, chainId, ...(beforeSign ? { beforeSign } : {}) });
    await watched.page.goto(url);
    return watched;
  };
  const statusOf = (page: Page) => page.locator("[data-status]");
  const waitForStatus = (page: Page, status: string) => page.locator(`[data-status="${status}"]`).waitFor({ timeout: SHOWN_WITHIN_MS });

  it("lets the payer pay through the checkout page and shows the payment held on-chain", async function () {
    paid = await create("tea-1");
    expect(paid.checkoutUrl).to.equal(`${baseUrl}/checkout/${paid.id}`);
    const { page } = await open(paid.checkoutUrl, payer);

    expect(await page.getByRole("heading", { level: 1 }).textContent()).to.equal("Pay Jasmine Tea Shop");
    expect(await page.getByLabel("Amount").textContent()).to.equal("¥100.00");
    expect(await page.getByText("The merchant must fulfil the order within 7 days of your payment; if it does not, you can take your money back.").count()).to.equal(1);
    expect(await statusOf(page).getAttribute("data-status")).to.equal("awaiting_authorization");
    // Phone width: nothing wider than the screen.
    expect(await page.evaluate<number>("document.documentElement.scrollWidth")).to.be.at.most(PHONE.width);
    await page.screenshot({ path: `${SCREENSHOTS}checkout-before-signing.png`, fullPage: true });

    await page.getByRole("button", { name: "Connect wallet" }).click();
    await page.getByRole("button", { name: "Sign and pay ¥100.00" }).click();
    await waitForStatus(page, "held");
    expect(await statusOf(page).textContent()).to.equal("Paid — held in escrow");
    expect((await gw.storage.orders.get(paid.id))?.status).to.equal("held");
    expect(watched?.walletCalls).to.include("eth_signTypedData_v4");
    await page.screenshot({ path: `${SCREENSHOTS}checkout-held.png`, fullPage: true });
  });

  it("refuses, in words, a wallet connected to another account, and asks it for no signature", async function () {
    const order = await create("tea-2");
    const { page, walletCalls } = await open(order.checkoutUrl, Wallet.createRandom());
    await page.getByRole("button", { name: "Connect wallet" }).click();
    const alert = page.getByRole("alert");
    await alert.waitFor();
    expect(await alert.textContent()).to.match(new RegExp(`^Wrong account: this payment must be signed by ${payer.address}, but your wallet is connected to 0x[0-9a-fA-F]{40}\\.`));
    expect(await page.getByRole("button", { name: /Sign and pay/ }).count()).to.equal(0);
    expect(walletCalls).to.not.include("eth_signTypedData_v4");
  });

  it("refuses, in words, an order that expired while the payer was signing", async function () {
    const order = await create("tea-3", { expiresIn: 60 });
    // The gateway's clock passes the order's deadline while the wallet signs.
    const watch = await open(order.checkoutUrl, payer, () => {
      clockOffsetMs = 120_000;
    });
    // The browser logs the refused request (409) itself; that one is expected here.
    watch.allow(/Failed to load resource: the server responded with a status of 409/);
    try {
      const { page } = watch;
      await page.getByRole("button", { name: "Connect wallet" }).click();
      await page.getByRole("button", { name: "Sign and pay ¥100.00" }).click();
      await page.getByText("This order has expired: its payment deadline has passed. Ask the merchant for a new one.").waitFor({ timeout: SHOWN_WITHIN_MS });
      await waitForStatus(page, "expired");
      expect((await gw.storage.orders.get(order.id))?.authorization).to.equal(undefined);
    } finally {
      clockOffsetMs = 0;
    }
  });

  it("lets the payer confirm receipt afterwards, by keyboard, and shows the payment released", async function () {
    if (!paid) this.skip();
    const { page } = await open(paid.checkoutUrl, payer);
    await waitForStatus(page, "held");
    await page.getByRole("button", { name: "Connect wallet" }).click();
    const confirm = page.getByRole("button", { name: "Confirm receipt" });
    await confirm.focus();
    await page.keyboard.press("Enter");
    await waitForStatus(page, "released");
    expect(await statusOf(page).textContent()).to.equal("Released to the merchant");
  });

  it("switches to Chinese and keeps the amount exact", async function () {
    const order = await create("tea-4", { amount: "123456789" });
    const { page } = await open(order.checkoutUrl, payer);
    await page.getByLabel("Language").selectOption("zh-CN");
    expect(await page.getByRole("heading", { level: 1 }).textContent()).to.equal("向 Jasmine Tea Shop 付款");
    expect(await page.getByLabel("金额").textContent()).to.equal("¥1,234,567.89");
    expect(await page.evaluate<string>("document.documentElement.lang")).to.equal("zh-CN");
  });

  it("offers the permit first when the escrow may not collect from the payer, then pays", async function () {
    const s = net.scenario;
    const newcomer = s.payers[1] as Wallet | HDNodeWallet;
    // Take the onboarding's allowance away (the payer sends this one transaction itself, with gas from governance).
    await (await s.admin.sendTransaction({ to: newcomer.address, value: parseEther("1") })).wait();
    await (await s.token.connect(newcomer).approve(s.deployment.contracts.escrow, 0n)).wait();
    expect(await s.token.allowance(newcomer.address, s.deployment.contracts.escrow)).to.equal(0n);

    const order = await create("tea-5", {}, newcomer);
    const { page } = await open(order.checkoutUrl, newcomer);
    await page.getByRole("button", { name: "Connect wallet" }).click();
    expect(await page.getByRole("button", { name: /Sign and pay/ }).count()).to.equal(0);
    await page.getByRole("button", { name: "Allow the escrow" }).click();
    await page.getByText("The escrow may now collect from your account.").waitFor({ timeout: SHOWN_WITHIN_MS });
    expect(await s.token.allowance(newcomer.address, s.deployment.contracts.escrow)).to.equal(2n ** 256n - 1n);
    await page.getByRole("button", { name: "Sign and pay ¥100.00" }).click();
    await waitForStatus(page, "held");
  });

  it("tells the payer, in words, that the account is frozen or the balance too small, and offers no signature", async function () {
    const s = net.scenario;
    const frozen = s.payers[2] as Wallet | HDNodeWallet;
    const op = await signedTokenOp(s, s.regulator, { kind: "freeze", account: frozen.address, frozen: true, reason: randomRef() });
    expect((await postJson(`${net.nodes[0]?.apiUrl}/v1/operations`, op)).status).to.equal(202);
    await waitForOperation(net.nodes, tokenOperationIdOf(s, op), "executed", SHOWN_WITHIN_MS);
    await waitFor("the freeze on-chain", async () => s.token.isFrozen(frozen.address));

    const frozenOrder = await create("tea-6", {}, frozen);
    const first = await open(frozenOrder.checkoutUrl, frozen);
    await first.page.getByRole("button", { name: "Connect wallet" }).click();
    await first.page.getByText("The paying account is frozen by a regulator; it cannot pay now. Contact your bank.").waitFor();
    expect(await first.page.getByRole("button", { name: /Sign and pay/ }).count()).to.equal(0);
    first.check();
    await first.close();

    const tooMuch = await create("tea-7", { amount: "100000000000" });
    const { page, walletCalls } = await open(tooMuch.checkoutUrl, payer);
    await page.getByRole("button", { name: "Connect wallet" }).click();
    const alert = page.getByRole("alert");
    await alert.waitFor();
    expect(await alert.textContent()).to.equal("Insufficient balance: your account holds less than the ¥1,000,000,000.00 to pay. Top it up and try again.");
    expect(await page.getByRole("button", { name: /Sign and pay/ }).count()).to.equal(0);
    expect(walletCalls).to.not.include("eth_signTypedData_v4");
  });

  /** Pays `order` through its page as `from` and leaves the page showing it held. */
  const payThroughPage = async (order: Created, from: Wallet | HDNodeWallet = payer) => {
    const { page } = await open(order.checkoutUrl, from);
    await page.getByRole("button", { name: "Connect wallet" }).click();
    await page.getByRole("button", { name: /^Sign and pay/ }).click();
    await waitForStatus(page, "held");
    return page;
  };

  it("lets the payer open a dispute with a reason and shows the payment disputed, and the arbiter reads the payer's words", async function () {
    const page = await payThroughPage(await create("tea-8"));
    // Longer than a bytes32 string: on-chain there is only its hash.
    const words = "The tea never arrived, and the tracking number shows another address";
    await page.getByLabel("Reason for the dispute").fill(words);
    await page.getByRole("button", { name: "Open a dispute" }).click();
    await waitForStatus(page, "disputed");
    const order = await gw.storage.orders.getByMerchantOrderId(merchant.id, "tea-8");
    const actions = await gw.storage.money.payerActionsOf(order?.id ?? "");
    expect(actions.map((a) => [a.action, a.reason])).to.deep.equal([["dispute", words]]);

    // An arbiter of the node signs in to its console and finds the words there, not the hash.
    (watched as WatchedPage).check();
    await page.close();
    watched = undefined;
    const node = net.nodes[0] as NodeHandle;
    const paymentId = order?.paymentId ?? "";
    const arbiter = { email: "arbiter@checkout.example", role: "arbiter" as const, password: "arbiter console password", node: node.name };
    const created = await nodeApi(node).createNodeUser({ email: arbiter.email, role: arbiter.role, password: arbiter.password });
    const totpSecret = new URL(created.otpauthUri).searchParams.get("secret") ?? "";
    watched = await signedInConsole(browser, { node: () => node }, { ...arbiter, totpSecret });
    const card = watched.page.getByRole("article", { name: `Disputed payment ${paymentId.slice(0, 10)}…` });
    await card.getByText(words, { exact: true }).waitFor({ timeout: SHOWN_WITHIN_MS });
  });

  it("lets the payer take the money back once the fulfilment period has passed in chain time", async function () {
    const order = await create("tea-9", { fulfilmentPeriod: 60 });
    const page = await payThroughPage(order);
    expect(await page.getByRole("button", { name: "Take my money back" }).count()).to.equal(0);
    const { provider } = net.chain;
    const latest = await provider.getBlock("latest");
    await provider.send("evm_setNextBlockTimestamp", [(latest?.timestamp ?? 0) + 120]);
    await provider.send("evm_mine", []);
    const reclaim = page.getByRole("button", { name: "Take my money back" });
    await reclaim.waitFor({ timeout: SHOWN_WITHIN_MS });
    await reclaim.click();
    await waitForStatus(page, "reclaimed");
    expect(await statusOf(page).textContent()).to.equal("Returned to you");
  });
});
