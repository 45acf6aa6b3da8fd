/**
 * The merchant dashboard in a real Chromium against real parts: a chain, one institution node
 * process, the gateway listening on a port (LevelDB in a temp dir) with two merchants, and the built
 * console. Owners are created as the CLI does; payments are paid by a payer's signature through the
 * node and chain. Any page error or console error fails a test, except the refusals a test provokes
 * (named with `allow`). Writes the payments list and payment timeline screenshots to docs/screenshots/.
 */
import { readFile } from "node:fs/promises";

import { expect } from "chai";
import type { HDNodeWallet, Wallet } from "ethers";
import type { Browser, Page } from "playwright-core";

import { createOwner, inviteUser } from "../../gateway/domain/users.js";
import { totpCode } from "../../core/auth/totp.js";
import { launchCustodianNetwork, type CustodianNetwork } from "../helpers/custodian.js";
import { freePort, waitFor, waitForOperation, type TestNetwork } from "../helpers/network.js";
import { gatewayFixture, merchantRequests, moneyModules, type GatewayFixture, type TestMerchant } from "../gateway/fixture.js";
import { WebhookReceiver, verifyStandardWebhook } from "../../scripts/lib/webhook-receiver.js";
import { DESKTOP, PHONE, SCREENSHOTS, checkPagesLeftOpen, fillSignIn, launchConsoleBrowser, plainPage, type WatchedPage } from "../helpers/browser.js";

/** Bounds only how long a page may take to show a state (the chain and the node are real). */
const SHOWN_WITHIN_MS = 120_000;
/** Settlement cycle length (chain seconds): short, so the test closes one by mining a block. */
const CYCLE = 60;

interface PaymentView {
  id: string;
  paymentId: string;
  status: string;
  typedData: null;
  refunds: { amount: string; reason: string; status: string }[];
}

