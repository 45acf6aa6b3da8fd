/** TOTP (RFC 6238 appendix B vectors, SHA-1) and scrypt password hashing. */
import { expect } from "chai";

import { hashPassword, verifyPassword } from "../../../core/auth/passwords.js";
import { base32Decode, base32Encode, hotp, otpauthUri, totpCode, verifyTotp } from "../../../core/auth/totp.js";

// RFC 6238 appendix B: the SHA-1 seed is the ASCII string "12345678901234567890".
const RFC_SEED = Buffer.from("12345678901234567890", "ascii");
const RFC_SHA1_VECTORS: [number, string][] = [
  [59, "94287082"],
  [1111111109, "07081804"],
  [1111111111, "14050471"],
  [1234567890, "89005924"],
  [2000000000, "69279037"],
  [20000000000, "65353130"],
];

describe("auth: TOTP and passwords", function () {
  this.timeout(30_000);

  it("gives the RFC 6238 SHA-1 test vectors (8 digits) and their last 6 digits as 6-digit codes", function () {
    const secret = base32Encode(RFC_SEED);
    for (const [seconds, code] of RFC_SHA1_VECTORS) {
      expect(hotp(RFC_SEED, BigInt(Math.floor(seconds / 30)), 8), `T=${seconds}`).to.equal(code);
      expect(totpCode(secret, seconds * 1000), `T=${seconds}`).to.equal(code.slice(2));
    }
  });

  it("round-trips base32 and writes the otpauth:// URI authenticator apps read", function () {
    expect(base32Encode(RFC_SEED)).to.equal("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    expect(base32Decode("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ")?.equals(RFC_SEED)).to.equal(true);
    expect(base32Decode("not base32!")).to.equal(undefined);
    const uri = new URL(otpauthUri("GEZDGNBVGY3TQOJQ", "owner@shop.example"));
    expect(uri.protocol).to.equal("otpauth:");
    expect([uri.host, decodeURIComponent(uri.pathname)]).to.deep.equal(["totp", "/Settlenet:owner@shop.example"]);
    expect(Object.fromEntries(uri.searchParams)).to.deep.equal({ secret: "GEZDGNBVGY3TQOJQ", issuer: "Settlenet", algorithm: "SHA1", digits: "6", period: "30" });
  });

  it("accepts the current code and one step either side, and refuses a code reused within its window", function () {
    const secret = base32Encode(RFC_SEED);
    const now = 1111111111 * 1000;
    const step = Math.floor(now / 30_000);
    const current = totpCode(secret, now);
    expect(verifyTotp(secret, current, now, undefined)).to.equal(step);
    expect(verifyTotp(secret, totpCode(secret, now - 30_000), now, undefined)).to.equal(step - 1);
    expect(verifyTotp(secret, totpCode(secret, now + 30_000), now, undefined)).to.equal(step + 1);
    expect(verifyTotp(secret, totpCode(secret, now - 60_000), now, undefined)).to.equal(undefined);
    // Once a step's code was used, it and every earlier step are refused.
    expect(verifyTotp(secret, current, now, step)).to.equal(undefined);
    expect(verifyTotp(secret, current, now + 10_000, step)).to.equal(undefined);
    expect(verifyTotp(secret, totpCode(secret, now - 30_000), now, step)).to.equal(undefined);
    expect(verifyTotp(secret, totpCode(secret, now + 30_000), now, step)).to.equal(step + 1);
    expect(verifyTotp(secret, "12345", now, undefined)).to.equal(undefined);
  });

  it("hashes passwords with scrypt and salt, and verifies only the right one", async function () {
    const stored = await hashPassword("correct horse battery");
    expect(stored).to.deep.include({ alg: "scrypt", N: 32768, r: 8, p: 1 });
    expect(JSON.stringify(stored)).to.not.include("correct horse");
    const again = await hashPassword("correct horse battery");
    expect(again.salt).to.not.equal(stored.salt);
    expect(await verifyPassword("correct horse battery", stored)).to.equal(true);
    expect(await verifyPassword("correct horse batterY", stored)).to.equal(false);
    expect(await verifyPassword("correct horse battery", undefined)).to.equal(false);
  });
});
