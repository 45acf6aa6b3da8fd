import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

import { expect } from "chai";

import {
  ESCROW_OPERATION_KINDS,
  TOKEN_OPERATION_KINDS,
  descriptorOf,
  escrowDescriptorOf,
  escrowKindsExecutedBy,
  escrowOperationSchema,
  operationIdOf,
  operationSchema,
  termsToJson,
  type EscrowOperationInput,
  type OperationKind,
} from "../../../core/operations/index.js";
import { OPERATION_CODES } from "../../../core/protocol/codes.js";
import { OperationKind as ContractOperationKind, deployWorld, makeTerms, networkHelpers } from "../../contracts/helpers/fixture.js";
import { escrowContext } from "./escrow-behaviour.js";

const KINDS: OperationKind[] = [...ESCROW_OPERATION_KINDS, ...TOKEN_OPERATION_KINDS];
/** markFulfilled → mark-fulfilled */
const fileOf = (kind: string) => kind.replace(/([a-z])([A-Z])/g, "$1-$2").toLowerCase();

describe("operation registry (core/operations/index.ts)", function () {
  it("names the kinds an event shows executed from the descriptors, for direct payments and not, the same answer every time", function () {
    for (const direct of [false, true]) {
      for (const event of ["PaymentPaid", "PaymentReleased", "PaymentRefunded", "NoSuchEvent"]) {
        const expected = ESCROW_OPERATION_KINDS.filter((kind) => escrowDescriptorOf(kind).executedBy.some((e) => e.event === event && (direct || !e.directOnly)));
        expect(escrowKindsExecutedBy(event, direct), `${event} direct=${direct}`).to.deep.equal(expected);
        expect(escrowKindsExecutedBy(event, direct)).to.deep.equal(expected);
      }
    }
    // A direct pay releases at once: its PaymentReleased executes the pay too.
    expect(escrowKindsExecutedBy("PaymentReleased", true)).to.include("pay");
    expect(escrowKindsExecutedBy("PaymentReleased", false)).not.to.include("pay");
    expect(Object.isFrozen(escrowKindsExecutedBy("PaymentPaid", false))).to.equal(true);
  });

  it("finds every kind in a file named after it, exporting a descriptor of that name", async function () {
    expect(KINDS).to.have.length(13);
    for (const kind of KINDS) {
      const url = new URL(`../../../core/operations/${fileOf(kind)}.ts`, import.meta.url);
      expect(existsSync(fileURLToPath(url)), `core/operations/${fileOf(kind)}.ts`).to.equal(true);
      const module = (await import(url.href)) as Record<string, unknown>;
      expect(module[kind], `${fileOf(kind)}.ts exports ${kind}`).to.equal(descriptorOf(kind));
      expect(descriptorOf(kind).kind).to.equal(kind);
    }
  });

  it("numbers the escrow kinds as IPaymentEscrow.OperationKind does", function () {
    const expected = Object.entries(ContractOperationKind).map(([name, value]) => [name[0]!.toLowerCase() + name.slice(1), value]);
    expect(ESCROW_OPERATION_KINDS.map((kind) => [kind, descriptorOf(kind).contractKind])).to.deep.equal(expected);
  });

  it("parses every kind through the one union of operations", function () {
    for (const kind of KINDS) expect(operationSchema.options.flatMap((union) => union.options.map((o) => o.shape.kind.value))).to.include(kind);
  });

  it("lists, for every kind, refusal codes the node knows, including those any operation can meet", function () {
    for (const kind of KINDS) {
      const { refusals } = descriptorOf(kind);
      for (const code of refusals) expect(OPERATION_CODES, `${kind}: ${code}`).to.have.property(code);
      expect(refusals, kind).to.include.members(["MALFORMED", "DUPLICATE", "INTERNAL"]);
    }
  });

  it("gives each kind of operation on one payment a distinct id", async function () {
    const world = await networkHelpers.loadFixture(deployWorld);
    const terms = termsToJson(await makeTerms(world));
    const sig = "0x" + "11".repeat(65);
    const zero = "0x" + "00".repeat(32);
    const signed = { terms, nonce: "1", deadline: "99", signature: sig };
    const ops: EscrowOperationInput[] = [
      { kind: "pay", terms, signature: sig },
      { kind: "markFulfilled", ...signed },
      { kind: "confirm", ...signed },
      { kind: "release", terms },
      { kind: "refund", ...signed, amount: "5", reason: zero },
      { kind: "dispute", ...signed, reason: zero },
      { kind: "resolve", ...signed, payerAmount: "5", reason: zero },
      { kind: "reclaim", ...signed },
    ];
    expect(ops.map((op) => op.kind)).to.deep.equal(ESCROW_OPERATION_KINDS);
    const ctx = await escrowContext(world);
    const ids = ops.map((op) => operationIdOf(escrowOperationSchema.parse(op), ctx));
    expect(new Set(ids).size).to.equal(ops.length);
  });
});