describe("console: merchant dashboard in Chromium (chain, node, gateway)", function () {
  this.timeout(300_000);
  let net: TestNetwork;
  let gw: GatewayFixture;
  let custody: CustodianNetwork;
  let browser: Browser;
  let shopA: TestMerchant;
  let shopB: TestMerchant;
  let baseUrl: string;
  let watched: WatchedPage | undefined;
  // The gateway's clock: each sign-in moves it to the next TOTP step, so no code is used twice.
  let clockOffsetMs = 0;
  const now = () => Date.now() + clockOffsetMs;
  const users: Record<string, { password: string; secret: string }> = {};
  const paid: Record<string, PaymentView> = {};
  const requestsOf = (merchant: () => TestMerchant) => merchantRequests(() => gw, merchant, now);
  // The merchant's webhook receiver on 127.0.0.1, checking timestamps against the gateway's clock.
  const receiver = new WebhookReceiver(now);

  before(async function () {
    browser = await launchConsoleBrowser();
    // The institution runs the custodian service, which mints the top-ups the bank confirms.
    custody = await launchCustodianNetwork({
      institutions: 1,
      regulator: false,
      merchants: 2,
      payers: 1,
      // One institution: its own attestation is the quorum, so a closed cycle finalizes.
      config: { settlement: { cycleSeconds: CYCLE, tickMs: 300, finalizeFailoverMs: 1_000, rebroadcastMs: 1_000 } },
      bankLatencyMs: { min: 50, max: 100 },
    });
    ({ net } = custody);
    const node = net.nodes[0];
    if (!node) throw new Error("no node");
    // Known before the gateway is built: its public URL (links in invitations and e-mails) names it.
    const port = await freePort();
    baseUrl = `http://127.0.0.1:${port}`;
    gw = await gatewayFixture({
      scenario: net.scenario,
      nodeUrl: node.apiUrl,
      now,
      // Chain access for the balance page, the bank simulator for top-ups and reconciliation.
      money: moneyModules(net.scenario, custody.bank.url),
      // The webhook endpoint's host name, as a resolver would answer it (a public address).
      resolve: async () => [{ address: "93.184.215.14", family: 4 }],
      app: {
        publicUrl: baseUrl,
        moneyTickMs: 200,
        dashboard: { maxFailures: 3, lockoutSeconds: 600 },
        signInRateLimit: { max: 1_000, timeWindowMs: 60_000 },
        // The receiver listens on loopback over plain HTTP; a refused delivery waits a minute for its retry, so "send again" is what delivers it.
        webhooks: { requireHttps: false, allowLoopback: true, pollIntervalMs: 100, initialDelayMs: 60_000, maxDelayMs: 120_000 },
      },
    });
    await gw.app.listen({ host: "127.0.0.1", port });
    [shopA, shopB] = gw.merchants as [TestMerchant, TestMerchant];
    const modules = { storage: gw.storage, secrets: gw.secrets, now };
    for (const [merchant, email] of [
      [shopA.id, "owner@a.example"],
      [shopB.id, "owner@b.example"],
      [shopA.id, "locked@a.example"],
    ] as const) {
      const password = `${email} password`;
      const owner = await createOwner(merchant, { email, password }, { actor: "local:test", role: "admin" }, modules, { invitationTtlSeconds: 3600 });
      if (!("totpSecret" in owner)) throw new Error("expected an enrolled owner");
      users[email] = { password, secret: owner.totpSecret };
    }
    const payer = net.scenario.payers[0] as Wallet | HDNodeWallet;
    for (const [ref, merchant] of [
      ["tea-100", shopA],
      ["tea-200", shopA],
      ["b-1", shopB],
    ] as const) {
      const requests = requestsOf(() => merchant);
      paid[ref] = await requests.paidOrder<PaymentView>(payer, ref, { amount: ref === "tea-200" ? "25000" : "10000", expiresIn: 86_400 });
    }
    await receiver.start();
  });
  afterEach(() => checkPagesLeftOpen(browser));
  after(async function () {
    await receiver.stop();
    await browser?.close();
    await gw?.close();
    await custody?.close();
  });

  /** A fresh browser (no cookie) on the dashboard; its first look for a session is refused (401), as expected. */
  const open = async (path = "/dashboard") => {
    watched = await plainPage(browser);
    watched.allow(/status of 401 .*\/dashboard\/api\/session\)$/);
    await watched.page.goto(`${baseUrl}${path}`);
    return watched;
  };
  const signIn = async (page: Page, email: string) => {
    const user = users[email];
    if (!user) throw new Error(`no user ${email}`);
    clockOffsetMs += 30_000;
    await page.getByRole("heading", { name: "Sign in to the merchant dashboard" }).waitFor();
    await fillSignIn(page, email, user.password, totpCode(user.secret, now()));
    await page.getByRole("button", { name: "Sign out" }).waitFor();
  };
  /** Runs fetch in the page (its cookie goes along) and returns status and problem code. */
  const fetchInPage = (page: Page, path: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}) =>
    page.evaluate(
      async ({ path, init }) => {
        const response = await fetch(path, { ...init, credentials: "same-origin" });
        const body = (await response.json().catch(() => ({}))) as { code?: string };
        return { status: response.status, code: body.code };
      },
      { path, init },
    );

  it("shows the sign-in page at phone width, in English and Chinese", async function () {
    const { page } = await open();
    await page.getByRole("heading", { level: 1, name: "Sign in to the merchant dashboard" }).waitFor();
    expect(await page.evaluate<number>("document.documentElement.scrollWidth")).to.be.at.most(PHONE.width);
    await page.getByLabel("Language").selectOption("zh-CN");
    expect(await page.getByRole("heading", { level: 1 }).textContent()).to.equal("登录商户后台");
    expect(await page.getByLabel("身份验证器中的验证码").count()).to.equal(1);
  });

  it("lets the owner sign in with TOTP, find a payment, export the list and refund part of it", async function () {
    const { page } = await open();
    await page.setViewportSize(DESKTOP);
    await signIn(page, "owner@a.example");
    expect(await page.getByText("owner@a.example (owner)").count()).to.equal(1);
    // The overview: this merchant's two paid payments today (¥100.00 and ¥250.00, fee 1%).
    await page.getByRole("heading", { name: "Overview", level: 1 }).waitFor();
    expect(await page.getByLabel("Volume", { exact: true }).textContent()).to.equal("¥350.00");
    expect(await page.getByLabel("Payments", { exact: true }).textContent()).to.equal("2");
    expect(await page.getByLabel("Fees", { exact: true }).textContent()).to.equal("¥3.50");
    expect(await page.getByLabel("Refunds", { exact: true }).textContent()).to.equal("¥0.00");
    expect(await page.getByRole("img", { name: "Volume per day, total ¥350.00" }).count()).to.equal(1);
    await page.screenshot({ path: `${SCREENSHOTS}dashboard-overview.png`, fullPage: true });

    await page.getByRole("link", { name: "Payments" }).click();
    await page.getByRole("heading", { name: "Payments", level: 1 }).waitFor();
    await page.getByRole("link", { name: "tea-200" }).waitFor();
    // Only this merchant's payments are listed.
    expect(await page.getByRole("link", { name: "b-1" }).count()).to.equal(0);
    await page.screenshot({ path: `${SCREENSHOTS}dashboard-payments.png`, fullPage: true });

    // Payer (applied to the rows fetched) and amount filters, then the order id (the gateway's).
    await page.getByLabel("Amount at least (yuan)").fill("200");
    await page.getByRole("button", { name: "Search" }).click();
    await waitFor("the amount filter", async () => (await page.getByRole("link", { name: "tea-100" }).count()) === 0);
    expect(await page.getByRole("link", { name: "tea-200" }).count()).to.equal(1);
    await page.getByLabel("Amount at least (yuan)").fill("");
    await page.getByLabel("Order id").fill("tea-200");
    await page.getByRole("button", { name: "Search" }).click();
    await page.getByRole("button", { name: "Download CSV (1 rows shown)" }).waitFor();
    const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Download CSV (1 rows shown)" }).click()]);
    const csv = (await readFile(await download.path(), "utf8")).split("\r\n");
    expect(csv[0]).to.equal("id,merchant_order_id,status,amount_minor_units,amount,currency,refunded_minor_units,payer,mode,created_at,updated_at");
    expect(csv[1]).to.match(new RegExp(`^${paid["tea-200"]?.id},tea-200,held,25000,250.00,CNY,0,0x`));

    await page.getByRole("link", { name: "tea-200" }).click();
    await page.getByRole("heading", { name: "Order tea-200" }).waitFor();
    expect(await page.getByLabel("Amount").first().textContent()).to.equal("¥250.00");
    expect(await page.getByText("Payment authorised — executed on-chain").count()).to.equal(1);
    // Where the chain executed the payer's pay, as the node's indexer recorded it.
    const [pay] = await waitForOperation(net.nodes.slice(0, 1), paid["tea-200"]?.paymentId ?? "", "executed");
    const payExecution = pay?.execution;
    if (!payExecution) throw new Error("the node has no execution of the pay");
    const payTx = page.locator("[data-transaction]").first();
    expect(await payTx.getAttribute("data-transaction")).to.equal(payExecution.txHash);
    expect(await payTx.textContent()).to.match(new RegExp(`^Transaction ${payExecution.txHash}, block ${payExecution.blockNumber}, `));
    // The payment's held event, which no webhook endpoint took (none exists yet).
    const held = page.locator('[data-event="payment.held"]');
    await held.waitFor();
    expect(await held.count(), "only this payment's events").to.equal(1);
    expect(await held.getByText("Not delivered to any webhook endpoint.").count()).to.equal(1);

    await page.getByLabel("Amount to refund in yuan (at most ¥250.00)").fill("12.34");
    await page.getByLabel("Reason").fill("Lid cracked in transit");
    await page.getByRole("button", { name: "Refund", exact: true }).click();
    const confirm = page.getByRole("group", { name: "Confirm" });
    expect(await confirm.getByText("Refund ¥12.34 of order tea-200 to the payer? This cannot be undone.").count()).to.equal(1);
    // Nothing is sent before the confirmation.
    expect((await gw.storage.orders.get(paid["tea-200"]?.id ?? ""))?.refunds).to.deep.equal([]);
    await confirm.getByRole("button", { name: "Yes, do it" }).click();
    await page.getByText("¥12.34: Lid cracked in transit").waitFor();
    await page.getByLabel("Refunded", { exact: true }).filter({ hasText: "¥12.34" }).waitFor({ timeout: SHOWN_WITHIN_MS });
    expect(await page.getByText("Refund — executed on-chain").count()).to.equal(1);
    // The refund's transaction too, the same the API gives.
    await page.locator("[data-transaction]").nth(1).waitFor({ timeout: SHOWN_WITHIN_MS });
    const viewed = await page.evaluate(async (path) => (await fetch(path, { credentials: "same-origin" })).json(), `/v1/payments/${paid["tea-200"]?.id ?? ""}`) as {
      authorization: { execution: { txHash: string; blockNumber: number } | null };
      refunds: { operationId: string; execution: { txHash: string; blockNumber: number } | null }[];
    };
    expect(viewed.authorization.execution).to.include({ txHash: payExecution.txHash, blockNumber: payExecution.blockNumber });
    const [refundOp] = await waitForOperation(net.nodes.slice(0, 1), viewed.refunds[0]?.operationId ?? "", "executed");
    expect(viewed.refunds[0]?.execution).to.include({ txHash: refundOp?.execution?.txHash, blockNumber: refundOp?.execution?.blockNumber });
    expect(await page.locator("[data-transaction]").nth(1).getAttribute("data-transaction")).to.equal(refundOp?.execution?.txHash);
    const refunds = (await gw.storage.orders.get(paid["tea-200"]?.id ?? ""))?.refunds;
    expect(refunds?.map((r) => [r.amount, r.reason, r.status])).to.deep.equal([["1234", "Lid cracked in transit", "executed"]]);
    await page.screenshot({ path: `${SCREENSHOTS}dashboard-payment-timeline.png`, fullPage: true });

    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("heading", { name: "Sign in to the merchant dashboard" }).waitFor();
    expect((await fetchInPage(page, "/dashboard/api/session")).code).to.equal("SESSION_REQUIRED");
  });

  it("locks the account after repeated bad passwords and says so in words", async function () {
    const watch = await open();
    watch.allow(/status of (401|429) .*\/dashboard\/api\/session\)$/);
    const { page } = watch;
    const user = users["locked@a.example"];
    if (!user) throw new Error("no user");
    const alert = page.getByRole("alert");
    /** Submits the form and waits for the gateway's answer to this very attempt. */
    const attempt = async (password: string) => {
      const answered = page.waitForResponse((r) => r.url() === `${baseUrl}/dashboard/api/session` && r.request().method() === "POST");
      await fillSignIn(page, "locked@a.example", password, totpCode(user.secret, now()));
      return (await answered).status();
    };
    for (let n = 1; n <= 3; n++) {
      expect(await attempt(`wrong password ${n}`)).to.equal(401);
      await alert.waitFor();
      expect(await alert.textContent()).to.equal("Sign-in failed: the e-mail address, password or code is not right. Check them and try again (a code works only once).");
    }
    clockOffsetMs += 30_000;
    expect(await attempt(user.password)).to.equal(429);
    await alert.filter({ hasText: "locked" }).waitFor();
    expect(await alert.textContent()).to.equal("This account is locked after too many failed sign-ins. Try again in 10 minutes, or ask an owner.");
    expect(await page.getByRole("button", { name: "Sign out" }).count()).to.equal(0);
  });

  it("sends the CSRF token on every change, and the gateway refuses a change without it", async function () {
    const watch = await open();
    const { page } = watch;
    await signIn(page, "owner@a.example");
    const id = paid["tea-100"]?.id ?? "";
    const fulfil = (headers: Record<string, string>) => fetchInPage(page, `/v1/payments/${id}/fulfilment`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: "{}" });

    watch.allow(/status of 403 .*\/fulfilment\)$/);
    expect(await fulfil({ "idempotency-key": "csrf-less" })).to.deep.equal({ status: 403, code: "CSRF_TOKEN_INVALID" });
    expect(await fulfil({ "idempotency-key": "csrf-wrong", "x-csrf-token": "not-the-token" })).to.deep.equal({ status: 403, code: "CSRF_TOKEN_INVALID" });
    expect((await gw.storage.orders.get(id))?.fulfilment).to.equal(undefined);

    // The page's own action carries the token: through the confirmation, the same change goes through.
    await page.goto(`${baseUrl}/dashboard/payments/${id}`);
    await page.getByRole("button", { name: "Mark fulfilled" }).waitFor();
    // Phone width: the payment's page is no wider than the screen.
    expect(await page.evaluate<number>("document.documentElement.scrollWidth")).to.be.at.most(PHONE.width);
    await page.getByRole("button", { name: "Mark fulfilled" }).click();
    await page.getByRole("group", { name: "Confirm" }).getByRole("button", { name: "Yes, do it" }).click();
    await page.getByText("Marked fulfilled —").waitFor();
    expect((await gw.storage.orders.get(id))?.fulfilment?.operationId).to.match(/^0x/);
  });

  it("keeps a merchant's user to its own merchant's payments, by URL and by API", async function () {
    const watch = await open();
    const { page } = watch;
    await signIn(page, "owner@b.example");
    await page.getByRole("link", { name: "Payments" }).click();
    await page.getByRole("link", { name: "b-1" }).waitFor();
    expect(await page.evaluate<number>("document.documentElement.scrollWidth"), "the payments list at phone width").to.be.at.most(PHONE.width);
    const theirs = paid["tea-100"]?.id ?? "";
    watch.allow(new RegExp(`status of 404 .*/v1/payments/${theirs}\\)$`));
    await page.goto(`${baseUrl}/dashboard/payments/${theirs}`);
    await page.getByRole("heading", { name: "Payment not found" }).waitFor();
    expect(await page.getByText("tea-100").count()).to.equal(0);
    expect(await fetchInPage(page, `/v1/payments/${theirs}`)).to.deep.equal({ status: 404, code: "PAYMENT_NOT_FOUND" });
    // Their own payment, by the same means, is there.
    expect((await fetchInPage(page, `/v1/payments/${paid["b-1"]?.id ?? ""}`)).status).to.equal(200);
    await page.goto(`${baseUrl}/dashboard/payments/${paid["b-1"]?.id ?? ""}`);
    await page.getByRole("heading", { name: "Order b-1" }).waitFor();
  });

  it("brings the sign-in form back when the session ends while the page is open", async function () {
    const watch = await open();
    const { page, context } = watch;
    await signIn(page, "owner@a.example");
    await page.getByRole("heading", { name: "Overview", level: 1 }).waitFor();
    // The session ends outside this page (as after idle expiry or a sign-out elsewhere).
    await context.clearCookies();
    watch.allow(/status of 401 .*\/v1\/payments\?limit=20\)$/);
    await page.getByRole("link", { name: "Payments" }).click();
    await page.getByRole("heading", { name: "Sign in to the merchant dashboard" }).waitFor();
  });

  it("lets an invited user set a password, enrol TOTP from the page once, and sign in with the role given", async function () {
    const modules = { storage: gw.storage, secrets: gw.secrets, now };
    const { invitationToken } = await inviteUser(shopA.id, { email: "op@a.example", role: "operator" }, { actor: "local:test", role: "admin" }, modules, { invitationTtlSeconds: 3600 });
    const { page } = await open(`/dashboard/invite#token=${invitationToken}`);
    await page.getByLabel("Choose a password (at least 12 characters)").fill("operator password 1");
    await page.getByLabel("Repeat the password").fill("operator password 1");
    await page.getByRole("button", { name: "Set password" }).click();
    await page.getByRole("heading", { name: "Password set: now enrol your authenticator" }).waitFor();
    const secret = (await page.getByLabel("Secret").textContent()) ?? "";
    expect(secret).to.match(/^[A-Z2-7]{32,}$/);
    users["op@a.example"] = { password: "operator password 1", secret };

    await page.getByRole("link", { name: "Go to sign-in" }).click();
    await signIn(page, "op@a.example");
    expect(await page.getByText("op@a.example (operator)").count()).to.equal(1);
    // Operators see no API keys (owners manage them).
    await page.getByRole("link", { name: "Developers" }).click();
    await page.getByRole("heading", { name: "Webhook endpoints" }).waitFor();
    expect(await page.getByRole("heading", { name: "API keys" }).count()).to.equal(0);
  });

  it("lets the owner create, rotate and revoke API keys, seeing each secret once", async function () {
    const { page } = await open();
    await signIn(page, "owner@a.example");
    await page.getByRole("link", { name: "Developers" }).click();
    await page.getByRole("heading", { name: "API keys" }).waitFor();
    await page.getByRole("button", { name: "Create API key" }).click();
    const secretShown = page.getByRole("status").filter({ hasText: "Copy this secret now" });
    await secretShown.waitFor();
    const keyId = /Secret of (key_[0-9a-f]{32})/.exec((await secretShown.textContent()) ?? "")?.[1] ?? "";
    await page.getByRole("button", { name: "Rotate: new key, others expire in 24 hours" }).click();
    await page.getByRole("status").filter({ hasText: /Secret of key_/ }).filter({ hasNotText: keyId }).waitFor();
    await page.getByText(`${keyId} — expires`).waitFor();
    await page.getByRole("button", { name: `Revoke ${keyId}` }).click();
    await page.getByRole("group", { name: "Confirm" }).getByRole("button", { name: "Yes, do it" }).click();
    await page.getByText(`${keyId} — revoked`).waitFor();
  });

  it("shows the balance held in escrow and refuses, in words, a statement of a cycle that has not closed", async function () {
    const watch = await open();
    watch.allow(/status of 404 .*\/v1\/statements\?cycle=99999999&format=csv\)$/);
    const { page } = watch;
    await signIn(page, "owner@a.example");
    await page.getByRole("link", { name: "Balance" }).click();
    // tea-100 (¥100.00, fulfilled) and tea-200 (¥250.00 less the ¥12.34 refunded) are held.
    await page.getByLabel("Held in escrow", { exact: true }).filter({ hasText: "¥337.66" }).waitFor({ timeout: SHOWN_WITHIN_MS });
    await page.getByLabel("Settlement cycle number").fill("99999999");
    await page.getByRole("button", { name: "Download statement (CSV)" }).click();
    await page.getByRole("alert").filter({ hasText: "There is no statement for that cycle: it has not closed yet, or nothing was settled in it." }).waitFor();
  });

  it("rotates a webhook endpoint's secret online: later deliveries verify with the new secret, one not received yet is sent again", async function () {
    const watch = await open();
    const { page } = watch;
    await signIn(page, "owner@a.example");
    await page.getByRole("link", { name: "Developers" }).click();
    await page.getByLabel("Endpoint URL").fill(receiver.url);
    await page.getByRole("button", { name: "Add endpoint" }).click();
    const first = page.getByRole("status").filter({ hasText: "whsec_" });
    await first.waitFor();
    const oldSecret = (await first.getByLabel("Signing secret").textContent()) ?? "";
    expect(oldSecret).to.match(/^whsec_/);
    receiver.secret = oldSecret;

    await page.getByRole("button", { name: `Rotate the signing secret of ${receiver.url}` }).click();
    const confirm = page.getByRole("group", { name: "Confirm" });
    expect(await confirm.getByText("Give this endpoint a new signing secret now?", { exact: false }).count()).to.equal(1);
    await confirm.getByRole("button", { name: "Yes, do it" }).click();
    const label = `New signing secret of ${receiver.url}`;
    await page.getByLabel(label).waitFor();
    const newSecret = (await page.getByLabel(label).textContent()) ?? "";
    expect(newSecret).to.match(/^whsec_/);
    expect(newSecret).to.not.equal(oldSecret);

    // The receiver still checks the old secret: the next event's delivery is refused and retried.
    const order = await requestsOf(() => shopA).paidOrder<PaymentView>(net.scenario.payers[0] as Wallet | HDNodeWallet, "tea-300", { amount: "3000", expiresIn: 86_400 });
    await waitFor("a delivery the receiver refused", () => receiver.rejected.length > 0, SHOWN_WITHIN_MS, 50);
    expect(receiver.rejected.every((r) => r === "no matching signature")).to.equal(true);
    await page.getByRole("button", { name: `Recent deliveries to ${receiver.url}` }).click();
    const row = page.getByRole("list", { name: `Recent deliveries to ${receiver.url}` }).getByRole("listitem").filter({ hasText: "payment.held" });
    await row.filter({ hasText: "retrying" }).waitFor();
    const eventId = (await row.getAttribute("data-delivery")) ?? "";

    // The receiver now has the new secret: sending it again from the page delivers it at once.
    receiver.secret = newSecret;
    await row.getByRole("button", { name: `Send event ${eventId} again to this endpoint` }).click();
    const held = await waitFor("the held event, verified", () => receiver.ofType("payment.held").find((w) => w.payload.data["id"] === order.id), SHOWN_WITHIN_MS, 50);
    expect(held.id).to.equal(eventId);
    const headers = { "webhook-id": held.id, "webhook-timestamp": String(held.timestamp), "webhook-signature": held.signature };
    expect(verifyStandardWebhook(newSecret, headers, held.body, held.timestamp)).to.equal(undefined);
    expect(verifyStandardWebhook(oldSecret, headers, held.body, held.timestamp)).to.equal("no matching signature");
    // The list follows a delivery still under way until it settles.
    await row.filter({ hasText: "delivered" }).waitFor({ timeout: SHOWN_WITHIN_MS });
    expect(await row.getByRole("button").count(), "a delivered event is not offered again here").to.equal(0);
    await page.screenshot({ path: `${SCREENSHOTS}dashboard-developers.png`, fullPage: true });
  });

  it("adds a webhook endpoint, its signing secret shown once", async function () {
    const { page } = await open();
    await signIn(page, "owner@a.example");
    await page.getByRole("link", { name: "Developers" }).click();
    await page.getByLabel("Endpoint URL").fill("https://hooks.example.com/settlenet");
    await page.getByRole("button", { name: "Add endpoint" }).click();
    await page.getByRole("status").filter({ hasText: "whsec_" }).waitFor();
    await page.getByText("https://hooks.example.com/settlenet").waitFor();
  });
  it("shows a dispute with the payer's reason, makes a top-up and a transfer after a confirmation, and reports reconciliation and payments by state", async function () {
    const payer = net.scenario.payers[0] as Wallet | HDNodeWallet;
    const { get, post, poll, paidOrder } = requestsOf(() => shopA);
    const disputed = await paidOrder<PaymentView>(payer, "tea-500", { amount: "4200", expiresIn: 86_400 });
    const reason = "Tea arrived stale";
    const payload = await get<{ typedData: { domain: Record<string, unknown>; types: Record<string, { name: string; type: string }[]>; message: Record<string, unknown> }; nonce: string; deadline: string }>(
      `/v1/payments/${disputed.id}/dispute?reason=${encodeURIComponent(reason)}`,
    );
    const signature = await payer.signTypedData(payload.body.typedData.domain, payload.body.typedData.types, payload.body.typedData.message);
    expect((await post(`/v1/payments/${disputed.id}/dispute`, { nonce: payload.body.nonce, deadline: payload.body.deadline, signature, reason })).status).to.equal(202);
    await poll<PaymentView>("the dispute", `/v1/payments/${disputed.id}`, (v) => v.status === "disputed");

    const { page } = await open();
    await signIn(page, "owner@a.example");
    await page.getByRole("link", { name: "Disputes" }).click();
    const dispute = page.locator(`[data-dispute="${disputed.id}"]`);
    await dispute.waitFor();
    expect(await dispute.getByRole("link", { name: "tea-500" }).count()).to.equal(1);
    expect(await dispute.getByText(`Payer's reason: ${reason}`).count()).to.equal(1);
    expect(await page.locator("[data-dispute]").count(), "only open disputes of this merchant").to.equal(1);

    // A top-up from the registered bank account: nothing is asked of the bank before the confirmation.
    await page.getByRole("link", { name: "Top-ups" }).click();
    await page.getByLabel("Amount in yuan").fill("50");
    await page.getByLabel("Your registered bank account").fill("merchant-0");
    await page.getByRole("button", { name: "Top up", exact: true }).click();
    const confirmTopup = page.getByRole("group", { name: "Confirm" });
    expect(await confirmTopup.getByText("Collect ¥50.00 from bank account merchant-0 and add it to your balance?").count()).to.equal(1);
    expect((await get<{ items: unknown[] }>("/v1/topups")).body.items).to.deep.equal([]);
    await confirmTopup.getByRole("button", { name: "Yes, do it" }).click();
    const topup = page.locator("[data-topup]").filter({ hasText: "¥50.00" });
    await topup.filter({ hasText: "completed" }).waitFor({ timeout: SHOWN_WITHIN_MS });
    const topups = (await get<{ items: { id: string; stage: string; amount: string }[] }>("/v1/topups")).body.items;
    expect(topups.map((x) => [x.stage, x.amount])).to.deep.equal([["completed", "5000"]]);
    expect(await topup.getAttribute("data-topup")).to.equal(topups[0]?.id);

    // A transfer to the other merchant, less its fee.
    await page.getByRole("link", { name: "Transfers" }).click();
    await page.getByLabel("Recipient merchant's account (0x…)").fill(shopB.address);
    await page.getByLabel("Amount in yuan").fill("10");
    await page.getByLabel("Your reference (letters, digits, . _ : -)").fill("settle-1");
    await page.getByRole("button", { name: "Transfer", exact: true }).click();
    const confirmTransfer = page.getByRole("group", { name: "Confirm" });
    expect(await confirmTransfer.getByText(`Transfer ¥10.00 to ${shopB.address} (reference settle-1)? This cannot be undone.`).count()).to.equal(1);
    await confirmTransfer.getByRole("button", { name: "Yes, do it" }).click();
    const transfer = page.locator('[data-transfer="settle-1"]');
    await transfer.filter({ hasText: "executed on-chain" }).waitFor({ timeout: SHOWN_WITHIN_MS });
    const transfers = (await get<{ items: { fee: string; netAmount: string; status: string }[] }>("/v1/transfers")).body.items;
    expect(transfers.map((x) => [x.status, x.fee, x.netAmount])).to.deep.equal([["executed", "10", "990"]]);
    expect(await transfer.getByText("Fee ¥0.10, the recipient receives ¥9.90").count()).to.equal(1);

    // The reconciliation page says what the report says, and its CSV is the API's.
    await page.getByRole("link", { name: "Reconciliation" }).click();
    await page.getByRole("heading", { name: /^Breaks: \d+$/ }).waitFor({ timeout: SHOWN_WITHIN_MS });
    const report = (await get<{ breaks: { kind: string; ref: string }[]; counts: { orders: number; topups: number; transfers: number } }>("/v1/reports/threeway")).body;
    expect(await page.getByRole("heading", { name: /^Breaks: / }).textContent()).to.equal(`Breaks: ${report.breaks.length}`);
    expect(await page.getByLabel("Top-ups at the gateway", { exact: true }).textContent()).to.equal(String(report.counts.topups));
    expect(await page.getByLabel("Transfers at the gateway", { exact: true }).textContent()).to.equal(String(report.counts.transfers));
    expect(await page.locator("[data-break]").count()).to.equal(report.breaks.length);
    const [csvDownload] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Download report (CSV)" }).click()]);
    const csv = await readFile(await csvDownload.path(), "utf8");
    const apiCsv = await gw.app.inject({ method: "GET", url: "/v1/reports/threeway?format=csv", headers: { cookie: (await page.context().cookies()).map((c) => `${c.name}=${c.value}`).join("; ") } });
    expect(csv.split("\n")[0]).to.equal(apiCsv.body.split("\n")[0]);
    expect(csv.split("\n").length).to.equal(apiCsv.body.split("\n").length);
    await page.screenshot({ path: `${SCREENSHOTS}dashboard-reconciliation.png`, fullPage: true });

    // Payments by state on the overview: the disputed one among them.
    await page.getByRole("link", { name: "Overview" }).click();
    const byState = page.locator('[data-state="disputed"]');
    await byState.waitFor();
    expect(await byState.getByLabel("Disputed: count and volume").textContent()).to.equal("count 1, volume ¥42.00");
    await page.setViewportSize(DESKTOP);
    await page.screenshot({ path: `${SCREENSHOTS}dashboard-overview.png`, fullPage: true });
  });
  it("lets the owner add a note for the arbiter to an open dispute, shown as text and kept by the node", async function () {
    const { get } = requestsOf(() => shopA);
    const disputes = (await get<{ items: { payment: { id: string; merchantOrderId: string } }[] }>("/v1/disputes?status=disputed")).body.items;
    const disputed = disputes.find((d) => d.payment.merchantOrderId === "tea-500");
    if (!disputed) throw new Error("no open dispute tea-500");
    const { page } = await open();
    await signIn(page, "owner@a.example");
    await page.getByRole("link", { name: "Disputes" }).click();
    const dispute = page.locator(`[data-dispute="${disputed.payment.id}"]`);
    await dispute.waitFor();
    // Markup in a note is text: it is shown as typed and never becomes an element.
    const text = "Sent 2 Dec by SF Express; <img src=x onerror=alert(1)> the payer signed for it.";
    await dispute.getByLabel("Note for the arbiter").fill(text);
    await dispute.getByLabel("Evidence references (e.g. a tracking number), comma separated").fill("SF1234567890, photo-7");
    await dispute.getByRole("button", { name: "Add note" }).click();
    await dispute.getByRole("status").filter({ hasText: "Note added; every institution's arbiter can read it." }).waitFor({ timeout: SHOWN_WITHIN_MS });
    await dispute.getByText(text, { exact: true }).waitFor();
    expect(await dispute.getByText("Evidence: SF1234567890, photo-7").count()).to.equal(1);
    expect(await dispute.locator("img").count()).to.equal(0);
    expect(await dispute.getByLabel("Note for the arbiter").inputValue()).to.equal("");
    const notes = (await get<{ items: { text: string; evidence: string[] }[] }>(`/v1/disputes/${disputed.payment.id}/notes`)).body.items;
    expect(notes.map((n) => [n.text, n.evidence])).to.deep.equal([[text, ["SF1234567890", "photo-7"]]]);
  });
  it("works by keyboard at phone width: signs in and opens a payment; every button on every page is reachable, named and visibly focused", async function () {
    const { page } = await open();
    const user = users["owner@a.example"];
    if (!user) throw new Error("no user");
    clockOffsetMs += 30_000;
    await page.getByRole("heading", { name: "Sign in to the merchant dashboard" }).waitFor();
    // Sign in with the keyboard only: Tab to each field, type, Enter submits.
    const typeInto = async (label: string, text: string) => {
      for (let step = 0; step < 20; step++) {
        await page.keyboard.press("Tab");
        if ((await page.evaluate<string | null>("document.activeElement?.labels?.[0]?.textContent ?? null")) === label) {
          await page.keyboard.type(text);
          return;
        }
      }
      throw new Error(`Tab never reached ${label}`);
    };
    await typeInto("E-mail address", "owner@a.example");
    await typeInto("Password", user.password);
    await typeInto("Code from your authenticator app", totpCode(user.secret, now()));
    await page.keyboard.press("Enter");
    await page.getByRole("button", { name: "Sign out" }).waitFor();

    /** Tabs through the whole page once; every focused control's name and focus outline, in order. */
    const tabThrough = async () => {
      await page.evaluate("document.activeElement?.blur()");
      const seen: { key: string; name: string; outline: string }[] = [];
      for (let step = 0; step < 300; step++) {
        await page.keyboard.press("Tab");
        // Runs in the page (the test's tsconfig has no DOM types): the focused control, marked as reached.
        const focused = await page.evaluate<{ key: string; name: string; outline: string } | null>(`(() => {
          const el = document.activeElement;
          if (!el || el === document.body) return null;
          const style = getComputedStyle(el);
          const name = (el.getAttribute("aria-label") ?? el.labels?.[0]?.textContent ?? el.textContent ?? "").trim();
          el.dataset.tabSeen = "yes";
          // A date field's calendar button has its focus inside the browser's own shadow tree (styled by the console's CSS too), not on the field.
          if (!el.matches(":focus")) return { key: el.tagName + ":" + name + ":inner", name, outline: "inner control" };
          return { key: el.tagName + ":" + name, name, outline: style.outlineStyle === "none" || style.outlineWidth === "0px" ? "" : style.outlineStyle + " " + style.outlineWidth };
        })()`);
        if (!focused) continue;
        if (seen.some((s) => s.key === focused.key) && seen[0]?.key === focused.key) break;
        seen.push(focused);
      }
      // Every enabled button on the page was reached by Tab.
      const missed = await page.evaluate<string[]>(
        `[...document.querySelectorAll("button")].filter((b) => !b.disabled && b.offsetParent !== null && b.dataset.tabSeen !== "yes").map((b) => b.getAttribute("aria-label") ?? b.textContent)`,
      );
      return { seen, missed };
    };
    const pages: [string, string][] = [
      ["Overview", "Overview"],
      ["Payments", "Payments"],
      ["Disputes", "Disputes"],
      ["Balance", "Balance and payouts"],
      ["Top-ups", "Top-ups"],
      ["Transfers", "Transfers"],
      ["Reconciliation", "Three-way reconciliation"],
      ["Developers", "Developers"],
    ];
    for (const [link, heading] of pages) {
      await page.getByRole("link", { name: link, exact: true }).click();
      await page.getByRole("heading", { level: 1, name: heading }).waitFor();
      await page.getByText("Loading…").first().waitFor({ state: "detached" });
      const { seen, missed } = await tabThrough();
      expect(missed, `buttons on ${link} that Tab never reaches`).to.deep.equal([]);
      expect(seen.filter((s) => s.name === ""), `controls without a name on ${link}`).to.deep.equal([]);
      expect(seen.filter((s) => s.outline === ""), `controls without a visible focus on ${link}`).to.deep.equal([]);
      expect(await page.evaluate<number>("document.documentElement.scrollWidth"), `${link} at phone width`).to.be.at.most(PHONE.width);
    }

    // Open a payment from the list with the keyboard: focus its link, Enter.
    await page.getByRole("link", { name: "Payments", exact: true }).click();
    await page.getByRole("link", { name: "tea-100" }).focus();
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { name: "Order tea-100" }).waitFor();
    const { seen, missed } = await tabThrough();
    expect(missed, "buttons on the payment's page that Tab never reaches").to.deep.equal([]);
    expect(seen.filter((s) => s.name === "" || s.outline === "")).to.deep.equal([]);
    expect(await page.evaluate<number>("document.documentElement.scrollWidth"), "the payment at phone width").to.be.at.most(PHONE.width);
    await page.screenshot({ path: `${SCREENSHOTS}dashboard-payment-phone.png`, fullPage: true });
  });
  it("downloads a finalized settlement cycle's statement as CSV, the same as the API's", async function () {
    // A direct payment settles in its cycle; the cycle is closed by a block at the next one's start and finalized by the node.
    const direct = await requestsOf(() => shopA).paidOrder<PaymentView>(net.scenario.payers[0] as Wallet | HDNodeWallet, "tea-direct", { mode: "direct", amount: "2000", expiresIn: 86_400 }, "released");
    const [pay] = await waitForOperation(net.nodes.slice(0, 1), direct.paymentId, "executed");
    const paidAt = pay?.execution?.timestamp;
    if (paidAt === undefined) throw new Error("the node has no execution of the pay");
    const cycle = Math.floor(paidAt / CYCLE);
    const provider = net.scenario.chain.provider;
    const chainTime = (await provider.getBlock("latest"))?.timestamp ?? 0;
    await provider.send("evm_setNextBlockTimestamp", [Math.max((cycle + 1) * CYCLE, chainTime + 1)]);
    await provider.send("evm_mine", []);
    await waitFor("the cycle to be finalized", () => net.scenario.contracts.ledger.isFinalized(BigInt(cycle)), SHOWN_WITHIN_MS, 500);

    const { page } = await open();
    await signIn(page, "owner@a.example");
    await page.getByRole("link", { name: "Balance" }).click();
    await page.getByLabel("Settlement cycle number").fill(String(cycle));
    const [statement] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Download statement (CSV)" }).click()]);
    expect(statement.suggestedFilename()).to.equal(`statement-${cycle}.csv`);
    const csv = await readFile(await statement.path(), "utf8");
    const api = await waitFor("the statement from the API", async () => {
      const res = await requestsOf(() => shopA).get<{ records: { kindName: string; amount: string; recordId?: string }[] }>(`/v1/statements?cycle=${cycle}`);
      return res.status === 200 ? res.body : undefined;
    });
    const lines = csv.trim().split("\n");
    expect(lines[0]).to.equal("cycle_id,section,kind,record_id,account,counterparty,token,amount,fee,net,refunded,reclaimed,payments");
    expect(lines.every((l, i) => i === 0 || l.startsWith(`${cycle},`)), "every row of this cycle").to.equal(true);
    // The same rows as the API's own CSV, and a record row per record of the JSON statement.
    const apiCsv = await gw.app.inject({ method: "GET", url: `/v1/statements?cycle=${cycle}&format=csv`, headers: { cookie: (await page.context().cookies()).map((c) => `${c.name}=${c.value}`).join("; ") } });
    expect(csv).to.equal(apiCsv.body);
    expect(lines.filter((l) => l.split(",")[1] === "record")).to.have.length(api.records.length);
    expect(api.records.filter((r) => r.kindName === "directPayment" && r.amount === "2000")).to.have.length(1);
    expect(lines.filter((l) => l.includes(",record,directPayment,") && l.includes(`,${shopA.address},`) && l.includes(",2000,"))).to.have.length(1);
  });
});
