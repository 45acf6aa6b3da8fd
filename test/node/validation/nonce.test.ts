/**
 * A used nonce on the validation path, with the node's real LevelDB: DUPLICATE when the operation
 * holding it is this very one (its gossip copy was stored between the duplicate check and the nonce
 * check), NONCE_USED when another operation of the signer took it.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { expect } from "chai";
import { Wallet, hexlify } from "ethers";

import type { StoredOperation } from "../../../core/records.js";
import type { ValidationContext } from "../../../node/services.js";
import { openStorage, type NodeStorage } from "../../../node/storage/db.js";
import { nonceRefusal } from "../../../node/validation/refusal.js";
import { wireTerms } from "../../helpers/operations.js";

describe("validation: a used nonce", function () {
  let dir: string;
  let storage: NodeStorage;

  before(async function () {
    dir = await mkdtemp(join(tmpdir(), "settlenet-nonce-"));
    storage = await openStorage(dir);
  });
  after(async function () {
    await storage?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("is DUPLICATE for the operation that holds it and NONCE_USED for any other, on both paths", async function () {
    const payer = Wallet.createRandom().address;
    const terms = wireTerms({ payer, merchant: Wallet.createRandom().address, orderId: hexlify(randomBytes(32)) });
    const id = hexlify(randomBytes(32));
    const stored: StoredOperation = {
      id,
      kind: "confirm",
      paymentId: hexlify(randomBytes(32)),
      op: { kind: "confirm", terms, nonce: "9", deadline: "1900000000", signature: "0x" + "aa".repeat(65) },
      signer: payer,
      origin: "gossip",
      status: "accepted",
      receivedAtMs: 1,
      updatedAtMs: 1,
    };
    await storage.operations.putAccepted([stored]);
    const ctx = { storage } as unknown as ValidationContext;
    for (const path of ["api", "gossip"] as const) {
      expect((await nonceRefusal(payer, 9n, id, ctx, path)).code, path).to.equal("DUPLICATE");
      expect((await nonceRefusal(payer, 9n, hexlify(randomBytes(32)), ctx, path)).code, path).to.equal("NONCE_USED");
    }
  });
});
