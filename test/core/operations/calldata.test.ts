/**
 * executeBatch calldata from items encoded once (core/operations/calldata.ts): byte for byte what
 * ethers' ABI coder writes, for every escrow kind, and split back into the same items.
 */
import { randomBytes } from "node:crypto";

import { expect } from "chai";
import { Interface, getAddress, hexlify } from "ethers";

import { BATCH_CALLDATA_BASE_BYTES, batchItemBytes, calldataGas, encodeBatchItem, executeBatchCalldata, splitBatchCalldata } from "../../../core/operations/calldata.js";
import { escrowOperationSchema, toContractOperation, type EscrowOperationInput, type PaymentTermsInput } from "../../../core/operations/index.js";
import { loadArtifact } from "../../../core/protocol/artifacts.js";

const iface = new Interface(loadArtifact("PaymentEscrow").abi);
const hex = (bytes: number) => hexlify(randomBytes(bytes));
const address = () => getAddress(hex(20));

function terms(overrides: Partial<PaymentTermsInput> = {}): PaymentTermsInput {
  return {
    payer: address(),
    merchant: address(),
    token: address(),
    amount: "123456789",
    orderId: hex(32),
    feeBps: 250,
    direct: false,
    payDeadline: "1900000000",
    fulfilmentPeriod: 604_800,
    autoReleasePeriod: 0,
    refundPeriod: 4_294_967_295,
    nonce: BigInt(hex(32)).toString(),
    ...overrides,
  };
}

/** One operation of every escrow kind (signatures are well-formed bytes; nothing here verifies them). */
function everyKind(): EscrowOperationInput[] {
  const signed = () => ({ terms: terms(), nonce: BigInt(hex(32)).toString(), deadline: "1900000001", signature: hex(65) });
  return [
    { kind: "pay", terms: terms({ direct: true }), signature: hex(65) },
    { kind: "markFulfilled", ...signed() },
    { kind: "confirm", ...signed() },
    { kind: "release", terms: terms() },
    { kind: "refund", ...signed(), amount: "1000", reason: hex(32) },
    { kind: "dispute", ...signed(), reason: hex(32) },
    { kind: "resolve", ...signed(), payerAmount: "500", reason: hex(32) },
    { kind: "reclaim", ...signed() },
  ];
}

describe("executeBatch calldata (core/operations/calldata.ts)", function () {
  const ops = everyKind().map((op) => toContractOperation(escrowOperationSchema.parse(op)));

  it("encodes every kind's item as ethers' ABI coder does", function () {
    const operationType = iface.getFunction("executeBatch")?.inputs[0]?.arrayChildren;
    if (!operationType) throw new Error("no Operation type");
    for (const op of ops) {
      const ethersItem = iface.getAbiCoder().encode([operationType], [op]);
      // A dynamic tuple alone is encoded behind one offset word; the item is what follows it.
      expect(hexlify(encodeBatchItem(op)), `kind ${op.kind}`).to.equal(`0x${ethersItem.slice(2 + 64)}`);
    }
  });

  it("puts items together into the calldata ethers encodes for the whole batch", function () {
    for (const batch of [[], ops.slice(0, 1), ops, [...ops, ...ops]]) {
      const data = executeBatchCalldata(batch.map(encodeBatchItem));
      expect(hexlify(data)).to.equal(iface.encodeFunctionData("executeBatch", [batch]));
      expect(data.length).to.equal(BATCH_CALLDATA_BASE_BYTES + batch.map(encodeBatchItem).reduce((n, item) => n + batchItemBytes(item), 0));
    }
  });

  it("splits batch calldata back into the items, and refuses other calldata", function () {
    const items = ops.map(encodeBatchItem);
    const split = splitBatchCalldata(executeBatchCalldata(items));
    expect(split?.map((item) => hexlify(item))).to.deep.equal(items.map((item) => hexlify(item)));
    expect(splitBatchCalldata(Buffer.from(iface.encodeFunctionData("execute", [ops[0]]).slice(2), "hex"))).to.equal(undefined);
    expect(splitBatchCalldata(executeBatchCalldata(items).subarray(0, 100))).to.equal(undefined);
  });

  it("refuses a value that does not fit its ABI type", function () {
    const [first] = ops;
    if (!first) throw new Error("no operation");
    expect(() => encodeBatchItem({ ...first, kind: 256 })).to.throw().with.property("code", "ABI_OUT_OF_RANGE");
    expect(() => encodeBatchItem({ ...first, signature: "0x123" })).to.throw().with.property("code", "ABI_BAD_VALUE");
  });

  it("prices calldata at 4 gas per zero byte and 16 per other byte", function () {
    expect(calldataGas(Uint8Array.from([0, 0, 1, 255]))).to.equal(2n * 4n + 2n * 16n);
  });
});
