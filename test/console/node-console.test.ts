/**
 * The consoles a node serves, in a real Chromium against a real network (chain, an institution node
 * and a regulator node, both processes): the page under the console's Content-Security-Policy, sign-in
 * with password and TOTP, navigation by role, the language switch, sign-out, and a role kept out of
 * another's pages by URL and by API (403 FORBIDDEN). Any page error or console error fails a test.
 */
import { expect } from "chai";
import { Wallet } from "ethers";
import type { Browser } from "playwright-core";

import { CONSOLE_CSP } from "../../core/http/console.js";
import { NODE_SESSION_COOKIE } from "../../core/api/auth.js";
import { checkPagesLeftOpen, launchConsoleBrowser, walletPage, type WatchedPage } from "../helpers/browser.js";
import { launchConsoleNetwork, nextTotp, signedInConsole, type ConsoleNetwork } from "./node-helpers.js";

describe("console: node consoles in Chromium (sign-in, roles, language)", function () {
  this.timeout(300_000);
  let net: ConsoleNetwork;
  let browser: Browser;
  let watched: WatchedPage | undefined;

  before(async function () {
    browser = await launchConsoleBrowser();
    net = await launchConsoleNetwork({
      institutions: 1,
      users: {
        "reg@regulator.example": { role: "regulator", node: "regulator" },
        "reg2@regulator.example": { role: "regulator", node: "regulator" },
        "reg3@regulator.example": { role: "regulator", node: "regulator" },
        "ops@bank.example": { role: "operator", node: "institution-0" },
      },
    });
  });
  afterEach(() => checkPagesLeftOpen(browser));
  after(async function () {
    await browser?.close();
    await net?.net.stop();
  });

  const user = (email: string) => net.user(email);

  it("serves the console at /console/ without a credential, under the console's Content-Security-Policy, and its API stays closed", async function () {
    const base = net.node("regulator").apiUrl;
    for (const path of ["/console", "/console/regulator/audit"]) {
      const page = await fetch(`${base}${path}`);
      expect(page.status, path).to.equal(200);
      expect(page.headers.get("content-security-policy")).to.equal(CONSOLE_CSP);
      expect(await page.text()).to.include('<div id="root">');
    }
    const network = (await (await fetch(`${base}/console/network.json`)).json()) as Record<string, string>;
    expect(Object.keys(network).sort()).to.deep.equal(["chainId", "escrow", "ledger"]);
    const api = await fetch(`${base}/v1/alerts`);
    expect(api.status).to.equal(401);
    expect(((await api.json()) as { code: string }).code).to.equal("UNAUTHENTICATED");
  });

  it("signs a regulator in with password and TOTP: the regulator's pages, the language switch, sign-out brings the form back", async function () {
    watched = await signedInConsole(browser, net, user("reg@regulator.example"));
    const { page } = watched;
    const nav = page.getByRole("navigation");
    for (const label of ["Alerts", "Audit", "Settlement", "Reserves", "Reports"]) await nav.getByRole("link", { name: label }).waitFor();
    expect(await nav.getByRole("link", { name: "Institution" }).count()).to.equal(0);
    await page.getByLabel("Language").selectOption("zh-CN");
    await nav.getByRole("link", { name: "预警" }).waitFor();
    expect(await page.locator("html").getAttribute("lang")).to.equal("zh-CN");
    await page.getByLabel("语言").selectOption("en");
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("heading", { name: "Sign in to the node console" }).waitFor();
    const cookies = await watched.context.cookies();
    expect(cookies.filter((c) => c.name === NODE_SESSION_COOKIE && c.value !== "")).to.deep.equal([]);
  });

  it("refuses a wrong code with SIGNIN_FAILED in words", async function () {
    const reg = user("reg2@regulator.example");
    watched = await walletPage(browser, { wallet: Wallet.createRandom(), chainId: 1n });
    watched.allow(/status of 401 /);
    const { page } = watched;
    await page.goto(`${net.node("regulator").apiUrl}/console`);
    await page.getByLabel("E-mail address").fill(reg.email);
    await page.getByLabel("Password").fill(reg.password);
    const right = nextTotp(reg);
    await page.getByLabel("Code from your authenticator app").fill(right === "000000" ? "111111" : "000000");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("alert").filter({ hasText: "Sign-in failed" }).waitFor();
  });

  it("keeps a regulator out of the institution's pages by URL and by API (403 FORBIDDEN), and an operator out of the regulator's", async function () {
    watched = await signedInConsole(browser, net, user("reg3@regulator.example"), "/console/institution");
    const { page } = watched;
    await page.getByRole("heading", { name: "Not for your role" }).waitFor();
    expect(await page.getByRole("alert").textContent()).to.include("FORBIDDEN");
    // The session's own request to an operator's route answers 403 with the code.
    const backup = await page.evaluate(async () => {
      const response = await fetch("/v1/admin/backup", { credentials: "same-origin" });
      return { status: response.status, body: (await response.json()) as { code: string } };
    });
    expect([backup.status, backup.body.code]).to.deep.equal([403, "FORBIDDEN"]);
    watched.allow(/status of 403 .*\/v1\/admin\/backup\)$/);
  });

  it("shows an operator the institution's pages, not the regulator's", async function () {
    watched = await signedInConsole(browser, net, user("ops@bank.example"), "/console/regulator/audit");
    const { page } = watched;
    await page.getByRole("heading", { name: "Not for your role" }).waitFor();
    await page.getByRole("navigation").getByRole("link", { name: "Institution" }).click();
    await page.getByRole("heading", { name: "Institution" }).waitFor();
  });
});
