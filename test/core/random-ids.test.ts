import { expect } from "chai";

import { randomHex, randomNonce } from "../../core/random-ids.js";

describe("randomHex", function () {
  it("hands out lower-case hex of the asked length, never the same value twice, across pool refills", function () {
    const seen = new Set<string>();
    // 20,000 × 48 bytes is about 234 refills of the 4 KiB pool, most of them mid-value boundaries.
    for (let i = 0; i < 10_000; i++) {
      for (const bytes of [16, 32]) {
        const hex = randomHex(bytes);
        expect(hex).to.match(new RegExp(`^[0-9a-f]{${2 * bytes}}$`));
        expect(seen.has(hex), `value repeated after ${seen.size}`).to.equal(false);
        seen.add(hex);
      }
    }
  });

  it("spreads its bytes evenly (no zeroed or reused pool bytes)", function () {
    const counts = new Array<number>(256).fill(0);
    const values = 4_000;
    for (let i = 0; i < values; i++) {
      const bytes = Buffer.from(randomHex(32), "hex");
      for (const byte of bytes) counts[byte] = (counts[byte] ?? 0) + 1;
    }
    // 128,000 bytes: 500 expected per value; a pool handed out twice or zeroed would skew byte 0 or repeat runs.
    const expected = (values * 32) / 256;
    const chiSquare = counts.reduce((sum, count) => sum + (count - expected) ** 2 / expected, 0);
    // 255 degrees of freedom: p < 1e-6 above about 375.
    expect(chiSquare).to.be.below(375);
  });

  it("refuses a length outside 1–256 bytes", function () {
    for (const bytes of [0, -1, 1.5, 257, Number.NaN]) expect(() => randomHex(bytes), String(bytes)).to.throw(RangeError);
  });

  it("gives 256-bit nonces that use the whole range and do not repeat", function () {
    const nonces = Array.from({ length: 2_000 }, () => randomNonce());
    expect(new Set(nonces).size).to.equal(nonces.length);
    for (const nonce of nonces) expect(nonce >= 0n && nonce < 1n << 256n, String(nonce)).to.equal(true);
    // The top byte is random too: about half of 2,000 nonces are at least 2^255.
    const high = nonces.filter((nonce) => nonce >= 1n << 255n).length;
    expect(high).to.be.within(850, 1_150);
  });
});
