/**
 * The operation reference (docs/operations/<kind>.md) agrees with the descriptors: one page per kind,
 * naming its descriptor file, its EIP-712 primary type and every refusal code particular to it.
 */
import { readFileSync } from "node:fs";

import { expect } from "chai";

import { ESCROW_OPERATION_KINDS, TOKEN_OPERATION_KINDS, descriptorOf, type OperationKind } from "../../core/operations/index.js";

const KINDS: OperationKind[] = [...ESCROW_OPERATION_KINDS, ...TOKEN_OPERATION_KINDS];
/** Codes any operation can meet on receipt; the index page explains them once. */
const COMMON = new Set(["MALFORMED", "BAD_ADDRESS", "DUPLICATE", "INTERNAL"]);
const fileOf = (kind: string) => kind.replace(/([a-z])([A-Z])/g, "$1-$2").toLowerCase();
const pageOf = (kind: string) => readFileSync(new URL(`../../docs/operations/${fileOf(kind)}.md`, import.meta.url), "utf8");

describe("operation reference (docs/operations/)", function () {
  it("has one page per operation kind, naming its descriptor file", function () {
    for (const kind of KINDS) expect(pageOf(kind), kind).to.include(`core/operations/${fileOf(kind)}.ts`);
  });

  it("names each signed operation's EIP-712 primary type", function () {
    for (const kind of KINDS) {
      const { struct } = descriptorOf(kind);
      if (!struct) continue;
      const primary = Object.keys(struct.types)[0] as string;
      expect(pageOf(kind), kind).to.match(new RegExp(`\\b${primary}\\(`));
    }
  });

  it("lists every refusal code the node can give for the operation", function () {
    for (const kind of KINDS) {
      const page = pageOf(kind);
      for (const code of descriptorOf(kind).refusals) if (!COMMON.has(code)) expect(page, `${kind}: ${code}`).to.include(`\`${code}\``);
    }
  });
});
