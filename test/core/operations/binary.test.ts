import { expect } from "chai";
import { getAddress, hexlify, randomBytes } from "ethers";
import type { z } from "zod";

import { binaryLayoutFields } from "../../../core/operations/binary.js";
import {
  ESCROW_OPERATION_KINDS,
  TOKEN_OPERATION_KINDS,
  decodeOperationAt,
  descriptorOf,
  encodeOperationInto,
  encodedLength,
  encodedLengthOf,
  operationSchema,
  operationToJson,
  paymentTermsSchema,
  type Operation,
  type OperationKind,
} from "../../../core/operations/index.js";
import { refusal } from "../../helpers/errors.js";

const KINDS: OperationKind[] = [...ESCROW_OPERATION_KINDS, ...TOKEN_OPERATION_KINDS];
const U256 = (1n << 256n) - 1n;
const U96 = (1n << 96n) - 1n;
const U64 = (1n << 64n) - 1n;

const address = () => getAddress(hexlify(randomBytes(20)));
const bytes32 = () => hexlify(randomBytes(32));
const uint = (max: bigint) => (BigInt(hexlify(randomBytes(32))) % max) + 1n;
const pick = <T>(...values: T[]) => values[Math.floor(Math.random() * values.length)] as T;

/** A valid operation of `kind` in its JSON wire form, with values anywhere in range (bounds included). */
function randomOperation(kind: OperationKind): Record<string, unknown> {
  const terms = {
    payer: pick(address(), address().toLowerCase()),
    merchant: address(),
    token: address(),
    amount: pick(1n, U96, uint(U96)).toString(),
    orderId: bytes32(),
    feeBps: pick(0, 10_000, 250),
    direct: pick(true, false),
    payDeadline: pick(0n, U64, uint(U64)).toString(),
    fulfilmentPeriod: pick(0, 0xffffffff, 3600),
    autoReleasePeriod: pick(0, 0xffffffff, 86_400),
    refundPeriod: pick(0, 0xffffffff, 7),
    nonce: pick(0n, U256, uint(U256)).toString(),
  };
  const signed = { nonce: pick(0n, U256, uint(U256)).toString(), deadline: pick(0n, U256, uint(U256)).toString(), signature: hexlify(randomBytes(65)) };
  switch (kind) {
    case "pay":
      return { kind, terms, signature: signed.signature };
    case "release":
      return { kind, terms };
    case "markFulfilled":
    case "confirm":
    case "reclaim":
      return { kind, terms, ...signed };
    case "refund":
      return { kind, terms, amount: pick(1n, U96).toString(), reason: bytes32(), ...signed };
    case "dispute":
      return { kind, terms, reason: bytes32(), ...signed, ...pick({}, { reasonText: pick("x", "货物未收到，商家也不回复消息", "中".repeat(200), "😀".repeat(100), "line one\nline\ttwo") }) };
    case "resolve":
      return { kind, terms, payerAmount: pick(0n, U96).toString(), reason: bytes32(), ...signed };
    case "mint":
      return { kind, token: address(), to: address(), amount: pick(1n, U256).toString(), bankRef: bytes32(), ...signed };
    case "burn":
      return { kind, token: address(), from: address(), amount: pick(1n, U256).toString(), bankRef: bytes32(), ...signed };
    case "attestReserves":
      return { kind, token: address(), custodian: address(), amount: pick(0n, U256).toString(), asOf: pick(0n, U64).toString(), sequence: pick(0n, U64).toString(), statementHash: bytes32(), ...signed };
    case "freeze":
      return { kind, token: address(), account: address(), frozen: pick(true, false), reason: bytes32(), ...signed };
    case "redeem":
      return { kind, token: address(), holder: address(), custodian: address(), amount: pick(1n, U256).toString(), bankRef: bytes32(), ...signed };
  }
}

function encode(op: Operation | Record<string, unknown>): Buffer {
  const out = Buffer.alloc(encodedLengthOf(op as Operation) as number);
  expect(encodeOperationInto(op as Operation, out, 0)).to.equal(out.length);
  return out;
}

function decode(bytes: Uint8Array) {
  const { decoded, next } = decodeOperationAt(bytes, 0);
  expect(next).to.equal(bytes.byteLength);
  return decoded;
}

/** The MALFORMED issue paths of a decoded operation. */
const issues = (bytes: Uint8Array) => {
  const decoded = decode(bytes);
  if (!("error" in decoded)) throw new Error("expected a malformed operation");
  expect(decoded.error.code).to.equal("MALFORMED");
  return (decoded.error.meta["issues"] as { path: string }[]).map((i) => i.path);
};

