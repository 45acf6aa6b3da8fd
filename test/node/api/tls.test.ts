/**
 * The node API over HTTPS: a node given a certificate and key serves TLS only, and a client that
 * trusts the issuing CA (here the CLI with NODE_EXTRA_CA_CERTS) reaches it; one that does not is
 * refused at the handshake. The CA and certificate are made with openssl for the test.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { expect } from "chai";

import { runCli } from "../../helpers/cli.js";
import { devCertificates, type DevCertificates } from "../../helpers/tls.js";
import { startApiNode, type ApiNode } from "../../core/api/fixture.js";

describe("node API over HTTPS", function () {
  this.timeout(180_000);
  let dir: string;
  let certs: DevCertificates;
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
