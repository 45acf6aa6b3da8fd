/**
 * Real-browser helpers for the console's tests: Debian's Chromium driven by playwright-core (launched
 * once the console is built), a page at phone width whose `window.ethereum` is an EIP-1193 provider
 * backed by a test ethers wallet (the page asks, the wallet in this process answers), a watch that
 * fails the test on any page error or console error (`check()`), unless the test names the one it
 * provokes, and the sign-in form the dashboard and the node consoles share.
 */
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";

import { expect } from "chai";
import { Wallet, type HDNodeWallet, type TypedDataField } from "ethers";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";

import { ensureConsoleBuilt } from "../../scripts/lib/launch/console.js";

/** Debian's Chromium (`apt-get install -y chromium`; .ci/run installs it when missing). */
export const CHROMIUM = process.env["SETTLENET_CHROMIUM"] ?? "/usr/bin/chromium";

/** A small phone's screen (375 CSS px, as an iPhone SE or mini): the console must work at this width. */
export const PHONE = { width: 375, height: 812 };
/** A laptop's window, for the screenshots of the wider pages. */
export const DESKTOP = { width: 1200, height: 900 };

/** Where the browser tests write the screenshots the README shows. */
export const SCREENSHOTS = fileURLToPath(new URL("../../docs/screenshots/", import.meta.url));

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: install it with \`apt-get install -y chromium\` (or set SETTLENET_CHROMIUM)`);
  // Root in CI: Chromium's sandbox needs an unprivileged user.
  return chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-dev-shm-usage"] });
}

/** Builds the console when its dist is missing (the servers under test serve it), then launches Chromium. */
export async function launchConsoleBrowser(): Promise<Browser> {
  const build = await ensureConsoleBuilt();
  if (!build.built) throw new Error(`the console did not build:\n${build.output}`);
  await mkdir(SCREENSHOTS, { recursive: true });
  return launchChromium();
}

export interface TestWallet {
  /** The signing key behind `window.ethereum`. */
  wallet: Wallet | HDNodeWallet;
  chainId: bigint;
  /** Runs before each signature is returned (a test moves the gateway's clock here). */
  beforeSign?: () => void | Promise<void>;
}

export interface WatchedPage {
  page: Page;
  context: BrowserContext;
  /** Every EIP-1193 method the page called, in order. */
  walletCalls: string[];
  /** Lets console errors matching `pattern` through (the one refusal a test provokes). */
  allow(pattern: RegExp): void;
  /** Fails if the page threw or logged an error not allowed. */
  check(): void;
  close(): Promise<void>;
}

/** The watch on each open context, so that the check after a test finds every page the test left open. */
const watchedPages = new WeakMap<BrowserContext, WatchedPage>();

/** A new page at phone width with the test wallet injected and errors watched. */
export async function walletPage(browser: Browser, testWallet: TestWallet): Promise<WatchedPage> {
  const context = await browser.newContext({ viewport: PHONE, locale: "en-US" });
  const page = await context.newPage();
  const errors: string[] = [];
  const allowed: RegExp[] = [];
  const walletCalls: string[] = [];
  page.on("pageerror", (error) => errors.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(`console error: ${message.text()} (${message.location().url})`);
  });

  await page.exposeFunction("__settlenetWallet", async (method: string, paramsJson: string): Promise<string> => {
    walletCalls.push(method);
    const params = JSON.parse(paramsJson) as unknown[];
    const { wallet, chainId } = testWallet;
    switch (method) {
      case "eth_requestAccounts":
      case "eth_accounts":
        return JSON.stringify([wallet.address]);
      case "eth_chainId":
        return JSON.stringify(`0x${chainId.toString(16)}`);
      case "eth_signTypedData_v4": {
        const [account, json] = params as [string, string];
        if (account.toLowerCase() !== wallet.address.toLowerCase()) throw new Error(`the wallet holds ${wallet.address}, not ${account}`);
        const data = JSON.parse(json) as { domain: Record<string, unknown>; types: Record<string, TypedDataField[]>; message: Record<string, unknown> };
        // ethers derives the domain type itself.
        const { EIP712Domain: _domainType, ...types } = data.types;
        const signature = await wallet.signTypedData(data.domain, types, data.message);
        await testWallet.beforeSign?.();
        return JSON.stringify(signature);
      }
      default:
        throw new Error(`the test wallet does not implement ${method}`);
    }
  });
  // Runs in the page before its own scripts: the provider forwards each request to the wallet above.
  await page.addInitScript(`
    window.ethereum = {
      isSettlenetTestWallet: true,
      request: async ({ method, params }) => JSON.parse(await window.__settlenetWallet(method, JSON.stringify(params ?? []))),
      on: () => undefined,
      removeListener: () => undefined,
    };
  `);

  const watched: WatchedPage = {
    page,
    context,
    walletCalls,
    allow: (pattern) => allowed.push(pattern),
    check() {
      expect(errors.filter((e) => !allowed.some((p) => p.test(e)))).to.deep.equal([]);
    },
    close: () => context.close(),
  };
  watchedPages.set(context, watched);
  return watched;
}

/** A watched page for a page that asks no wallet (the watched page comes with one nobody asks). */
export function plainPage(browser: Browser): Promise<WatchedPage> {
  return walletPage(browser, { wallet: Wallet.createRandom(), chainId: 1n });
}

/**
 * For `afterEach`: fails if a page the test left open threw or logged an error it did not allow, and
 * closes every such page, so that the next test starts with none.
 */
export async function checkPagesLeftOpen(browser: Browser | undefined): Promise<void> {
  const contexts = browser?.contexts() ?? [];
  try {
    for (const context of contexts) watchedPages.get(context)?.check();
  } finally {
    await Promise.all(contexts.map((context) => context.close()));
  }
}

/** Fills the console's sign-in form (e-mail, password, authenticator code) and submits it. */
export async function fillSignIn(page: Page, email: string, password: string, code: string): Promise<void> {
  await page.getByLabel("E-mail address").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByLabel("Code from your authenticator app").fill(code);
  await page.getByRole("button", { name: "Sign in" }).click();
}
