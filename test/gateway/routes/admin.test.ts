/**
 * The admin API and the admin CLI on a running gateway (real LevelDB, listening on 127.0.0.1, an
 * in-process chain): keys created, rotated and revoked and a merchant suspended while the gateway runs,
 * through the CLI in its own process (the database is locked, so it uses the admin API), refused to a
 * merchant's API key, and every action in the hash-chained audit log with the admin who took it.
 */
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { expect } from "chai";

import { gatewayCommand } from "../../../gateway/cli.js";
import { signRequest } from "../../../gateway/client/signing.js";
import { deployScenario, startChain, type LocalChain } from "../../helpers/chain.js";
import { runCli } from "../../helpers/cli.js";
import { gatewayFixture, signedInject, type GatewayFixture, type TestMerchant } from "../fixture.js";

describe("gateway: the admin API, the admin CLI while the gateway runs, and the audit log", function () {
  this.timeout(120_000);
  let chain: LocalChain;
  let gw: GatewayFixture;
  let shop: TestMerchant;
  let configFile: string;
  let credentialsFile: string;
  let token: string;
  let base: string;
  let adminDir: string;

  before(async function () {
    chain = await startChain();
    const scenario = await deployScenario(chain, { institutions: 1, merchants: 1, payers: 1 });
    adminDir = await mkdtemp(join(tmpdir(), "settlenet-gw-admin-"));
    credentialsFile = join(adminDir, "admin-credentials.json");
    gw = await gatewayFixture({ scenario, app: { adminCredentialsFile: credentialsFile } });
    [shop] = gw.merchants as [TestMerchant];
    await gw.app.listen({ host: "127.0.0.1", port: 0 });
    const address = gw.app.server.address();
    const port = typeof address === "object" && address ? address.port : 0;
    base = `http://127.0.0.1:${port}`;
    configFile = join(gw.dir, "gateway.json");
    await writeFile(configFile, JSON.stringify({ port, dataDir: ".", nodeUrl: "http://127.0.0.1:9", rpcUrl: chain.url, deploymentFile: "d.json", masterKeyEnv: "GW_ADMIN_TEST_MASTER_KEY", admin: { credentialsFile } }));
  });
  after(async function () {
    await gw?.close();
    await chain?.close();
    await rm(adminDir, { recursive: true, force: true });
  });

  const cli = async (...args: string[]) => {
    const run = await runCli(["gateway", ...args, "--config", configFile], { SETTLENET_GATEWAY_ADMIN_TOKEN: token });
    expect(run.code, run.stderr).to.equal(0);
    return JSON.parse(run.stdout) as Record<string, unknown>;
  };
  const admin = (method: "GET" | "POST", path: string, authorization?: string) =>
    fetch(`${base}/admin/v1${path}`, { method, headers: authorization ? { authorization } : {} }).then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, unknown> }));

  it("issues an admin credential into a 0600 file, keeping only its hash", async function () {
    const lines: string[] = [];
    await gatewayCommand(["admin", "credential", "add", "--id", "ops-alice", "--config", configFile], (line) => lines.push(line));
    const issued = JSON.parse(lines.join("\n")) as { id: string; token: string };
    token = issued.token;
    expect(token).to.match(/^ops-alice\./);
    expect((await stat(credentialsFile)).mode & 0o777).to.equal(0o600);
    expect(await readFile(credentialsFile, "utf8")).to.not.include(token.split(".")[1]);
  });

  it("refuses a merchant's API key, an unknown credential and a wrong secret alike", async function () {
    const signed = signRequest({ keyId: shop.keyId, secret: shop.secret, method: "GET", path: "/admin/v1/merchants" });
    const asMerchant = await fetch(`${base}/admin/v1/merchants`, { headers: signed }).then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, unknown> }));
    const answers = [
      asMerchant,
      await admin("GET", "/merchants"),
      await admin("GET", "/merchants", `Bearer ${shop.keyId}.${shop.secret}`),
      await admin("GET", "/merchants", `Bearer nobody.${token.split(".")[1]}`),
      await admin("GET", "/merchants", `Bearer ${token}x`),
    ];
    for (const answer of answers) expect([answer.status, answer.body["code"], answer.body["title"]]).to.deep.equal([401, "ADMIN_AUTH_FAILED", answers[1]?.body["title"]]);
    const ok = await admin("GET", "/merchants", `Bearer ${token}`);
    expect(ok.status).to.equal(200);
  });

  it("creates, rotates and revokes keys and suspends a merchant through the CLI while the gateway runs", async function () {
    const created = await cli("keys", "create", "--merchant", shop.id);
    const fresh = { keyId: String(created["keyId"]), secret: String(created["secret"]) };
    expect((await signedInject(gw.app, fresh, "GET", "/v1/payments")).status).to.equal(200);

    const revoked = await cli("keys", "revoke", "--merchant", shop.id, "--key", fresh.keyId);
    expect(revoked["keyId"]).to.equal(fresh.keyId);
    const refused = await signedInject(gw.app, fresh, "GET", "/v1/payments");
    expect([refused.status, refused.body["code"]]).to.deep.equal([401, "AUTH_KEY_REVOKED"]);

    const rotated = await cli("keys", "rotate", "--merchant", shop.id, "--overlap", "3600");
    expect((rotated["retired"] as { keyId: string }[]).map((k) => k.keyId)).to.include(shop.keyId);

    await cli("merchant", "suspend", "--merchant", shop.id);
    const suspended = await signedInject(gw.app, shop, "GET", "/v1/payments");
    expect([suspended.status, suspended.body["code"]]).to.deep.equal([401, "AUTH_KEY_REVOKED"]);
    await cli("merchant", "reactivate", "--merchant", shop.id);
    expect((await signedInject(gw.app, shop, "GET", "/v1/payments")).status).to.equal(200);

    const unknown = await runCli(["gateway", "keys", "create", "--merchant", "nobody", "--config", configFile], { SETTLENET_GATEWAY_ADMIN_TOKEN: token });
    expect(unknown.code).to.not.equal(0);
    expect(unknown.stderr).to.include("MERCHANT_NOT_FOUND");
  });

  it("records every admin action with the admin's identity in a hash chain that `gateway audit verify` walks", async function () {
    const verified = await cli("audit", "verify");
    expect(verified["ok"]).to.equal(true);
    const list = await admin("GET", "/audit?limit=500", `Bearer ${token}`);
    const entries = list.body["items"] as { actor: string; action: string; target?: string; details?: Record<string, unknown> }[];
    const byAlice = entries.filter((e) => e.actor === "admin:ops-alice").map((e) => e.action);
    expect(byAlice).to.deep.equal(["apiKey.create", "apiKey.revoke", "apiKey.rotate", "merchant.suspend", "merchant.reactivate"]);
    // Provisioning (direct database access) is recorded too, as the local operator.
    expect(entries.filter((e) => e.actor === "local").map((e) => e.action)).to.deep.equal(["merchant.add", "apiKey.create"]);
    expect(entries.every((e) => e.target === shop.id)).to.equal(true);
    expect(JSON.stringify(entries)).to.not.include("sk_");

    // With the gateway stopped, the same command reads the database itself.
    await gw.stop();
    try {
      process.env["GW_ADMIN_TEST_MASTER_KEY"] = "00".repeat(32);
      const lines: string[] = [];
      await gatewayCommand(["audit", "verify", "--config", configFile], (line) => lines.push(line));
      expect(JSON.parse(lines.join("\n"))).to.deep.include({ ok: true, entries: entries.length });
    } finally {
      delete process.env["GW_ADMIN_TEST_MASTER_KEY"];
      await gw.restart();
    }
  });
});
