/**
 * The node API over HTTPS: a node given a certificate and key serves TLS only, and a client that
 * trusts the issuing CA (here the CLI with NODE_EXTRA_CA_CERTS) reaches it; one that does not is
 * refused at the handshake. The CA and certificate are made with openssl for the test.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

import { expect } from "chai";

import { runCli } from "../../helpers/cli.js";
import { startApiNode, type ApiNode } from "../../core/api/fixture.js";

const run = promisify(execFile);

/** A development CA and a certificate for 127.0.0.1 signed by it. */
async function devCertificates(dir: string): Promise<{ ca: string; cert: string; key: string }> {
  const at = (name: string) => join(dir, name);
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await run("openssl", ["req", "-x509", ...ec, "-keyout", at("ca.key"), "-out", at("ca.pem"), "-days", "1", "-subj", "/CN=settlenet test CA"]);
  await run("openssl", ["req", ...ec, "-keyout", at("node.key"), "-out", at("node.csr"), "-subj", "/CN=127.0.0.1"]);
  await writeFile(at("ext.cnf"), "subjectAltName=IP:127.0.0.1\n");
  await run("openssl", ["x509", "-req", "-in", at("node.csr"), "-CA", at("ca.pem"), "-CAkey", at("ca.key"), "-CAcreateserial", "-out", at("node.pem"), "-days", "1", "-extfile", at("ext.cnf")]);
  return { ca: at("ca.pem"), cert: at("node.pem"), key: at("node.key") };
}

describe("node API over HTTPS", function () {
  this.timeout(180_000);
  let dir: string;
  let certs: { ca: string; cert: string; key: string };
  let api: ApiNode;

  before(async function () {
    dir = await mkdtemp(join(tmpdir(), "settlenet-tls-"));
    certs = await devCertificates(dir);
    api = await startApiNode({ tls: { certFile: certs.cert, keyFile: certs.key } });
  });
  after(async function () {
    await api?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("serves HTTPS to a client that trusts its CA, and nothing to one that does not or speaks plain HTTP", async function () {
    expect(api.node.apiUrl).to.match(/^https:\/\/127\.0\.0\.1:\d+$/);
    const args = ["report", "reserves", "--node", api.node.apiUrl, "--format", "json"];
    const trusted = await runCli(args, { SETTLENET_NODE_TOKEN: api.credentials.regulator, NODE_EXTRA_CA_CERTS: certs.ca });
    expect(trusted.code, trusted.stderr).to.equal(0);
    expect(JSON.parse(trusted.stdout)).to.have.property("tokens");

    const untrusted = await runCli(args, { SETTLENET_NODE_TOKEN: api.credentials.regulator });
    expect(untrusted.code).to.equal(1);
    expect(untrusted.stderr).to.contain("NODE_UNAVAILABLE");
    const plain = await runCli(["report", "reserves", "--node", api.node.apiUrl.replace("https:", "http:")], { SETTLENET_NODE_TOKEN: api.credentials.regulator });
    expect(plain.code).to.equal(1);
  });
});
