/**
 * Operators manage the node's users online, over real HTTP against a real node (real chain and
 * LevelDB): create (the TOTP enrolment URI once), list, disable (sessions end at once), enable and
 * remove, each in the audit log with the caller; regulators may not; the `node user` commands go
 * through the API while the node runs.
 */
import { writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";

import { expect } from "chai";

import { NODE_SESSION_COOKIE, NODE_TOKEN_ENV } from "../../../core/api/auth.js";
import { CSRF_HEADER } from "../../../core/auth/sessions.js";
import { totpCode } from "../../../core/auth/totp.js";
import { runCli, runCliOk } from "../../helpers/cli.js";
import { startApiNode, type ApiNode } from "../../core/api/fixture.js";

const PASSWORD = "correct horse battery staple";
const STEP_MS = 30_000;

interface Enrolled {
  id: string;
  email: string;
  secret: string;
}

const secretOf = (otpauthUri: string) => new URL(otpauthUri).searchParams.get("secret")!;

describe("node API: operators manage users online", function () {
  this.timeout(300_000);
  let api: ApiNode;
  const users = {} as Record<"op" | "reg", Enrolled>;

  before(async function () {
    api = await startApiNode({
      beforeStart: async (configFile) => {
        const passwordFile = join(dirname(configFile), "password.txt");
        await writeFile(passwordFile, `${PASSWORD}\n`);
        for (const [name, role] of [
          ["op", "operator"],
          ["reg", "regulator"],
        ] as const) {
          const out = JSON.parse(await runCliOk(["node", "user", "create", "--config", configFile, "--email", `${name}@bank.example`, "--role", role, "--password-file", passwordFile])) as {
            user: { id: string; email: string };
            otpauthUri: string;
          };
          users[name] = { id: out.user.id, email: out.user.email, secret: secretOf(out.otpauthUri) };
        }
      },
    });
  });
  after(async function () {
    await api?.stop();
  });

  const url = (path: string) => `${api.node.apiUrl}${path}`;

  /** Signs in; `nextStep` uses the next TOTP step's code (a user's second sign-in within one step). */
  async function signIn(user: { email: string; secret: string }, nextStep = false) {
    const response = await fetch(url("/v1/session"), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: user.email, password: PASSWORD, totp: totpCode(user.secret, Date.now() + (nextStep ? STEP_MS : 0)) }),
    });
    const body = (await response.json()) as Record<string, unknown>;
    const token = /__Host-settlenet_node_session=([^;]+)/.exec(response.headers.get("set-cookie") ?? "")?.[1];
    return { status: response.status, body, headers: token ? { cookie: `${NODE_SESSION_COOKIE}=${token}`, [CSRF_HEADER]: body["csrfToken"] as string } : undefined };
  }

  async function call(headers: Record<string, string>, method: string, path: string, body?: unknown) {
    const response = await fetch(url(path), { method, headers: { ...headers, ...(body === undefined ? {} : { "content-type": "application/json" }) }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  it("lets an operator create a user (enrolment URI once), disable it (its session ends at once), enable and remove it, each audited with the operator", async function () {
    const op = await signIn(users.op);
    expect(op.status).to.equal(201);
    const as = op.headers!;

    const created = await call(as, "POST", "/v1/admin/users", { email: "Auditor@Bank.example", role: "regulator", password: PASSWORD });
    expect(created.status).to.equal(201);
    const user = created.body["user"] as Record<string, unknown>;
    expect(user).to.include({ email: "auditor@bank.example", role: "regulator", createdBy: `user:${users.op.id}:${users.op.email}` });
    const auditor = { id: user["id"] as string, email: "auditor@bank.example", secret: secretOf(created.body["otpauthUri"] as string) };
    const again = await call(as, "POST", "/v1/admin/users", { email: "auditor@bank.example", role: "operator", password: PASSWORD });
    expect([again.status, again.body["code"]]).to.deep.equal([409, "NODE_USER_EXISTS"]);
    const weak = await call(as, "POST", "/v1/admin/users", { email: "weak@bank.example", role: "operator", password: "short" });
    expect(weak.status).to.equal(400);

    const listed = await call(as, "GET", "/v1/admin/users");
    expect((listed.body["users"] as { email: string }[]).map((u) => u.email).sort()).to.deep.equal(["auditor@bank.example", "op@bank.example", "reg@bank.example"]);
    expect(JSON.stringify(listed.body)).to.not.match(/secret|password|hash|totp/i);

    const auditorSession = await signIn(auditor);
    expect(auditorSession.status).to.equal(201);
    expect((await call(auditorSession.headers!, "GET", "/v1/session")).status).to.equal(200);

    const disabled = await call(as, "POST", `/v1/admin/users/${auditor.id}/disable`);
    expect(disabled.status).to.equal(200);
    expect(disabled.body).to.include({ disabledBy: `user:${users.op.id}:${users.op.email}` });
    expect((await call(auditorSession.headers!, "GET", "/v1/session")).status).to.equal(401);
    const refused = await signIn(auditor, true);
    expect([refused.status, refused.body["code"]]).to.deep.equal([401, "SIGNIN_FAILED"]);

    const enabled = await call(as, "POST", `/v1/admin/users/${auditor.id}/enable`);
    expect([enabled.status, enabled.body["disabledAtMs"]]).to.deep.equal([200, undefined]);
    expect((await signIn(auditor, true)).status).to.equal(201);

    const removed = await call(as, "DELETE", `/v1/admin/users/${auditor.id}`);
    expect([removed.status, removed.body]).to.deep.equal([200, { id: auditor.id, removed: true }]);
    const gone = await call(as, "DELETE", `/v1/admin/users/${auditor.id}`);
    expect([gone.status, gone.body["code"]]).to.deep.equal([404, "NODE_USER_NOT_FOUND"]);

    const entries = (await api.client.auditLog({ limit: 1_000 })).entries.filter((e) => e.target === auditor.id && e.action.startsWith("user."));
    expect(entries.map((e) => [e.action, e.actor, e.role])).to.deep.equal(
      ["user.create", "user.disable", "user.enable", "user.remove"].map((action) => [action, `user:${users.op.id}:${users.op.email}`, "operator"]),
    );
    expect(JSON.stringify(entries)).to.not.contain(PASSWORD).and.not.contain(auditor.secret);
  });

  it("refuses an operator disabling or removing its own user, and a regulator every user route", async function () {
    const op = await signIn(users.op, true);
    for (const [method, path] of [
      ["POST", `/v1/admin/users/${users.op.id}/disable`],
      ["DELETE", `/v1/admin/users/${users.op.id}`],
    ] as const) {
      const refused = await call(op.headers!, method, path);
      expect([refused.status, refused.body["code"]], `${method} ${path}`).to.deep.equal([409, "NODE_USER_SELF"]);
    }
    const reg = await signIn(users.reg);
    for (const [method, path, body] of [
      ["GET", "/v1/admin/users", undefined],
      ["POST", "/v1/admin/users", { email: "x@bank.example", role: "operator", password: PASSWORD }],
      ["POST", `/v1/admin/users/${users.op.id}/disable`, undefined],
      ["DELETE", `/v1/admin/users/${users.op.id}`, undefined],
    ] as const) {
      const refused = await call(reg.headers!, method, path, body);
      expect([refused.status, refused.body["code"]], `${method} ${path}`).to.deep.equal([403, "FORBIDDEN"]);
    }
    expect((await api.client.nodeUsers()).map((u) => u.email).sort()).to.deep.equal(["op@bank.example", "reg@bank.example"]);
  });

  it("runs `node user` through the API while the node runs, with the operator credential, and refuses without one", async function () {
    const passwordFile = join(dirname(api.configFile), "password.txt");
    const without = await runCli(["node", "user", "list", "--config", api.configFile], { [NODE_TOKEN_ENV]: "" });
    expect([without.code, without.stderr.includes("NODE_RUNNING")]).to.deep.equal([1, true]);

    const env = { [NODE_TOKEN_ENV]: api.credentials.operator! };
    const cli = (...args: string[]) => runCliOk(["node", "user", ...args, "--config", api.configFile, "--node", api.node.apiUrl], env);
    const created = JSON.parse(await cli("create", "--email", "clerk@bank.example", "--role", "operator", "--password-file", passwordFile)) as { user: { id: string }; otpauthUri: string };
    expect(created.otpauthUri).to.match(/^otpauth:\/\/totp\//);
    const listed = (await cli("list")).trim().split("\n").map((l) => JSON.parse(l) as { email: string });
    expect(listed.map((u) => u.email)).to.include("clerk@bank.example");
    expect(JSON.parse(await cli("disable", "clerk@bank.example"))).to.include({ id: created.user.id, state: "disabled" });
    expect(JSON.parse(await cli("remove", created.user.id))).to.include({ id: created.user.id, state: "removed" });

    const entries = (await api.client.auditLog({ limit: 1_000 })).entries.filter((e) => e.target === created.user.id);
    expect(entries.map((e) => e.action)).to.deep.equal(["user.create", "user.disable", "user.remove"]);
    expect(entries.every((e) => e.actor.startsWith("credential:"))).to.equal(true);
  });
});
