import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { expect } from "chai";
import { Wallet } from "ethers";

import { gatewayCommand } from "../../gateway/cli.js";
import { parseGatewayConfig } from "../../gateway/config.js";
import { addMerchant, apiKeySecret, createApiKey, merchantWallet, revokeApiKey } from "../../gateway/domain/merchants.js";
import { SecretBox, parseMasterKey, secretBoxFromEnv } from "../../gateway/domain/secrets.js";
import { openGatewayStorage, type GatewayStorage } from "../../gateway/storage/db.js";
import type { OrderRecord } from "../../gateway/domain/records.js";
import type { SettlenetError } from "../../core/errors.js";
import { refusalOf } from "../helpers/errors.js";

/** The code of what `fn` throws or rejects with. */
const codeOf = async (fn: () => unknown): Promise<string> => (await refusalOf((async () => fn())())).code;

function order(overrides: Partial<OrderRecord>): OrderRecord {
  return {
    id: `pay_${randomBytes(16).toString("hex")}`,
    merchantId: "m1",
    merchantOrderId: "o-1",
    requestHash: "h",
    status: "awaiting_authorization",
    amount: "100",
    currency: "CNY",
    description: null,
    mode: "escrow",
    terms: {} as OrderRecord["terms"],
    paymentId: `0x${randomBytes(32).toString("hex")}`,
    createdAtMs: Date.now(),
    updatedAtMs: Date.now(),
    expiresAtMs: Date.now() + 60_000,
    refunds: [],
    ...overrides,
  };
}

