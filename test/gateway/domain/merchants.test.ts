import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { expect } from "chai";
import { Wallet } from "ethers";

import { addMerchant, apiKeySecret, createApiKey, merchantWallet, revokeApiKey } from "../../../gateway/domain/merchants.js";
import { SecretBox, parseMasterKey, secretBoxFromEnv } from "../../../gateway/domain/secrets.js";
import { openGatewayStorage, type GatewayStorage } from "../../../gateway/storage/db.js";
import { refusalOf } from "../../helpers/errors.js";

/** The code of what `fn` throws or rejects with. */
const codeOf = async (fn: () => unknown): Promise<string> => (await refusalOf((async () => fn())())).code;

describe("gateway domain: merchants and their secrets at rest", function () {
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
});
