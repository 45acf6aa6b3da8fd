import { expect } from "chai";
import { getAddress, hexlify, randomBytes } from "ethers";

import { operationSchema } from "../../../core/operations/index.js";
import { GOSSIP_VERSION, MAX_OPERATIONS_PER_MESSAGE, decodeGossipMessage, encodeGossipMessage } from "../../../node/p2p/message.js";
import { refusal } from "../../helpers/errors.js";

const codeOf = (fn: () => unknown): string => refusal(fn).code;

const terms = () => ({
  payer: getAddress(hexlify(randomBytes(20))),
  merchant: getAddress(hexlify(randomBytes(20))),
  token: getAddress(hexlify(randomBytes(20))),
  amount: "1000",
  orderId: hexlify(randomBytes(32)),
  feeBps: 100,
  direct: false,
  payDeadline: "2000000000",
  fulfilmentPeriod: 3600,
  autoReleasePeriod: 3600,
  refundPeriod: 3600,
  nonce: "7",
});
const pay = () => ({ kind: "pay" as const, terms: terms(), signature: hexlify(randomBytes(65)) });
const release = () => ({ kind: "release" as const, terms: terms() });

describe("gossip message codec (compact groups)", function () {
  it("round-trips a group of operations of several kinds, each parsed as the wire schema parses it", function () {
    const ops = [pay(), release(), pay()];
    const decoded = decodeGossipMessage(encodeGossipMessage(ops));
    expect(decoded.map((d) => ("op" in d ? d.op : d.error))).to.deep.equal(ops.map((op) => operationSchema.parse(op)));
  });

  it("refuses a wrong version, a count of 0 or over the maximum, a truncated group and trailing bytes", function () {
    const message = Buffer.from(encodeGossipMessage([pay(), pay()]));
    expect(message[0]).to.equal(GOSSIP_VERSION);
    expect(codeOf(() => decodeGossipMessage(Buffer.from([1, ...message.subarray(1)])))).to.equal("MALFORMED");
    expect(codeOf(() => decodeGossipMessage(new TextEncoder().encode('{"v":1,"ops":[{}]}')))).to.equal("MALFORMED");
    expect(codeOf(() => decodeGossipMessage(Buffer.from([GOSSIP_VERSION, 0, 0])))).to.equal("MALFORMED");
    const over = Buffer.from(message);
    over.writeUInt16BE(MAX_OPERATIONS_PER_MESSAGE + 1, 1);
    expect(codeOf(() => decodeGossipMessage(over))).to.equal("MALFORMED");
    const more = Buffer.from(message);
    more.writeUInt16BE(3, 1);
    expect(codeOf(() => decodeGossipMessage(more))).to.equal("MALFORMED");
    expect(codeOf(() => decodeGossipMessage(message.subarray(0, message.length - 1)))).to.equal("MALFORMED");
    expect(codeOf(() => decodeGossipMessage(Buffer.concat([message, Buffer.from([0])])))).to.equal("MALFORMED");
    expect(codeOf(() => decodeGossipMessage(new Uint8Array(2)))).to.equal("MALFORMED");
  });

  it("refuses a malformed operation on its own and decodes the rest of its group", function () {
    const message = Buffer.from(encodeGossipMessage([pay(), pay()]));
    // The first pay's amount (12 bytes after the header, the kind byte and three addresses) set to 0.
    message.fill(0, 3 + 1 + 60, 3 + 1 + 72);
    const [first, second] = decodeGossipMessage(message);
    expect(first && "error" in first ? first.error.code : "parsed").to.equal("MALFORMED");
    expect(second && "op" in second ? second.op.kind : "refused").to.equal("pay");
  });

  it("refuses to encode an empty or oversized group", function () {
    expect(codeOf(() => encodeGossipMessage([]))).to.equal("MALFORMED");
    expect(codeOf(() => encodeGossipMessage(Array.from({ length: MAX_OPERATIONS_PER_MESSAGE + 1 }, release)))).to.equal("MALFORMED");
  });
});
