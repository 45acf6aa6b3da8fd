import { mkdtemp, writeFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { expect } from "chai";
import { Wallet } from "ethers";

import { loadNodeConfig, parseNodeConfig, type NodeConfigInput } from "../../node/config.js";
import { SettlenetError } from "../../core/errors.js";
import { loadOperatorWallet, writeOperatorKeystore } from "../../core/keys.js";
import { refusal } from "../helpers/errors.js";

const base: NodeConfigInput = {
  role: "institution",
  keyFile: "keys/operator.json",
  peerKeyFile: "keys/peer.key",
  listen: ["/ip4/127.0.0.1/tcp/4101"],
  rpcUrl: "http://127.0.0.1:8545",
  deploymentFile: "deployment.json",
  dataDir: "data",
  api: { port: 7101 },
};

describe("node configuration", function () {
  it("fills defaults and resolves paths against the config file's folder", function () {
    const config = parseNodeConfig(base, "/srv/settlenet");
    expect(config.keyFile).to.equal("/srv/settlenet/keys/operator.json");
    expect(config.dataDir).to.equal("/srv/settlenet/data");
    expect(config.api.host).to.equal("127.0.0.1");
    expect(config.relay.failoverTimeoutMs).to.equal(5_000);
    expect(config.keyPasswordEnv).to.equal("SETTLENET_KEY_PASSWORD");
    expect(config.risk.blacklist).to.deep.equal([]);
  });

  it("reads risk limits as integer minor units", function () {
    const config = parseNodeConfig({ ...base, risk: { payerDailyLimit: "5000000", blacklist: [] } }, "/");
    expect(config.risk.payerDailyLimit).to.equal(5_000_000n);
  });

  it("reads the per-peer gossip limits, each defaulting on its own", function () {
    expect(parseNodeConfig(base, "/").p2p).to.deep.equal({ maxRejects: 5, banSeconds: 600, maxControlRpcsPerSecond: 20 });
    expect(parseNodeConfig({ ...base, p2p: { maxControlRpcsPerSecond: 50, banSeconds: 30 } }, "/").p2p).to.deep.equal({ maxRejects: 5, banSeconds: 30, maxControlRpcsPerSecond: 50 });
  });

  for (const [field, patch] of [
    ["role", { role: "miner" }],
    ["listen.0", { listen: ["127.0.0.1:4101"] }],
    ["rpcUrl", { rpcUrl: "not a url" }],
    ["api.port", { api: { port: 70_000 } }],
    ["risk.payerDailyLimit", { risk: { payerDailyLimit: 5.5 } }],
    ["p2p.maxControlRpcsPerSecond", { p2p: { maxControlRpcsPerSecond: 0 } }],
    ["", { unexpected: true }],
  ] as const) {
    it(`refuses a bad ${field || "unknown field"} and names it`, function () {
      const error = refusal(() => parseNodeConfig({ ...base, ...patch }, "/"));
      expect(error.code).to.equal("CONFIG_INVALID");
      expect(error.meta["fields"]).to.include(field);
    });
  }

  it("refuses a missing or unparsable file with its own code", async function () {
    const dir = await mkdtemp(join(tmpdir(), "settlenet-config-"));
    try {
      const path = join(dir, "node.json");
      await writeFile(path, "{ not json");
      const error = await loadNodeConfig(path).catch((e: unknown) => e);
      expect(error).to.be.instanceOf(SettlenetError).with.property("code", "CONFIG_UNREADABLE");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  describe("operator key file", function () {
    let dir: string;
    before(async function () {
      dir = await mkdtemp(join(tmpdir(), "settlenet-keys-"));
    });
    after(async function () {
      await rm(dir, { recursive: true, force: true });
    });

    it("decrypts the keystore with the password from the environment", async function () {
      const wallet = Wallet.createRandom();
      const file = join(dir, "operator.json");
      await writeOperatorKeystore(file, wallet.privateKey, "s3cret", true);
      process.env["TEST_KEY_PASSWORD"] = "s3cret";
      expect((await loadOperatorWallet(file, "TEST_KEY_PASSWORD")).address).to.equal(wallet.address);
    });

    it("refuses a wrong or missing password with coded errors", async function () {
      const file = join(dir, "operator2.json");
      await writeOperatorKeystore(file, Wallet.createRandom().privateKey, "right", true);
      process.env["TEST_KEY_PASSWORD"] = "wrong";
      const wrong = await loadOperatorWallet(file, "TEST_KEY_PASSWORD").catch((e: unknown) => e);
      expect(wrong).to.have.property("code", "KEY_FILE_INVALID");
      delete process.env["TEST_KEY_PASSWORD"];
      const missing = await loadOperatorWallet(file, "TEST_KEY_PASSWORD").catch((e: unknown) => e);
      expect(missing).to.have.property("code", "KEY_PASSWORD_MISSING");
    });
  });
});
