/**
 * People's sign-in on the node API, over real HTTP against a real node (in this process, real chain
 * and LevelDB): users made with the CLI sign in with password and TOTP into a cookie session, act
 * with exactly their role's routes, need the CSRF token to change state, are locked out after
 * repeated failures, and every sign-in, failure, lock-out and user change is in the audit log.
 */
import { readFile, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";

import { expect } from "chai";

import { NODE_SESSION_COOKIE } from "../../../core/api/auth.js";
import { NODE_API_ACCESS, NODE_API_ROUTES, type NodeApiOperation } from "../../../core/api/routes.js";
import { CSRF_HEADER } from "../../../core/auth/sessions.js";
import { totpCode } from "../../../core/auth/totp.js";
import { runCli, runCliOk } from "../../helpers/cli.js";
import { waitFor } from "../../helpers/network.js";
import { signedPay, termsFor } from "../../helpers/operations.js";
import { LARGE_VALUE, startApiNode, type ApiNode } from "../../core/api/fixture.js";

const PASSWORD = "correct horse battery staple";
const ZERO32 = `0x${"00".repeat(32)}`;
const ADDRESS = `0x${"11".repeat(20)}`;

interface Enrolled {
  id: string;
  email: string;
  secret: string;
}

/** A request path for a contract route (parameters filled with well-formed values). */
function pathOf(url: string): string {
  return url
    .replace(":token", ADDRESS)
    .replace(":address", ADDRESS)
    .replace(/:id/, () => (url.startsWith("/v1/cycles") ? "1" : ZERO32))
    .replace(/:\w+/g, ZERO32);
}

describe("node API: people's sign-in, sessions and roles", function () {
  this.timeout(300_000);
  let api: ApiNode;
  // One sign-in per user and TOTP step: each test signs in users of its own.
  const USERS = [
    ["signin", "regulator"],
    ["reg", "regulator"],
    ["op", "operator"],
    ["ackReg", "regulator"],
    ["ackOp", "operator"],
    ["victim", "regulator"],
    ["arb", "arbiter"],
  ] as const;
  const users = {} as Record<(typeof USERS)[number][0], Enrolled>;
  let removed: { id: string };
  let listed: Record<string, unknown>[];

  const cli = (configFile: string, ...args: string[]) => runCliOk(["node", "user", ...args, "--config", configFile]);

  before(async function () {
    api = await startApiNode({
      // The sign-in budget per address holds every test's sign-ins; the last test spends the rest.
      api: { signIn: { maxFailures: 3, lockoutSeconds: 600, rateLimit: { max: 40, timeWindowMs: 600_000 } } },
      // Users live in the node's database, which LevelDB locks while the node runs: made before it starts.
      beforeStart: async (configFile) => {
        const passwordFile = join(dirname(configFile), "password.txt");
        await writeFile(passwordFile, `${PASSWORD}\n`);
        for (const [name, role] of USERS) {
          const out = JSON.parse(await cli(configFile, "create", "--email", `${name.toUpperCase()}@Bank.example`, "--role", role, "--password-file", passwordFile)) as {
            user: { id: string; email: string };
            otpauthUri: string;
          };
          users[name] = {
            id: out.user.id,
            email: out.user.email,
            secret: new URL(out.otpauthUri).searchParams.get("secret")!,
          };
        }
        removed = (JSON.parse(await cli(configFile, "create", "--email", "leaver@bank.example", "--role", "operator", "--password-file", passwordFile)) as { user: { id: string } })
          .user;
        expect(JSON.parse(await cli(configFile, "remove", "leaver@bank.example"))).to.include({ id: removed.id, state: "removed" });
        const shortPassword = join(dirname(configFile), "short.txt");
        await writeFile(shortPassword, "too short\n");
        const refused = await runCli([
          "node",
          "user",
          "create",
          "--node-dir",
          dirname(configFile),
          "--email",
          "short@bank.example",
          "--role",
          "operator",
          "--password-file",
          shortPassword,
        ]);
        expect([refused.code, refused.stderr]).to.satisfy(([code, stderr]: [number, string]) => code === 1 && stderr.includes("MALFORMED"));
        listed = (await runCliOk(["node", "user", "list", "--node-dir", dirname(configFile)]))
          .trim()
          .split("\n")
          .map((l) => JSON.parse(l) as Record<string, unknown>);
      },
    });
  });
  after(async function () {
    await api?.stop();
  });

  const url = (path: string) => `${api.node.apiUrl}${path}`;

  async function signIn(user: Enrolled, overrides: { password?: string; totp?: string } = {}) {
    const response = await fetch(url("/v1/session"), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        email: user.email,
        password: overrides.password ?? PASSWORD,
        totp: overrides.totp ?? totpCode(user.secret, Date.now()),
      }),
    });
    return {
      status: response.status,
      cookie: response.headers.get("set-cookie"),
      body: (await response.json()) as Record<string, unknown>,
    };
  }

  /** A session of `user`: its Cookie header and CSRF token. */
  async function session(user: Enrolled) {
    const started = await signIn(user);
    expect(started.status, JSON.stringify(started.body)).to.equal(201);
    const token = /__Host-settlenet_node_session=([^;]+)/.exec(started.cookie ?? "")![1]!;
    return {
      cookie: `${NODE_SESSION_COOKIE}=${token}`,
      csrf: started.body["csrfToken"] as string,
    };
  }

  it("manages users offline with the CLI (a short password refused): the e-mail lower-cased, no secret listed, the TOTP secret sealed at rest, refused while the node runs", async function () {
    expect(listed.map((u) => [u["email"], u["role"]]).sort()).to.deep.equal(USERS.map(([name, role]) => [`${name.toLowerCase()}@bank.example`, role]).sort());
    expect(JSON.stringify(listed)).to.not.match(/secret|password|hash/i);
    const keyFile = join(dirname(api.configFile), "user-secrets.key");
    expect((await stat(keyFile)).mode & 0o777).to.equal(0o600);
    expect((await readFile(keyFile)).length).to.equal(32);

    const running = await runCli(["node", "user", "list", "--config", api.configFile]);
    expect(running.code).to.equal(1);
    expect(running.stderr).to.contain("NODE_RUNNING");
  });

  it("signs in with password and TOTP into a __Host- cookie (HttpOnly, Secure, SameSite=Strict), and says who is signed in", async function () {
    const code = totpCode(users.signin.secret, Date.now());
    const started = await signIn(users.signin, { totp: code });
    expect(started.status).to.equal(201);
    expect(started.cookie).to.match(/^__Host-settlenet_node_session=sess_[A-Za-z0-9_-]{43}; Path=\/; Secure; HttpOnly; SameSite=Strict; Max-Age=\d+$/);
    expect(started.body["user"]).to.deep.equal({
      id: users.signin.id,
      email: users.signin.email,
      role: "regulator",
    });
    const cookie = started.cookie!.split(";")[0]!;

    const who = (await (await fetch(url("/v1/session"), { headers: { cookie } })).json()) as Record<string, unknown>;
    expect(who).to.deep.include({
      kind: "user",
      id: users.signin.id,
      name: users.signin.email,
      role: "regulator",
    });
    expect((who["session"] as Record<string, unknown>)["csrfToken"]).to.equal(started.body["csrfToken"]);
    const byBearer = (await (
      await fetch(url("/v1/session"), {
        headers: { authorization: `Bearer ${api.credentials.operator}` },
      })
    ).json()) as Record<string, unknown>;
    expect(byBearer).to.include({ kind: "credential", role: "operator" });

    // The same code a second time is refused: one sign-in per code.
    const reused = await signIn(users.signin, { totp: code });
    expect([reused.status, reused.body["code"]]).to.deep.equal([401, "SIGNIN_FAILED"]);

    const out = await fetch(url("/v1/session"), {
      method: "DELETE",
      headers: { cookie, [CSRF_HEADER]: started.body["csrfToken"] as string },
    });
    expect(out.status).to.equal(204);
    expect(out.headers.get("set-cookie")).to.contain("Max-Age=0");
    const after = await fetch(url("/v1/alerts"), { headers: { cookie } });
    expect([after.status, ((await after.json()) as { code: string }).code]).to.deep.equal([401, "UNAUTHENTICATED"]);
  });

  it("answers an unknown e-mail, a wrong password and a wrong code alike, and locks a user out after repeated failures", async function () {
    const unknown = await signIn({
      ...users.victim,
      email: "nobody@bank.example",
    });
    const badPassword = await signIn(users.victim, {
      password: "not the password at all",
    });
    const badCode = await signIn(users.victim, {
      totp: "000000" === totpCode(users.victim.secret, Date.now()) ? "111111" : "000000",
    });
    const badAgain = await signIn(users.victim, {
      password: "still not the password",
    });
    for (const failed of [unknown, badPassword, badCode, badAgain]) {
      expect([failed.status, failed.body["code"], failed.body["title"]]).to.deep.equal([401, "SIGNIN_FAILED", unknown.body["title"]]);
      expect(failed.cookie).to.equal(null);
    }
    // Three failures in a row (maxFailures): locked; the right password and code are refused too.
    const lockedOut = await signIn(users.victim);
    expect([lockedOut.status, lockedOut.body["code"]]).to.deep.equal([429, "SIGNIN_LOCKED"]);
    expect(lockedOut.body["retryAfterSeconds"]).to.be.within(1, 600);

    const entries = (await api.client.auditLog({ limit: 1_000 })).entries;
    const about = entries.filter((e) => e.target === users.victim.id || e.details?.["email"] === "nobody@bank.example");
    expect(about.map((e) => [e.action, e.details?.["reason"] ?? null])).to.deep.equal([
      ["user.create", null],
      ["session.signInFailed", "unknown"],
      ["session.signInFailed", "password"],
      ["session.signInFailed", "totp"],
      ["user.lockout", "password"],
      ["session.signInRefused", "locked"],
    ]);
    expect(JSON.stringify(entries)).to.not.contain(PASSWORD).and.not.contain(users.victim.secret);
  });

  it("gives each session exactly its role's routes, as a bearer credential of that role", async function () {
    for (const [name, role] of [
      ["reg", "regulator"],
      ["op", "operator"],
      ["arb", "arbiter"],
    ] as const) {
      const { cookie, csrf } = await session(users[name]);
      for (const [operation, access] of Object.entries(NODE_API_ACCESS) as [NodeApiOperation, (typeof NODE_API_ACCESS)[NodeApiOperation]][]) {
        if (access === "public" || operation === "signOut") continue;
        const route = NODE_API_ROUTES[operation];
        const answer = await api.node.api.inject({
          method: route.method,
          url: pathOf(route.url),
          headers: { cookie, [CSRF_HEADER]: csrf },
          ...(route.method === "GET" ? {} : { payload: {} }),
        });
        if (access.includes(role)) expect([401, 403], `${role} ${operation}`).to.not.include(answer.statusCode);
        else expect([answer.statusCode, answer.json<{ code: string }>().code], `${role} ${operation}`).to.deep.equal([403, "FORBIDDEN"]);
      }
    }
  });

  it("refuses a state-changing request with the cookie but without the session's CSRF token, and records the signed-in user on an acknowledgement", async function () {
    const s = api.scenario;
    const large = await signedPay(s, await termsFor(s, 1, 0, { amount: LARGE_VALUE }));
    expect((await api.client.submit(large.op)).accepted).to.equal(true);
    const alert = await waitFor(
      "the LARGE_VALUE alert",
      async () => (await api.client.alerts({ rule: "LARGE_VALUE" })).items.find((a) => a.paymentIds.includes(large.paymentId.toLowerCase())),
      60_000,
    );

    const ack = (headers: Record<string, string>) =>
      fetch(url(`/v1/alerts/${alert.id}/ack`), {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify({ note: "reviewed", by: "someone else" }),
      });
    const regulator = await session(users.ackReg);
    const operator = await session(users.ackOp);
    for (const headers of [
      { cookie: regulator.cookie } as Record<string, string>,
      { cookie: regulator.cookie, [CSRF_HEADER]: operator.csrf },
      { cookie: regulator.cookie, [CSRF_HEADER]: "" },
    ]) {
      const refused = await ack(headers);
      expect([refused.status, ((await refused.json()) as { code: string }).code]).to.deep.equal([403, "CSRF_TOKEN_INVALID"]);
    }
    expect((await api.client.alert(alert.id))?.ack).to.equal(undefined);

    // The regulator triages: acknowledged once, under the signed-in user.
    const done = await ack({
      cookie: regulator.cookie,
      [CSRF_HEADER]: regulator.csrf,
    });
    expect(done.status).to.equal(200);
    const actor = `user:${users.ackReg.id}:${users.ackReg.email}`;
    expect(((await done.json()) as { ack: Record<string, unknown> }).ack).to.include({ by: actor, statedBy: "someone else", note: "reviewed" });
    const entry = (await api.client.auditLog({ limit: 1_000 })).entries.find((e) => e.action === "alert.acknowledge" && e.target === alert.id);
    expect(entry).to.include({ actor, role: "regulator" });
    const again = await ack({ cookie: operator.cookie, [CSRF_HEADER]: operator.csrf });
    expect([again.status, ((await again.json()) as { code: string }).code]).to.deep.equal([409, "ALERT_ALREADY_ACKNOWLEDGED"]);
  });

  it("records sign-ins, sign-outs and user changes in the audit log, which still verifies", async function () {
    const entries = (await api.client.auditLog({ limit: 1_000 })).entries;
    const actions = (id: string) => entries.filter((e) => e.target === id).map((e) => e.action);
    expect(actions(removed.id)).to.deep.equal(["user.create", "user.remove"]);
    expect(actions(users.signin.id)).to.include.members(["user.create", "session.signIn", "session.signOut"]);
    const signedIn = entries.find((e) => e.action === "session.signIn" && e.target === users.ackOp.id);
    expect(signedIn).to.include({
      actor: `user:${users.ackOp.id}:${users.ackOp.email}`,
      role: "operator",
    });
    expect(entries.find((e) => e.action === "user.create" && e.target === users.ackOp.id)?.actor).to.match(/^cli:/);
    const verified = await runCliOk(["node", "audit", "verify", "--node", api.node.apiUrl], { SETTLENET_NODE_TOKEN: api.credentials.regulator });
    expect(JSON.parse(verified)).to.include({ ok: true });
  });

  it("limits sign-in attempts per client address before any password is checked", async function () {
    const email = "guess@bank.example";
    let failed = 0;
    let limited: Awaited<ReturnType<typeof signIn>> | undefined;
    for (let attempt = 0; attempt < 41 && !limited; attempt += 1) {
      const answer = await signIn({ id: "", email, secret: users.victim.secret }, { password: `guess number ${attempt}` });
      if (answer.status === 429) limited = answer;
      else {
        expect(answer.body["code"]).to.equal("SIGNIN_FAILED");
        failed += 1;
      }
    }
    expect(limited?.body).to.include({ code: "RATE_LIMITED", limit: 40 });
    // Refused before the password was looked at: no failed sign-in logged for it.
    const logged = (await api.client.auditLog({ limit: 1_000 })).entries.filter((e) => e.details?.["email"] === email);
    expect(logged).to.have.length(failed);
  });
});
