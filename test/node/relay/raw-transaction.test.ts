/**
 * Signed transactions built from bytes must be the very bytes ethers' Transaction serializes for the
 * same call and key, for both pricing types and across the RLP length boundaries (55/56 bytes, the
 * one-byte calldata below 0x80, zero and large integers); the chain receiving them is covered by the
 * sender's tests.
 */
import { expect } from "chai";
import { Transaction, Wallet, hexlify, keccak256, randomBytes } from "ethers";

import { signRawCall, type RawCall } from "../../../node/relay/raw-transaction.js";

describe("signed transactions built from bytes", function () {
  const wallet = Wallet.createRandom();
  const to = Wallet.createRandom().address;

  function viaEthers(call: RawCall, data: Uint8Array): string {
    const tx = Transaction.from({ to: call.to, data: hexlify(data), gasLimit: call.gasLimit, chainId: call.chainId, nonce: call.nonce, ...call.pricing });
    tx.signature = wallet.signingKey.sign(tx.unsignedHash);
    return tx.serialized;
  }

  const calldata = [0, 1, 2, 55, 56, 57, 255, 256, 1_000, 70_000].map((length) => randomBytes(length));
  calldata.push(Uint8Array.of(0x00), Uint8Array.of(0x7f), Uint8Array.of(0x80), Uint8Array.of(0xff));
  const pricings: RawCall["pricing"][] = [
    { type: 2, maxFeePerGas: 2_000_000_000n, maxPriorityFeePerGas: 0n },
    { type: 2, maxFeePerGas: 1n, maxPriorityFeePerGas: 1n },
    { type: 0, gasPrice: 0n },
    { type: 0, gasPrice: 875_000_000n },
  ];

  it("serializes and hashes exactly as ethers does, for both pricing types and every RLP length class", function () {
    let checked = 0;
    for (const pricing of pricings) {
      for (const [i, data] of calldata.entries()) {
        const call: RawCall = { to, pricing, chainId: i % 2 === 0 ? 31_337n : 1n, nonce: [0, 1, 127, 128, 65_536][i % 5] ?? 0, gasLimit: [21_000n, 16_777_216n, 0n][i % 3] ?? 0n };
        const signed = signRawCall(call, data, wallet.signingKey);
        expect(signed.serialized, `type ${pricing.type}, ${data.length} bytes`).to.equal(viaEthers(call, data));
        expect(signed.hash).to.equal(keccak256(signed.serialized));
        const parsed = Transaction.from(signed.serialized);
        expect(parsed.from).to.equal(wallet.address);
        expect(parsed.data).to.equal(hexlify(data));
        checked++;
      }
    }
    expect(checked).to.equal(pricings.length * calldata.length);
  });

  it("refuses a recipient that is not a 20-byte address", function () {
    const call: RawCall = { to: "0x1234", pricing: { type: 0, gasPrice: 1n }, chainId: 1n, nonce: 0, gasLimit: 21_000n };
    expect(() => signRawCall(call, new Uint8Array(0), wallet.signingKey)).to.throw(TypeError);
  });
});