describe("gateway: secrets at rest, storage and admin commands", function () {
  let dir: string;
  let storage: GatewayStorage;
  const box = new SecretBox(randomBytes(32));

  beforeEach(async function () {
    dir = await mkdtemp(join(tmpdir(), "settlenet-gw-storage-"));
    storage = await openGatewayStorage(join(dir, "db"));
  });
  afterEach(async function () {
    await storage?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("seals secrets so that only the same master key and record open them", async function () {
    const sealed = box.seal("sk_secret", "apiKey:key_1");
    expect(JSON.stringify(sealed)).to.not.include("sk_secret");
    expect(box.open(sealed, "apiKey:key_1")).to.equal("sk_secret");
    expect(await codeOf(() => new SecretBox(randomBytes(32)).open(sealed, "apiKey:key_1"))).to.equal("SECRET_UNDECRYPTABLE");
    expect(await codeOf(() => box.open(sealed, "apiKey:key_2"))).to.equal("SECRET_UNDECRYPTABLE");
    expect(await codeOf(() => box.open({ ...sealed, data: Buffer.from("tampered").toString("base64") }, "apiKey:key_1"))).to.equal("SECRET_UNDECRYPTABLE");
  });

  it("reads the master key from the environment as hex or base64, and refuses a missing or short one", async function () {
    const key = randomBytes(32);
    expect(parseMasterKey(key.toString("hex")).equals(key)).to.equal(true);
    expect(parseMasterKey(key.toString("base64")).equals(key)).to.equal(true);
    expect(await codeOf(() => parseMasterKey("abcd"))).to.equal("MASTER_KEY_INVALID");
    expect(await codeOf(() => secretBoxFromEnv("GW_TEST_NO_SUCH_VAR", {}))).to.equal("MASTER_KEY_MISSING");
  });

  it("stores merchant keys and API secrets only encrypted", async function () {
    const wallet = Wallet.createRandom();
    await addMerchant({ id: "shop", privateKey: wallet.privateKey }, { storage, secrets: box });
    const issued = await createApiKey("shop", { storage, secrets: box });
    const merchant = await storage.merchants.get("shop");
    const key = await storage.apiKeys.get(issued.keyId);
    if (!merchant || !key) throw new Error("not stored");
    expect(JSON.stringify(merchant)).to.not.include(wallet.privateKey.slice(2));
    expect(JSON.stringify(key)).to.not.include(issued.secret);
    expect(merchantWallet(merchant, box).address).to.equal(wallet.address);
    expect(apiKeySecret(key, box)).to.equal(issued.secret);
    await storage.close();
    // Nor anywhere in the database files.
    for (const file of await readdir(join(dir, "db"))) {
      const bytes = await readFile(join(dir, "db", file)).catch(() => Buffer.alloc(0));
      expect(bytes.includes(Buffer.from(issued.secret)), file).to.equal(false);
      expect(bytes.includes(Buffer.from(wallet.privateKey.slice(2))), file).to.equal(false);
    }
    storage = await openGatewayStorage(join(dir, "db"));
  });

  it("refuses a second merchant with the same id or on-chain address, and revoking someone else's key", async function () {
    const wallet = Wallet.createRandom();
    await addMerchant({ id: "a", privateKey: wallet.privateKey }, { storage, secrets: box });
    await addMerchant({ id: "b", privateKey: Wallet.createRandom().privateKey }, { storage, secrets: box });
    expect(await codeOf(() => addMerchant({ id: "a", privateKey: Wallet.createRandom().privateKey }, { storage, secrets: box }))).to.equal("MERCHANT_EXISTS");
    expect(await codeOf(() => addMerchant({ id: "c", privateKey: wallet.privateKey }, { storage, secrets: box }))).to.equal("MERCHANT_EXISTS");
    expect(await codeOf(() => addMerchant({ id: "Bad Id", privateKey: wallet.privateKey }, { storage, secrets: box }))).to.equal("MALFORMED");
    const key = await createApiKey("a", { storage, secrets: box });
    expect(await codeOf(() => revokeApiKey("b", key.keyId, { storage, secrets: box }))).to.equal("KEY_NOT_FOUND");
    expect(await codeOf(() => createApiKey("nobody", { storage, secrets: box }))).to.equal("MERCHANT_NOT_FOUND");
  });

  it("keeps merchantOrderId unique per merchant and moves the status index with the order", async function () {
    const first = order({ merchantOrderId: "o-1" });
    expect((await storage.orders.create(first)).created).to.equal(true);
    const clash = await storage.orders.create(order({ merchantOrderId: "o-1" }));
    expect(clash.created).to.equal(false);
    if (!clash.created) expect(clash.existing.id).to.equal(first.id);
    expect((await storage.orders.create(order({ merchantId: "m2", merchantOrderId: "o-1" }))).created).to.equal(true);

    await storage.orders.update(first.id, (o) => ({ next: { ...o, status: "held" } }));
    expect((await storage.orders.list("m1", { limit: 10, status: "awaiting_authorization" })).items).to.have.length(0);
    expect((await storage.orders.list("m1", { limit: 10, status: "held" })).items.map((o) => o.id)).to.deep.equal([first.id]);
    expect((await storage.orders.getByPaymentId(first.paymentId))?.id).to.equal(first.id);
    expect(await codeOf(() => storage.orders.list("m2", { limit: 1, cursor: "garbage" }))).to.equal("MALFORMED");
  });

  it("takes over an in-progress idempotency record of an earlier process, not of the running one", async function () {
    const now = Date.now();
    expect((await storage.idempotency.begin("m1", "k", "f", "process-1", now, 60_000)).state).to.equal("started");
    expect((await storage.idempotency.begin("m1", "k", "f", "process-1", now, 60_000)).state).to.equal("in_progress");
    expect((await storage.idempotency.begin("m1", "k", "f", "process-2", now, 60_000)).state).to.equal("started");
    await storage.idempotency.complete("m1", "k", "process-2", { status: 201, contentType: "application/json", body: "{}" });
    expect((await storage.idempotency.begin("m1", "k", "f", "process-3", now, 60_000)).state).to.equal("replay");
    expect((await storage.idempotency.begin("m1", "k", "other", "process-3", now, 60_000)).state).to.equal("mismatch");
    // Expired records are pruned.
    expect(await storage.idempotency.prune(now + 120_000)).to.equal(1);
    expect((await storage.idempotency.begin("m1", "k", "other", "process-3", now + 120_000, 60_000)).state).to.equal("started");
  });

  it("refuses a nonce again until it expires, and prunes only expired nonces", async function () {
    const now = Date.now();
    expect(await storage.nonces.claim("key_1", "n-1", now + 1_000, now)).to.equal(true);
    expect(await storage.nonces.claim("key_1", "n-1", now + 1_000, now + 500)).to.equal(false);
    expect(await storage.nonces.claim("key_1", "n-2", now + 5_000, now)).to.equal(true);
    expect(await storage.nonces.prune(now + 2_000)).to.equal(1);
    expect(await storage.nonces.claim("key_1", "n-2", now + 5_000, now + 2_000)).to.equal(false);
    expect(await storage.nonces.claim("key_1", "n-1", now + 9_000, now + 2_000)).to.equal(true);
  });

  it("validates the configuration and names the bad field", async function () {
    const config = parseGatewayConfig({ port: 0, dataDir: "data", nodeUrl: "http://127.0.0.1:7000", rpcUrl: "http://127.0.0.1:8545", deploymentFile: "d.json" }, "/srv/gw");
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

  it("creates, rotates and revokes keys through the admin command", async function () {
    await storage.close();
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
      storage = await openGatewayStorage(join(dir, "db"));
    }
  });
});