describe("compact binary form of operations (gossip)", function () {
  it("lays out exactly the fields of each kind's wire schema, in order", function () {
    const shape = (schema: unknown) => Object.keys((schema as z.ZodObject).shape);
    for (const kind of KINDS) {
      const fields = shape(descriptorOf(kind).schema)
        .filter((name) => name !== "kind")
        .flatMap((name) => (name === "terms" ? shape(paymentTermsSchema).map((t) => `terms.${t}`) : [name]));
      expect(binaryLayoutFields(kind), kind).to.deep.equal(fields);
    }
  });

  it("decodes to exactly what the wire schema parses, for every kind, at the bounds and between", function () {
    for (const kind of KINDS) {
      for (let i = 0; i < 50; i++) {
        const json = randomOperation(kind);
        const parsed = operationSchema.parse(json);
        const decoded = decode(encode(json));
        expect(decoded, kind).to.deep.equal({ op: parsed, signature: "signature" in parsed ? Buffer.from(parsed.signature.slice(2), "hex") : undefined });
        // The parsed form encodes to the same bytes as the JSON form, and back to the same JSON (checksummed).
        expect(encode(parsed).equals(encode(json))).to.equal(true);
        expect(operationToJson((decoded as { op: Operation }).op)).to.deep.equal(operationToJson(parsed));
      }
    }
  });

  it("is several times smaller than the JSON form", function () {
    const pay = randomOperation("pay");
    expect(encodedLength("pay")).to.equal(225);
    expect(Buffer.byteLength(JSON.stringify(pay))).to.be.greaterThan(2 * encodedLength("pay"));
  });

  it("refuses what the schema refuses, naming the field: a zero amount, a fee over 10,000, a boolean other than 0 or 1", function () {
    const pay = encode({ ...randomOperation("pay"), kind: "pay" });
    // terms: payer 20, merchant 20, token 20, amount 12 at offset 1 + 60.
    pay.fill(0, 61, 73);
    expect(issues(pay)).to.deep.equal(["terms.amount"]);
    const fee = encode(randomOperation("pay"));
    fee.writeUInt16BE(10_001, 1 + 60 + 12 + 32);
    expect(issues(fee)).to.deep.equal(["terms.feeBps"]);
    const direct = encode(randomOperation("release"));
    direct[1 + 60 + 12 + 32 + 2] = 2;
    expect(issues(direct)).to.deep.equal(["terms.direct"]);
    const refund = encode({ ...randomOperation("refund"), amount: "1" });
    refund.fill(0, 1 + 159, 1 + 159 + 12);
    expect(issues(refund)).to.deep.equal(["amount"]);
    const freeze = encode(randomOperation("freeze"));
    freeze[1 + 40] = 7;
    expect(issues(freeze)).to.deep.equal(["frozen"]);
  });

  it("carries a dispute's reason text after its fixed fields under a second code, and keeps the fixed form without one", function () {
    const { reasonText: _, ...plain } = { ...randomOperation("dispute"), reasonText: "x" };
    const bare = encode(plain);
    expect(bare.length).to.equal(encodedLength("dispute"));
    expect(bare[0]).to.equal(6);
    const words = "The parcel never arrived and the merchant does not answer — 货物未收到";
    const withText = encode({ ...plain, reasonText: words });
    expect(withText[0]).to.equal(9);
    expect(withText.length).to.equal(encodedLength("dispute") + 2 + Buffer.byteLength(words, "utf8"));
    expect(withText.subarray(1, bare.length).equals(bare.subarray(1))).to.equal(true);
    expect((decode(withText) as { op: { reasonText?: string } }).op.reasonText).to.equal(words);
  });

  it("refuses a dispute's reason text that is not plain UTF-8 text within its bounds, naming the field", function () {
    const plain = { ...randomOperation("dispute"), reasonText: "ab" };
    const withText = encode(plain);
    const at = encodedLength("dispute") + 2;
    const control = Buffer.from(withText);
    control[at] = 0x07;
    expect(issues(control)).to.deep.equal(["reasonText"]);
    const notUtf8 = Buffer.from(withText);
    notUtf8[at] = 0xff;
    expect(issues(notUtf8)).to.deep.equal(["reasonText"]);
    const empty = Buffer.concat([withText.subarray(0, at - 2), Buffer.from([0, 0])]);
    expect(issues(empty)).to.deep.equal(["reasonText"]);
    // Too long for its length prefix: the message cannot be walked.
    expect(refusal(() => decodeOperationAt(withText.subarray(0, withText.length - 1), 0)).code).to.equal("MALFORMED");
    const out = Buffer.alloc(encodedLength("dispute") + 2 + 201);
    expect(refusal(() => encodeOperationInto({ ...plain, reasonText: "a".repeat(201) } as never, out, 0)).code).to.equal("MALFORMED");
  });

  it("refuses an unknown kind byte and bytes too short for their kind", function () {
    const pay = encode(randomOperation("pay"));
    expect(refusal(() => decodeOperationAt(Buffer.from([0, ...pay.subarray(1)]), 0)).code).to.equal("MALFORMED");
    expect(refusal(() => decodeOperationAt(Buffer.from([99, ...pay.subarray(1)]), 0)).code).to.equal("MALFORMED");
    expect(refusal(() => decodeOperationAt(pay.subarray(0, pay.length - 1), 0)).code).to.equal("MALFORMED");
  });

  it("refuses to encode what does not fit: an amount over 96 bits, a short signature, a kind it does not know", function () {
    const pay = randomOperation("pay");
    const out = Buffer.alloc(encodedLength("pay"));
    expect(refusal(() => encodeOperationInto({ ...pay, terms: { ...(pay["terms"] as object), amount: (1n << 96n).toString() } } as never, out, 0)).code).to.equal("MALFORMED");
    expect(refusal(() => encodeOperationInto({ ...pay, signature: "0x1234" } as never, out, 0)).code).to.equal("MALFORMED");
    expect(refusal(() => encodeOperationInto({ ...pay, kind: "steal" } as never, out, 0)).code).to.equal("MALFORMED");
  });
});
