import { expect } from "chai";

import { decodeGossipMessage, encodeGossipMessage, MAX_OPERATIONS_PER_MESSAGE } from "../../../node/p2p/message.js";
import { refusal } from "../../helpers/errors.js";

const codeOf = (fn: () => unknown): string => refusal(fn).code;

describe("gossip message codec", function () {
  it("round-trips a batch of operations", function () {
    const ops = [{ kind: "release", terms: { a: 1 } }, { kind: "pay" }];
    expect(decodeGossipMessage(encodeGossipMessage(ops)).ops).to.deep.equal(ops);
  });

  it("refuses bytes that are not UTF-8 JSON", function () {
    expect(codeOf(() => decodeGossipMessage(new Uint8Array([0xff, 0xfe, 0x00])))).to.equal("MALFORMED");
    expect(codeOf(() => decodeGossipMessage(new TextEncoder().encode("{\"v\":1,")))).to.equal("MALFORMED");
  });

  it("refuses a wrong version, unknown fields, an empty or an oversized batch", function () {
    const enc = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
    expect(codeOf(() => decodeGossipMessage(enc({ v: 2, ops: [{}] })))).to.equal("MALFORMED");
    expect(codeOf(() => decodeGossipMessage(enc({ v: 1, ops: [{}], extra: true })))).to.equal("MALFORMED");
    expect(codeOf(() => decodeGossipMessage(enc({ v: 1, ops: [] })))).to.equal("MALFORMED");
    const many = Array.from({ length: MAX_OPERATIONS_PER_MESSAGE + 1 }, () => ({}));
    expect(codeOf(() => decodeGossipMessage(enc({ v: 1, ops: many })))).to.equal("MALFORMED");
  });
});
