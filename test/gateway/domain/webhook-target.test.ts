import { expect } from "chai";

import { isAllowedWebhookAddress } from "../../../gateway/domain/webhook-target.js";

const strict = { allowLoopback: false };
const loopbackAllowed = { allowLoopback: true };

const FORBIDDEN = ["10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254", "0.0.0.0", "224.0.0.1", "fd00::1", "fe80::1", "::", "ff02::1", "::ffff:10.0.0.1", "64:ff9b::a00:1"];
const PUBLIC = ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"];
const LOOPBACK = ["127.0.0.1", "127.8.9.10", "::1"];

describe("isAllowedWebhookAddress", function () {
  it("answers each address by its range, the same on every call and under each policy apart", function () {
    // Three rounds, policies interleaved: remembered answers must not leak from one policy to the other.
    for (let round = 0; round < 3; round++) {
      for (const address of FORBIDDEN) {
        expect(isAllowedWebhookAddress(address, strict), `${address} strict`).to.equal(false);
        expect(isAllowedWebhookAddress(address, loopbackAllowed), `${address} loopback allowed`).to.equal(false);
      }
      for (const address of PUBLIC) {
        expect(isAllowedWebhookAddress(address, strict), `${address} strict`).to.equal(true);
        expect(isAllowedWebhookAddress(address, loopbackAllowed), `${address} loopback allowed`).to.equal(true);
      }
      for (const address of LOOPBACK) {
        expect(isAllowedWebhookAddress(address, loopbackAllowed), `${address} loopback allowed`).to.equal(true);
        expect(isAllowedWebhookAddress(address, strict), `${address} strict`).to.equal(false);
      }
      expect(isAllowedWebhookAddress("not-an-address", loopbackAllowed)).to.equal(false);
    }
  });

  it("keeps answering correctly once it has seen more addresses than it remembers", function () {
    // 10,000 distinct public addresses fill and clear what it remembers twice over.
    for (let i = 0; i < 10_000; i++) expect(isAllowedWebhookAddress(`93.184.${i >> 8}.${i & 255}`, strict)).to.equal(true);
    for (const address of FORBIDDEN) expect(isAllowedWebhookAddress(address, strict), address).to.equal(false);
    expect(isAllowedWebhookAddress("127.0.0.1", strict)).to.equal(false);
    expect(isAllowedWebhookAddress("127.0.0.1", loopbackAllowed)).to.equal(true);
  });
});
