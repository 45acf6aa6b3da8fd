/**
 * The merchant dashboard in a real Chromium against real parts: a chain, one institution node
 * process, the gateway listening on a port (LevelDB in a temp dir) with two merchants, and the built
 * console. Owners are created as the CLI does; payments are paid by a payer's signature through the
 * node and chain. Any page error or console error fails a test, except the refusals a test provokes
 * (named with `allow`). Writes the payments list and payment timeline screenshots to docs/screenshots/.
 */
import { mkdir, readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";

import { expect } from "chai";
import { Wallet, type HDNodeWallet } from "ethers";
import type { Browser, Page } from "playwright-core";
import { pino } from "pino";

import { MoneyChain } from "../../gateway/adapters/money-chain.js";
import { createOwner, inviteUser } from "../../gateway/domain/users.js";
import { totpCode } from "../../core/auth/totp.js";
import { ensureConsoleBuilt } from "../../scripts/lib/launch/console.js";
import { freePort, launchNetwork, waitFor, type TestNetwork } from "../helpers/network.js";
import { gatewayFixture, merchantRequests, type GatewayFixture, type TestMerchant } from "../gateway/fixture.js";
import { PHONE, launchChromium, walletPage, type WatchedPage } from "./browser.js";

const SCREENSHOTS = fileURLToPath(new URL("../../docs/screenshots/", import.meta.url));
/** Bounds only how long a page may take to show a state (the chain and the node are real). */
const SHOWN_WITHIN_MS = 120_000;
const DESKTOP = { width: 1200, height: 900 };

interface PaymentView {
  id: string;
  status: string;
  typedData: null;
  refunds: { amount: string; reason: string; status: string }[];
}

describe("console: merchant dashboard in Chromium (chain, node, gateway)", function () {
  this.timeout(300_000);
  let net: TestNetwork;
  let gw: GatewayFixture;
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
  const requestsOf = (merchant: () => TestMerchant) => merchantRequests(() => gw, merchant);

  before(async function () {
    const consoleBuild = await ensureConsoleBuilt();
    if (!consoleBuild.built) throw new Error(`the console did not build:\n${consoleBuild.output}`);
    net = await launchNetwork({ institutions: 1, regulator: false, merchants: 2, payers: 1 });
    const node = net.nodes[0];
    if (!node) throw new Error("no node");
    // Known before the gateway is built: its public URL (links in invitations and e-mails) names it.
    const port = await freePort();
    baseUrl = `http://127.0.0.1:${port}`;
    gw = await gatewayFixture({
      scenario: net.scenario,
      nodeUrl: node.apiUrl,
      now,
      // Chain access for the balance page.
      money: () => ({ chain: new MoneyChain(net.scenario.chain.url, net.scenario.deployment, { logger: pino({ level: "silent" }) }) }),
      // The webhook endpoint's host name, as a resolver would answer it (a public address).
      resolve: async () => [{ address: "93.184.215.14", family: 4 }],
      app: { publicUrl: baseUrl, dashboard: { maxFailures: 3, lockoutSeconds: 600 }, signInRateLimit: { max: 1_000, timeWindowMs: 60_000 } },
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
    browser = await launchChromium();
    await mkdir(SCREENSHOTS, { recursive: true });
  });
  afterEach(async function () {
    const page = watched;
    watched = undefined;
    if (!page) return;
    try {
      page.check();
    } finally {
      await page.close();
    }
  });
  after(async function () {
    await browser?.close();
    await gw?.close();
    await net?.stop();
  });

  /** A fresh browser (no cookie) on the dashboard; its first look for a session is refused (401), as expected. */
  const open = async (path = "/dashboard") => {
    // The page needs no wallet; the watched page comes with one nobody asks.
    watched = await walletPage(browser, { wallet: Wallet.createRandom(), chainId: 1n });
    watched.allow(/status of 401 .*\/dashboard\/api\/session\)$/);
    await watched.page.goto(`${baseUrl}${path}`);
    return watched;
  };
  const fillSignIn = async (page: Page, email: string, password: string, code: string) => {
    await page.getByLabel("E-mail address").fill(email);
    await page.getByLabel("Password").fill(password);
    await page.getByLabel("Code from your authenticator app").fill(code);
    await page.getByRole("button", { name: "Sign in" }).click();
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

  it("adds a webhook endpoint, its signing secret shown once", async function () {
    const { page } = await open();
    await signIn(page, "owner@a.example");
    await page.getByRole("link", { name: "Developers" }).click();
    await page.getByLabel("Endpoint URL").fill("https://hooks.example.com/settlenet");
    await page.getByRole("button", { name: "Add endpoint" }).click();
    await page.getByRole("status").filter({ hasText: "whsec_" }).waitFor();
    await page.getByText("https://hooks.example.com/settlenet").waitFor();
  });
});
