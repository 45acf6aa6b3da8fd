/**
 * The gateway over HTTPS: given a certificate and key it serves TLS only; a merchant's client
 * (gateway/client) reaches it once the issuing CA is trusted, a client that does not trust the CA is
 * refused at the handshake, and plain HTTP to the port gets no answer. The gateway as
 * `settlenet gateway start` runs it (startGateway from a parsed gateway.json) reports an https URL, and
 * the admin CLI reaches it over HTTPS.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { expect } from "chai";
import { pino } from "pino";

import { writeDeployment } from "../../core/protocol/deployment.js";
import { ADMIN_TOKEN_ENV, gatewayCommand } from "../../gateway/cli.js";
import { parseGatewayConfig } from "../../gateway/config.js";
import { startGateway } from "../../gateway/server.js";

import { GatewayClient } from "../../gateway/client/client.js";
import { deployScenario, startChain, type LocalChain } from "../helpers/chain.js";
import { devCertificates, httpGet, httpsGet, trustCa, type DevCertificates } from "../helpers/tls.js";
import { gatewayFixture, type GatewayFixture, type TestMerchant } from "./fixture.js";

describe("gateway over HTTPS", function () {
  this.timeout(120_000);
  let chain: LocalChain;
  let dir: string;
  let certs: DevCertificates;
  let gw: GatewayFixture;
  let base: string;
  let deployment: Parameters<typeof writeDeployment>[1];

  before(async function () {
    dir = await mkdtemp(join(tmpdir(), "settlenet-gw-tls-"));
    certs = await devCertificates(dir);
    chain = await startChain();
    const scenario = await deployScenario(chain, { institutions: 1, merchants: 1, payers: 1 });
    deployment = scenario.deployment;
    gw = await gatewayFixture({ scenario, app: { tls: { cert: await readFile(certs.cert), key: await readFile(certs.key) } } });
    await gw.app.listen({ host: "127.0.0.1", port: 0 });
    const address = gw.app.server.address();
    base = `https://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
  });
  after(async function () {
    await gw?.close();
    await chain?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("serves HTTPS to a client that trusts its CA", async function () {
    expect(await httpsGet(`${base}/health`, await readFile(certs.ca))).to.deep.equal({ status: 200 });
  });

  it("refuses a client that does not trust the CA, and answers nothing over plain HTTP", async function () {
    expect(await httpsGet(`${base}/health`)).to.have.nested.property("error.code", "UNABLE_TO_VERIFY_LEAF_SIGNATURE");
    expect(await httpGet(`${base.replace("https:", "http:")}/health`)).to.have.property("error");
  });

  it("answers a merchant's signed request from the gateway client once the CA is trusted", async function () {
    const [shop] = gw.merchants as [TestMerchant];
    const client = new GatewayClient(base, shop);
    const untrust = await trustCa(certs.ca);
    try {
      const response = await client.request<{ object: string; items: unknown[] }>("GET", "/v1/webhook-endpoints");
      expect(response.status, JSON.stringify(response.body)).to.equal(200);
      expect(response.body).to.deep.equal({ object: "list", items: [] });
    } finally {
      untrust();
    }
  });

  it("is reached over HTTPS by the admin CLI while it runs (its database locked)", async function () {
    const [shop] = gw.merchants as [TestMerchant];
    const configFile = join(gw.dir, "gateway-tls.json");
    const port = Number(new URL(base).port);
    const config = { port, dataDir: ".", nodeUrl: "http://127.0.0.1:9", rpcUrl: chain.url, deploymentFile: "d.json", masterKeyEnv: "GW_TLS_CLI_MASTER_KEY", admin: { credentialsFile: join(gw.dir, "admin-credentials.json") }, tls: { certFile: certs.cert, keyFile: certs.key } };
    await writeFile(configFile, JSON.stringify(config));
    const passwordFile = join(dir, "owner-password");
    await writeFile(passwordFile, "a long enough password\n", { mode: 0o600 });
    const lines: string[] = [];
    const untrust = await trustCa(certs.ca);
    process.env[ADMIN_TOKEN_ENV] = gw.adminToken;
    try {
      await gatewayCommand(["user", "create-owner", "--merchant", shop.id, "--email", "tls-owner@shop.example", "--password-file", passwordFile, "--config", configFile], (line) => lines.push(line));
    } finally {
      delete process.env[ADMIN_TOKEN_ENV];
      untrust();
    }
    expect((JSON.parse(lines.join("\n")) as { user: { email: string } }).user.email).to.equal("tls-owner@shop.example");
  });

  it("starts from a gateway.json with tls (paths relative to the file) and answers at an https URL", async function () {
    const gatewayDir = await mkdtemp(join(dir, "gateway-"));
    await writeDeployment(join(gatewayDir, "deployment.json"), deployment);
    process.env["GW_TLS_TEST_MASTER_KEY"] = randomBytes(32).toString("hex");
    const config = parseGatewayConfig(
      {
        port: 0,
        dataDir: "data",
        nodeUrl: "http://127.0.0.1:9",
        rpcUrl: chain.url,
        deploymentFile: "deployment.json",
        masterKeyEnv: "GW_TLS_TEST_MASTER_KEY",
        logLevel: "silent",
        tls: { certFile: "../server.pem", keyFile: "../server.key" },
      },
      gatewayDir,
    );
    const running = await startGateway(config, { logger: pino({ level: "silent" }) });
    try {
      expect(running.url).to.match(/^https:\/\/127\.0\.0\.1:\d+$/);
      expect(await httpsGet(`${running.url}/health`, await readFile(certs.ca))).to.deep.equal({ status: 200 });
    } finally {
      await running.stop();
      delete process.env["GW_TLS_TEST_MASTER_KEY"];
    }
  });
});
