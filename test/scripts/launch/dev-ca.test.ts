/**
 * The launcher's development CA (scripts/lib/launch/dev-ca.ts) with the real `openssl` command and a
 * real HTTPS server: certificates issued concurrently, each chaining to the CA and naming its hosts,
 * keys readable by their owner only, kept across starts and made again when the hosts change.
 */
import { X509Certificate } from "node:crypto";
import { readFile, mkdtemp, rm, stat } from "node:fs/promises";
import { createServer } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { expect } from "chai";

import { ensureDevCa, ensurePartCertificate } from "../../../scripts/lib/launch/dev-ca.js";
import { httpsGet } from "../../helpers/tls.js";

describe("launcher: the development CA", function () {
  this.timeout(60_000);
  let dir: string;

  beforeEach(async function () {
    dir = await mkdtemp(join(tmpdir(), "settlenet-dev-ca-"));
  });
  afterEach(async function () {
    await rm(dir, { recursive: true, force: true });
  });

  it("issues each part its own certificate, concurrently, chained to the CA and naming its hosts, keys 0600", async function () {
    const ca = await ensureDevCa(join(dir, "tls"));
    const names = ["institution-1", "institution-2", "gateway", "bank"];
    const certs = await Promise.all(names.map((name, i) => ensurePartCertificate(ca, join(dir, name), name, i === 1 ? ["10.77.0.2"] : ["127.0.0.1", "localhost"])));
    const caCert = new X509Certificate(await readFile(ca.caFile));
    expect(caCert.ca).to.equal(true);
    const serials = new Set<string>();
    for (const [i, files] of certs.entries()) {
      const cert = new X509Certificate(await readFile(files.certFile));
      expect(cert.checkIssued(caCert), names[i]).to.equal(true);
      expect(cert.verify(caCert.publicKey), names[i]).to.equal(true);
      expect(cert.subjectAltName).to.equal(i === 1 ? "IP Address:10.77.0.2" : "IP Address:127.0.0.1, DNS:localhost");
      serials.add(cert.serialNumber);
      expect((await stat(files.keyFile)).mode & 0o777).to.equal(0o600);
    }
    expect(serials.size).to.equal(names.length);
    expect((await stat(ca.caKeyFile)).mode & 0o777).to.equal(0o600);
  });

  it("serves HTTPS that a client trusting the CA accepts and one trusting only the public CAs refuses", async function () {
    const ca = await ensureDevCa(join(dir, "tls"));
    const files = await ensurePartCertificate(ca, join(dir, "gateway"), "gateway", ["127.0.0.1", "localhost"]);
    const server = createServer({ cert: await readFile(files.certFile), key: await readFile(files.keyFile) }, (_req, res) => res.writeHead(204).end());
    await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
    try {
      const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/`;
      expect(await httpsGet(url, await readFile(ca.caFile))).to.deep.equal({ status: 204 });
      const untrusted = await httpsGet(url);
      expect("error" in untrusted && untrusted.error.code).to.equal("UNABLE_TO_VERIFY_LEAF_SIGNATURE");
    } finally {
      await new Promise<void>((done) => server.close(() => done()));
    }
  });

  it("keeps the CA and a certificate across starts, and makes the certificate again when its hosts change or the CA does", async function () {
    const tls = join(dir, "tls");
    const ca = await ensureDevCa(tls);
    const first = await ensurePartCertificate(ca, join(dir, "node"), "node", ["127.0.0.1"]);
    const pem = await readFile(first.certFile, "utf8");
    const caPem = await readFile(ca.caFile, "utf8");
    expect(await readFile((await ensureDevCa(tls)).caFile, "utf8")).to.equal(caPem);
    await ensurePartCertificate(ca, join(dir, "node"), "node", ["127.0.0.1"]);
    expect(await readFile(first.certFile, "utf8")).to.equal(pem);

    await ensurePartCertificate(ca, join(dir, "node"), "node", ["10.77.0.3"]);
    const moved = new X509Certificate(await readFile(first.certFile));
    expect(moved.subjectAltName).to.equal("IP Address:10.77.0.3");

    // A new CA (its files removed): the certificate no longer chains to it and is issued again.
    await rm(ca.caFile);
    const renewed = await ensureDevCa(tls);
    expect(await readFile(renewed.caFile, "utf8")).to.not.equal(caPem);
    await ensurePartCertificate(renewed, join(dir, "node"), "node", ["10.77.0.3"]);
    expect(new X509Certificate(await readFile(first.certFile)).checkIssued(new X509Certificate(await readFile(renewed.caFile)))).to.equal(true);
  });
});
