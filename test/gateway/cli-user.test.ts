/**
 * `settlenet gateway user create-owner` and `settlenet gateway totp` against a gateway listening on
 * 127.0.0.1 (through its admin API, the database being locked) and against its database once stopped.
 */
import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { expect } from "chai";

import { ADMIN_TOKEN_ENV, gatewayCommand } from "../../gateway/cli.js";
import { base32Encode, totpCode } from "../../core/auth/totp.js";
import { deployScenario, startChain, type LocalChain } from "../helpers/chain.js";
import { gatewayFixture, type GatewayFixture, type TestMerchant } from "./fixture.js";

describe("gateway CLI: a merchant's first dashboard owner, and the current TOTP code", function () {
  this.timeout(120_000);
  let chain: LocalChain;
  let gw: GatewayFixture;
  let shop: TestMerchant;
  let base: string;
  let configFile: string;
  let dir: string;

  before(async function () {
    chain = await startChain();
    const scenario = await deployScenario(chain, { institutions: 1, merchants: 1, payers: 1 });
    gw = await gatewayFixture({ scenario });
    [shop] = gw.merchants as [TestMerchant];
    await gw.app.listen({ host: "127.0.0.1", port: 0 });
    const address = gw.app.server.address();
    const port = typeof address === "object" && address ? address.port : 0;
    base = `http://127.0.0.1:${port}`;
    dir = await mkdtemp(join(tmpdir(), "settlenet-gw-user-"));
    configFile = join(gw.dir, "gateway.json");
    await writeFile(
      configFile,
      JSON.stringify({ port, dataDir: ".", nodeUrl: "http://127.0.0.1:9", rpcUrl: chain.url, deploymentFile: "d.json", masterKeyEnv: "GW_USER_TEST_MASTER_KEY", admin: { credentialsFile: join(gw.dir, "admin-credentials.json") } }),
    );
  });
  after(async function () {
    await gw?.close();
    await chain?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const run = async (...args: string[]) => {
    const lines: string[] = [];
    process.env[ADMIN_TOKEN_ENV] = gw.adminToken;
    try {
      await gatewayCommand([...args, "--config", configFile], (line) => lines.push(line));
    } finally {
      delete process.env[ADMIN_TOKEN_ENV];
    }
    return JSON.parse(lines.join("\n")) as Record<string, unknown>;
  };
  const post = (path: string, body: unknown) =>
    fetch(`${base}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) }).then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, unknown> }));

  it("sets a given password while the gateway runs, prints the TOTP enrolment URI once, and the owner signs in with it", async function () {
    const passwordFile = join(dir, "password");
    await writeFile(passwordFile, "a long enough password\n", { mode: 0o600 });
    const created = await run("user", "create-owner", "--merchant", shop.id, "--email", "Owner@Shop.example", "--password-file", passwordFile);
    expect(created["user"]).to.deep.include({ email: "owner@shop.example", role: "owner", status: "active", merchantId: shop.id });
    expect(created).to.not.have.property("totpSecret");
    const secret = new URL(String(created["otpauthUri"])).searchParams.get("secret") ?? "";
    const signedIn = await post("/dashboard/api/session", { email: "owner@shop.example", password: "a long enough password", totp: totpCode(secret, Date.now()) });
    expect(signedIn.status, JSON.stringify(signedIn.body)).to.equal(201);

    const again = await run("user", "create-owner", "--merchant", shop.id, "--email", "owner@shop.example", "--password-file", passwordFile).catch((error: unknown) => error);
    expect(again).to.have.property("code", "USER_EXISTS");
  });

  it("without a password prints a one-time link whose token sets the password and enrols TOTP", async function () {
    const invited = await run("user", "create-owner", "--merchant", shop.id, "--email", "second@shop.example");
    const link = new URL(String(invited["link"]));
    expect(`${link.origin}${link.pathname}`).to.equal(`${base}/dashboard/invite`);
    const token = new URLSearchParams(link.hash.slice(1)).get("token");
    expect(token).to.equal(invited["invitationToken"]);
    const accepted = await post("/dashboard/api/invitations/accept", { token, password: "second owner's password" });
    expect(accepted.status).to.equal(201);
    expect(String(accepted.body["otpauthUri"])).to.match(/^otpauth:\/\/totp\//);
    expect((await post("/dashboard/api/invitations/accept", { token, password: "second owner's password" })).body["code"]).to.equal("INVITATION_INVALID");
  });

  it("refuses a malformed e-mail or a short password and an unknown merchant, creating nobody", async function () {
    const shortFile = join(dir, "short");
    await writeFile(shortFile, "short\n", { mode: 0o600 });
    const before = (await gw.storage.users.listByMerchant(shop.id)).length;
    for (const args of [
      ["--merchant", shop.id, "--email", "not-an-address"],
      ["--merchant", shop.id, "--email", "third@shop.example", "--password-file", shortFile],
    ]) {
      expect(await run("user", "create-owner", ...args).catch((error: unknown) => error)).to.have.property("code", "MALFORMED");
    }
    expect(await run("user", "create-owner", "--merchant", "nobody", "--email", "x@shop.example").catch((error: unknown) => error)).to.have.property("code", "MERCHANT_NOT_FOUND");
    expect((await gw.storage.users.listByMerchant(shop.id)).length).to.equal(before);
  });

  it("creates an owner from the database while the gateway is stopped, recorded as the local operator", async function () {
    await gw.stop();
    process.env["GW_USER_TEST_MASTER_KEY"] = "11".repeat(32);
    try {
      const invited = await run("user", "create-owner", "--merchant", shop.id, "--email", "offline@shop.example");
      expect(invited["user"]).to.deep.include({ email: "offline@shop.example", status: "invited" });
      expect(String(invited["link"])).to.match(/\/dashboard\/invite#token=inv_/);
    } finally {
      delete process.env["GW_USER_TEST_MASTER_KEY"];
      await gw.restart();
    }
    const entries = (await gw.storage.audit.list({ limit: 1000 })).entries.filter((e) => e.action === "user.invite" || e.action === "user.createOwner");
    expect(entries.map((e) => [e.actor.replace(/^local:.*$/, "local"), e.action])).to.deep.equal([
      ["admin:test-admin", "user.createOwner"],
      ["admin:test-admin", "user.invite"],
      ["local", "user.invite"],
    ]);
  });

  it("prints the current code of a TOTP secret file (raw base32 or JSON)", async function () {
    const secret = base32Encode(Buffer.from("12345678901234567890"));
    const raw = join(dir, "totp.txt");
    const json = join(dir, "owner.json");
    await writeFile(raw, `${secret}\n`, { mode: 0o600 });
    await writeFile(json, JSON.stringify({ email: "o@shop.example", totpSecret: secret }), { mode: 0o600 });
    expect((await stat(raw)).mode & 0o777).to.equal(0o600);
    for (const file of [raw, json]) {
      const before = Date.now();
      const lines: string[] = [];
      await gatewayCommand(["totp", "--secret-file", file], (line) => lines.push(line));
      expect(lines).to.have.length(1);
      expect([totpCode(secret, before), totpCode(secret, Date.now())]).to.include(lines[0]);
    }
  });
});
