/**
 * The bank simulator over HTTPS: with `tls` in its config it serves TLS only; the gateway's bank
 * adapter reaches it once the issuing CA is trusted, a client that does not trust the CA is refused at
 * the handshake, and plain HTTP to the port gets no answer.
 */
import { copyFile, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { expect } from "chai";
import { pino } from "pino";

import { parseBankConfig, startBankServer, type BankServer } from "../../bank-sim/server.js";
import { HttpBankAdapter } from "../../gateway/adapters/bank.js";
import { devCertificates, httpGet, httpsGet, trustCa, type DevCertificates } from "../helpers/tls.js";

const logger = pino({ level: "silent" });
const CLIENT = { id: "gateway", secret: "a-bank-client-secret-of-32-chars!" };

describe("bank simulator over HTTPS", function () {
  this.timeout(60_000);
  let dir: string;
  let certs: DevCertificates;
  let bank: BankServer;

  before(async function () {
    dir = await mkdtemp(join(tmpdir(), "settlenet-bank-tls-"));
    certs = await devCertificates(dir);
    // Relative paths in the config resolve against the config's folder.
    await copyFile(certs.cert, join(dir, "bank.pem"));
    await copyFile(certs.key, join(dir, "bank.key"));
    const config = parseBankConfig(
      { port: 0, dataDir: "data", latencyMs: { min: 0, max: 0 }, failureRate: 0, clients: [CLIENT], tls: { certFile: "bank.pem", keyFile: "bank.key" }, logLevel: "silent" },
      dir,
    );
    bank = await startBankServer(config, { logger });
  });
  after(async function () {
    await bank?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("serves HTTPS to a client that trusts its CA", async function () {
    expect(bank.url).to.match(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(await httpsGet(`${bank.url}/health`, await readFile(certs.ca))).to.deep.equal({ status: 200 });
  });

  it("refuses a client that does not trust the CA, and answers nothing over plain HTTP", async function () {
    const untrusted = await httpsGet(`${bank.url}/health`);
    expect(untrusted).to.have.nested.property("error.code", "UNABLE_TO_VERIFY_LEAF_SIGNATURE");
    const plain = await httpGet(`${bank.url.replace("https:", "http:")}/health`);
    expect(plain).to.have.property("error");
  });

  it("is reached by the gateway's bank adapter once the CA is trusted", async function () {
    const adapter = new HttpBankAdapter({ baseUrl: bank.url, client: CLIENT, attempts: 1 }, { logger });
    const untrust = await trustCa(certs.ca);
    try {
      const page = await adapter.listTransfers({ limit: 10 });
      expect(page.transfers).to.deep.equal([]);
    } finally {
      untrust();
    }
  });
});
