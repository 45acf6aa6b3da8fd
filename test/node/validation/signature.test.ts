import { expect } from "chai";
import { Signature, Wallet, hexlify, randomBytes, recoverAddress, toBeHex } from "ethers";

import { OperationError } from "../../../core/errors.js";
import { NATIVE_SECP256K1, recoverSigner } from "../../../node/validation/signature.js";

const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

function codeOf(fn: () => unknown): { code: string; action: string } {
  try {
    fn();
  } catch (error) {
    if (error instanceof OperationError) return { code: error.code, action: error.action };
    throw error;
  }
  throw new Error("expected an OperationError");
}

function signRandom(count: number): { digest: string; signature: string; signer: string }[] {
  const wallets = Array.from({ length: Math.min(16, count) }, () => Wallet.createRandom());
  return Array.from({ length: count }, (_, i) => {
    const wallet = wallets[i % wallets.length]!;
    const digest = hexlify(randomBytes(32));
    return { digest, signature: wallet.signingKey.sign(digest).serialized, signer: wallet.address };
  });
}

describe("signer recovery (native secp256k1)", function () {
  it("uses the native binding", function () {
    expect(NATIVE_SECP256K1).to.equal(true);
  });

  it("agrees with ethers.recoverAddress on random keys and digests", function () {
    for (const { digest, signature, signer } of signRandom(200)) {
      const recovered = recoverSigner(digest, signature);
      expect(recovered).to.equal(recoverAddress(digest, signature));
      expect(recovered).to.equal(signer);
    }
  });

  it("recovers a different signer for a different digest (e.g. another chain's domain)", function () {
    const [{ signature, signer }] = signRandom(1) as [{ digest: string; signature: string; signer: string }];
    expect(recoverSigner(hexlify(randomBytes(32)), signature)).to.not.equal(signer);
  });

  it("refuses the high-s twin of a valid signature (malleability), as OpenZeppelin ECDSA does", function () {
    const [{ digest, signature, signer }] = signRandom(1) as [{ digest: string; signature: string; signer: string }];
    const sig = Signature.from(signature);
    const highS = toBeHex(N - BigInt(sig.s), 32);
    const twin = sig.r + highS.slice(2) + (sig.v === 27 ? "1c" : "1b");
    expect(recoverSigner(digest, signature)).to.equal(signer);
    expect(codeOf(() => recoverSigner(digest, twin))).to.deep.equal({ code: "BAD_SIGNATURE", action: "reject" });
  });

  it("refuses v other than 27 or 28, as the EVM's ecrecover does", function () {
    const [{ digest, signature }] = signRandom(1) as [{ digest: string; signature: string; signer: string }];
    const v = Number.parseInt(signature.slice(130), 16);
    for (const bad of [v - 27, 29, 0xff]) {
      const altered = signature.slice(0, 130) + bad.toString(16).padStart(2, "0");
      expect(codeOf(() => recoverSigner(digest, altered)).code).to.equal("BAD_SIGNATURE");
    }
  });

  it("refuses a zero or out-of-range r and malformed hex", function () {
    const [{ digest, signature }] = signRandom(1) as [{ digest: string; signature: string; signer: string }];
    const tail = signature.slice(66);
    expect(codeOf(() => recoverSigner(digest, "0x" + "00".repeat(32) + tail)).code).to.equal("BAD_SIGNATURE");
    expect(codeOf(() => recoverSigner(digest, "0x" + "ff".repeat(32) + tail)).code).to.equal("BAD_SIGNATURE");
    expect(codeOf(() => recoverSigner(digest, signature.slice(0, 128))).code).to.equal("BAD_SIGNATURE");
    expect(codeOf(() => recoverSigner("0x1234", signature)).code).to.equal("BAD_SIGNATURE");
  });

  it("measures recoveries per second against ethers (reported, not asserted)", function () {
    const samples = signRandom(2000);
    const rate = (fn: (digest: string, signature: string) => string, items: typeof samples) => {
      const start = performance.now();
      for (const { digest, signature } of items) fn(digest, signature);
      return Math.round(items.length / ((performance.now() - start) / 1000));
    };
    rate(recoverSigner, samples.slice(0, 300)); // warm-up
    const native = rate(recoverSigner, samples);
    const ethers = rate(recoverAddress, samples.slice(0, 200));
    console.log(`      recoverSigner: ${native}/s, ethers.recoverAddress: ${ethers}/s (x${(native / ethers).toFixed(1)})`);
    expect(native).to.be.greaterThan(0);
  });
});
