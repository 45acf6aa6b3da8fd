import { createRequire } from "node:module";

import { expect } from "chai";
import { Interface, Wallet, getAddress, hexlify, id, keccak256, randomBytes } from "ethers";

import { NATIVE_KECCAK, checksumAddress, checksumAddressOf, keccak256Bytes, keccak256Hex, useNativeKeccakInEthers } from "../../core/keccak.js";
import { refusal } from "../helpers/errors.js";

// The keccak package's pure-JavaScript implementation: a reference independent of the native binding
// and of ethers (whose keccak256 the native one may replace in this process).
const jsKeccak = createRequire(import.meta.url)("keccak/js.js") as (algorithm: string) => { update(data: Uint8Array): { digest(): Buffer } };
const keccak_256 = (data: Uint8Array) => jsKeccak("keccak256").update(Buffer.from(data)).digest();

describe("keccak256 and EIP-55 addresses (native binding)", function () {
  it("uses the native binding", function () {
    expect(NATIVE_KECCAK).to.equal(true);
  });

  it("agrees with the JavaScript keccak256 (ethers' own) on inputs of every length around the 136-byte block", function () {
    for (let length = 0; length <= 300; length++) {
      const data = randomBytes(length);
      expect(keccak256Hex(data), `length ${length}`).to.equal(hexlify(keccak_256(data)));
    }
    expect(keccak256Bytes(new Uint8Array(0)).toString("hex")).to.equal("c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470");
  });

  it("checksums addresses as ethers' getAddress does, from hex and from bytes", function () {
    for (let i = 0; i < 200; i++) {
      const address = Wallet.createRandom().address;
      expect(checksumAddress(address.toLowerCase())).to.equal(address);
      expect(checksumAddress("0x" + address.slice(2).toUpperCase())).to.equal(getAddress("0x" + address.slice(2).toUpperCase()));
      expect(checksumAddressOf(Buffer.from(address.slice(2), "hex"))).to.equal(address);
    }
  });

  it("runs ethers' keccak256 in the native binding once registered, with the same results", function () {
    expect(useNativeKeccakInEthers()).to.equal(true);
    expect(useNativeKeccakInEthers()).to.equal(true);
    for (const length of [0, 1, 135, 136, 137, 70_000]) {
      const data = randomBytes(length);
      expect(keccak256(data), `length ${length}`).to.equal(hexlify(keccak_256(data)));
    }
    const address = Wallet.createRandom().address;
    expect(getAddress(address.toLowerCase())).to.equal(address);
    expect(id("Transfer(address,address,uint256)")).to.equal(hexlify(keccak_256(Buffer.from("Transfer(address,address,uint256)"))));
    expect(new Interface(["event Transfer(address indexed from, address indexed to, uint256 value)"]).getEvent("Transfer")?.topicHash).to.equal(
      "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef",
    );
  });

  it("refuses a mixed-case address whose case is not its checksum, and anything not 20 bytes of hex", function () {
    const address = "0x52908400098527886E0F7030069857D2E4169EE7";
    expect(checksumAddress(address)).to.equal(address);
    const wrong = "0x52908400098527886e0F7030069857D2E4169EE7";
    expect(() => getAddress(wrong)).to.throw();
    expect(refusal(() => checksumAddress(wrong)).code).to.equal("BAD_ADDRESS_CHECKSUM");
    expect(refusal(() => checksumAddress("0x1234")).code).to.equal("INVALID_ADDRESS");
    expect(refusal(() => checksumAddress(address.slice(2) + "00")).code).to.equal("INVALID_ADDRESS");
  });
});
