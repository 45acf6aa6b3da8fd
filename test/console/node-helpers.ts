/**
 * Browser tests of the consoles a node serves: a network whose nodes hold users (made as
 * `settlenet node user create` makes them, before the nodes start), and a page that signs one in with
 * password and TOTP code. Each sign-in takes a TOTP step the user has not used yet (a code is accepted
 * once), so a user signs in at most twice per 30 seconds; tests give each sign-in its own user.
 */
import { writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";

import { expect } from "chai";
import type { Browser } from "playwright-core";

import { totpCode, totpStep } from "../../core/auth/totp.js";
import { userCommand } from "../../node/api/admin-cli.js";
import { launchNetwork, type NetworkOptions, type NodeHandle, type TestNetwork } from "../helpers/network.js";
import { fillSignIn, plainPage, walletPage, type TestWallet, type WatchedPage } from "../helpers/browser.js";

export type ConsoleRole = "regulator" | "operator" | "arbiter";

/** A node user the test signs in as. */
export interface ConsoleUser {
  email: string;
  role: ConsoleRole;
  password: string;
  totpSecret: string;
  /** The node the user belongs to (name: institution-0, ..., regulator). */
  node: string;
  /** The last TOTP step this test used for the user. */
  lastStep?: number;
}

export interface ConsoleNetwork {
  net: TestNetwork;
  users: Record<string, ConsoleUser>;
  node(name: string): NodeHandle;
  /** The user with that e-mail address, one of `users`. */
  user(email: string): ConsoleUser;
}

/** Starts a network whose nodes hold `users` (by e-mail: role and node). */
export async function launchConsoleNetwork(
  options: NetworkOptions & { users: Record<string, { role: ConsoleRole; node: string }> },
): Promise<ConsoleNetwork> {
  const { users: wanted, ...networkOptions } = options;
  const users: Record<string, ConsoleUser> = {};
  const net = await launchNetwork({
    ...networkOptions,
    beforeStart: async (nodes) => {
      for (const [email, { role, node }] of Object.entries(wanted)) {
        const handle = nodes.find((n) => n.name === node);
        if (!handle) throw new Error(`no node ${node}`);
        const password = `${email} console password`;
        const passwordFile = join(dirname(handle.configFile), `password-${email}.txt`);
        await writeFile(passwordFile, `${password}\n`, { mode: 0o600 });
        let out = "";
        await userCommand(["create", "--config", handle.configFile, "--email", email, "--role", role, "--password-file", passwordFile], (line) => (out += line));
        const created = JSON.parse(out) as { otpauthUri: string };
        const totpSecret = new URL(created.otpauthUri).searchParams.get("secret");
        if (!totpSecret) throw new Error("no TOTP secret in the enrolment URI");
        users[email] = { email, role, password, totpSecret, node };
      }
    },
  });
  const node = (name: string) => {
    const found = net.nodes.find((n) => n.name === name);
    if (!found) throw new Error(`no node ${name}`);
    return found;
  };
  const user = (email: string) => {
    const found = users[email];
    if (!found) throw new Error(`no user ${email}`);
    return found;
  };
  return { net, users, node, user };
}

/** The user's next TOTP code: the current step's, or the next one's when this test used the current one. */
export function nextTotp(user: ConsoleUser, nowMs = Date.now()): string {
  const step = Math.max(totpStep(nowMs), (user.lastStep ?? -1) + 1);
  if (step > totpStep(nowMs) + 1) throw new Error(`${user.email} signed in twice within one TOTP step already: give the test another user`);
  user.lastStep = step;
  return totpCode(user.totpSecret, step * 30_000);
}

/**
 * A watched page (page errors and console errors fail the test) on `path` of the node's console,
 * signed in as `user` through the sign-in form. The page's first look for a session is refused (401),
 * as expected without a cookie. `wallet` answers the page's EIP-1193 requests, if it makes any.
 */
export async function signedInConsole(browser: Browser, net: Pick<ConsoleNetwork, "node">, user: ConsoleUser, path = "/console", wallet?: TestWallet): Promise<WatchedPage> {
  const watched = await (wallet ? walletPage(browser, wallet) : plainPage(browser));
  watched.allow(/status of 401 .*\/v1\/session\)$/);
  const { page } = watched;
  await page.goto(`${net.node(user.node).apiUrl}${path}`);
  await fillSignIn(page, user.email, user.password, nextTotp(user));
  await page.getByRole("button", { name: "Sign out" }).waitFor();
  expect(await page.getByRole("navigation").textContent()).to.include(user.email);
  return watched;
}
