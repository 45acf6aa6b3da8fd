import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { expect } from "chai";
import { Wallet } from "ethers";

import { gatewayCommand } from "../../gateway/cli.js";
import { refusalOf } from "../helpers/errors.js";

/** The code of what `fn` throws or rejects with. */
const codeOf = async (fn: () => unknown): Promise<string> => (await refusalOf((async () => fn())())).code;

describe("gateway admin commands", function () {
  let dir: string;

  beforeEach(async function () {
    dir = await mkdtemp(join(tmpdir(), "settlenet-gw-cli-"));
  });
  afterEach(async function () {
    await rm(dir, { recursive: true, force: true });
  });

  it("creates, rotates and revokes keys through the admin command", async function () {
    const configFile = join(dir, "gateway.json");
    await writeFile(configFile, JSON.stringify({ port: 0, dataDir: ".", nodeUrl: "http://127.0.0.1:7000", rpcUrl: "http://127.0.0.1:8545", deploymentFile: "d.json", masterKeyEnv: "GW_TEST_MASTER_KEY" }));
    process.env["GW_TEST_MASTER_KEY"] = randomBytes(32).toString("hex");
    const MERCHANT_KEY = Wallet.createRandom().privateKey;
    process.env["GW_TEST_MERCHANT_KEY"] = MERCHANT_KEY;
    try {
      const run = async (...args: string[]) => {
        const lines: string[] = [];
        await gatewayCommand([...args, "--config", configFile], (line) => lines.push(line));
        return JSON.parse(lines.join("\n")) as Record<string, unknown>;
      };
      const added = await run("merchant", "add", "--id", "shop", "--private-key-env", "GW_TEST_MERCHANT_KEY");
      expect(added["address"]).to.equal(new Wallet(MERCHANT_KEY).address);
      const first = await run("keys", "create", "--merchant", "shop");
      const rotated = await run("keys", "rotate", "--merchant", "shop", "--overlap", "60");
      expect((rotated["retired"] as { keyId: string }[]).map((k) => k.keyId)).to.deep.equal([first["keyId"]]);
      const revoked = await run("keys", "revoke", "--merchant", "shop", "--key", String(first["keyId"]));
      expect(revoked["keyId"]).to.equal(first["keyId"]);
      const listed = (await run("keys", "list", "--merchant", "shop")) as unknown as { keyId: string; revokedAt?: string; expiresAt?: string }[];
      expect(listed.find((k) => k.keyId === first["keyId"])?.revokedAt).to.be.a("string");
      expect(listed.find((k) => k.keyId === rotated["keyId"])?.revokedAt).to.equal(undefined);
      expect(await codeOf(() => run("keys", "create", "--merchant", "nobody"))).to.equal("MERCHANT_NOT_FOUND");
      expect(await codeOf(() => run("keys", "explode", "--merchant", "shop"))).to.equal("USAGE");
    } finally {
      delete process.env["GW_TEST_MASTER_KEY"];
      delete process.env["GW_TEST_MERCHANT_KEY"];
    }
  });
});
