import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { expect } from "chai";

import { loadGatewayConfig, parseGatewayConfig } from "../../gateway/config.js";
import type { SettlenetError } from "../../core/errors.js";
import { refusalOf } from "../helpers/errors.js";

const minimal = { port: 0, dataDir: "data", nodeUrl: "http://127.0.0.1:7000", rpcUrl: "http://127.0.0.1:8545", deploymentFile: "d.json" };

describe("gateway configuration", function () {
  it("validates the configuration and names the bad field", function () {
    const config = parseGatewayConfig(minimal, "/srv/gw");
    expect(config.dataDir).to.equal("/srv/gw/data");
    expect(config.clockSkewSeconds).to.equal(300);
    expect(config.orders.expirySeconds).to.equal(1_800);
    try {
      parseGatewayConfig({ port: 0, dataDir: "data", nodeUrl: "ftp://x", rpcUrl: "http://127.0.0.1:8545", deploymentFile: "d.json", extra: 1 }, "/");
      expect.fail("accepted a bad config");
    } catch (error) {
      expect((error as SettlenetError).code).to.equal("CONFIG_INVALID");
      expect((error as SettlenetError).meta["fields"]).to.include.members(["nodeUrl", ""]);
    }
  });

  it("reads a file, resolves its key files against the file's folder, and names the file when a field is bad", async function () {
    const dir = await mkdtemp(join(tmpdir(), "settlenet-gw-config-"));
    try {
      const file = join(dir, "gateway.json");
      await writeFile(file, JSON.stringify({ ...minimal, permitRelayer: { keyFile: "keys/relayer.json" } }));
      const config = await loadGatewayConfig(file);
      expect([config.dataDir, config.deploymentFile, config.permitRelayer?.keyFile]).to.deep.equal([join(dir, "data"), join(dir, "d.json"), join(dir, "keys/relayer.json")]);
      // The gateway holds no custodian key: a config naming one is refused (the custodian service beside the custodian's node holds it).
      await writeFile(file, JSON.stringify({ ...minimal, custodian: { keyFile: "keys/custodian.json" } }));
      const custodian = await refusalOf(loadGatewayConfig(file));
      expect([custodian.code, custodian.meta["fields"]]).to.deep.equal(["CONFIG_INVALID", [""]]);
      await writeFile(file, JSON.stringify({ ...minimal, port: "7300" }));
      const invalid = await refusalOf(loadGatewayConfig(file));
      expect([invalid.code, invalid.meta["path"], invalid.meta["fields"]]).to.deep.equal(["CONFIG_INVALID", file, ["port"]]);
      expect(invalid.message).to.include(file);
      expect((await refusalOf(loadGatewayConfig(join(dir, "missing.json")))).code).to.equal("CONFIG_UNREADABLE");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("takes a certificate and key for HTTPS, resolved against the config's folder, and refuses a TLS field it does not know", function () {
    const config = parseGatewayConfig({ ...minimal, tls: { certFile: "tls/gateway.pem", keyFile: "/etc/gw/gateway.key" } }, "/srv/gw");
    expect(config.tls).to.deep.equal({ certFile: "/srv/gw/tls/gateway.pem", keyFile: "/etc/gw/gateway.key" });
    expect(parseGatewayConfig(minimal, "/srv/gw").tls).to.equal(undefined);
    try {
      parseGatewayConfig({ ...minimal, tls: { certFile: "gateway.pem", keyFile: "gateway.key", ca: "ca.pem" } }, "/");
      expect.fail("accepted an unknown TLS field");
    } catch (error) {
      expect((error as SettlenetError).code).to.equal("CONFIG_INVALID");
      expect((error as SettlenetError).meta["fields"]).to.deep.equal(["tls"]);
    }
  });
});
