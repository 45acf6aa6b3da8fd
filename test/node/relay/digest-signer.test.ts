/**
 * The node's own signatures (relay transactions, lease messages) must be the very bytes ethers' signing
 * gives for the same key and digest, whichever implementation signs, and recover to the key's address.
 */
import { expect } from "chai";
import type { SigningKey} from "ethers";
import { Wallet, hexlify, randomBytes, recoverAddress } from "ethers";

import { NATIVE_SIGNING, signDigest } from "../../../node/relay/digest-signer.js";
import { NATIVE_SECP256K1 } from "../../../node/validation/signature.js";

describe("signing digests with the node's key", function () {
  it("signs natively where libsecp256k1 loads", function () {
    expect(NATIVE_SIGNING).to.equal(NATIVE_SECP256K1);
  });

  it("gives ethers' signature for every digest and key, both parities, from bytes or hex", function () {
    const parities = new Set<number>();
    for (let i = 0; i < 40; i++) {
      const wallet = Wallet.createRandom();
      const key: SigningKey = wallet.signingKey;
      const digest = randomBytes(32);
      const expected = key.sign(digest);
      const signed = signDigest(key, i % 2 === 0 ? digest : hexlify(digest));
      expect(signed.serialized).to.equal(expected.serialized);
      expect([signed.r, signed.s, signed.yParity]).to.deep.equal([BigInt(expected.r), BigInt(expected.s), expected.yParity]);
      expect(recoverAddress(digest, signed.serialized)).to.equal(wallet.address);
      parities.add(signed.yParity);
    }
    expect([...parities].sort()).to.deep.equal([0, 1]);
  });

  it("refuses a digest that is not 32 bytes", function () {
    expect(() => signDigest(Wallet.createRandom().signingKey, randomBytes(31))).to.throw(TypeError);
  });
});
