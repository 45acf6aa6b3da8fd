import { expect } from "chai";
import { AbiCoder, Contract, TypedDataEncoder, concat, keccak256, type Signer } from "ethers";

import { SettlenetError } from "../../../core/errors.js";
import { loadArtifact } from "../../../core/protocol/artifacts.js";
import {
  TOKEN_OPERATION_KINDS,
  operationIdFor,
  operationSchema,
  toTokenCall,
  tokenNamesOf,
  tokenOperationDigest,
  tokenOperationSchema,
  tokenOperationToJson,
  tokenTypedData,
  type TokenOperationInput,
} from "../../../core/operations/index.js";
import { recoverSigner } from "../../../node/validation/signature.js";
import { deployScenario, startChain, type LocalChain, type Scenario } from "../../helpers/chain.js";
import { randomRef, signedTokenOp, tokenContext } from "../../helpers/tokens.js";
import { zodPaths } from "../../helpers/errors.js";

describe("token operations: wire format and ids", function () {
  this.timeout(120_000);
  let chain: LocalChain;
  let s: Scenario;
  let token: Contract;

  before(async function () {
    chain = await startChain();
    s = await deployScenario(chain, { institutions: 2, payers: 2 });
    token = new Contract(await s.token.getAddress(), loadArtifact("SettlementToken").abi, chain.provider);
  });
  after(async function () {
    await chain?.close();
  });

  const custodian = () => s.institutions[0] as Signer;
  const payer = () => s.payers[0]?.address ?? "";

  /** keccak256(0x1901 ‖ token.DOMAIN_SEPARATOR() ‖ keccak256(abi.encode(token.<TYPEHASH>(), ...fields))): the contract's own digest. */
  async function contractDigest(op: TokenOperationInput): Promise<string> {
    const parsed = tokenOperationSchema.parse(op);
    const separator = String(await token.getFunction("DOMAIN_SEPARATOR")());
    const coder = AbiCoder.defaultAbiCoder();
    const [typeHashName, types, values] = ((): [string, string[], unknown[]] => {
      switch (parsed.kind) {
        case "mint":
          return ["MINT_TYPEHASH", ["address", "uint256", "bytes32"], [parsed.to, parsed.amount, parsed.bankRef]];
        case "burn":
          return ["BURN_TYPEHASH", ["address", "uint256", "bytes32"], [parsed.from, parsed.amount, parsed.bankRef]];
        case "attestReserves":
          return ["ATTEST_RESERVES_TYPEHASH", ["uint256", "bytes32"], [parsed.amount, parsed.statementHash]];
        case "freeze":
          return ["FREEZE_TYPEHASH", ["address", "bool", "bytes32"], [parsed.account, parsed.frozen, parsed.reason]];
      }
    })();
    const typeHash = String(await token.getFunction(typeHashName)());
    const structHash = keccak256(coder.encode(["bytes32", ...types, "uint256", "uint256"], [typeHash, ...values, parsed.nonce, parsed.deadline]));
    return keccak256(concat(["0x1901", separator, structHash]));
  }

  it("gives each kind the id the token contract computes (its typehash and domain separator)", async function () {
    const ops = [
      await signedTokenOp(s, custodian(), { kind: "mint", to: payer(), amount: "150", bankRef: randomRef() }),
      await signedTokenOp(s, custodian(), { kind: "burn", from: payer(), amount: "1", bankRef: randomRef() }),
      await signedTokenOp(s, custodian(), { kind: "attestReserves", amount: "0", statementHash: randomRef() }),
      await signedTokenOp(s, s.regulator, { kind: "freeze", account: payer(), frozen: true, reason: randomRef() }),
    ];
    expect(ops.map((op) => op.kind)).to.deep.equal([...TOKEN_OPERATION_KINDS]);
    for (const op of ops) {
      const parsed = tokenOperationSchema.parse(op);
      const id = tokenOperationDigest(parsed, tokenContext(s));
      expect(id, op.kind).to.equal(await contractDigest(op));
      // The generic encoder agrees, and the signature recovers to its signer from the id.
      const { domain, types, message } = tokenTypedData(parsed, tokenContext(s));
      expect(TypedDataEncoder.hash(domain, types, message)).to.equal(id);
      const expectedSigner = op.kind === "freeze" ? s.regulator.address : s.institutions[0]?.address;
      expect(recoverSigner(id, op.signature)).to.equal(expectedSigner);
      // The one union of all kinds routes to the same id.
      const any = operationSchema.parse(op);
      expect(operationIdFor(any, { chainId: BigInt(s.deployment.chainId), escrow: s.deployment.contracts.escrow, tokenNames: tokenNamesOf(s.deployment) })).to.equal(id);
    }
  });

  it("executes a signed mint on-chain through mintWithSig (the contract recovers the custodian from the same digest)", async function () {
    const op = await signedTokenOp(s, custodian(), { kind: "mint", to: payer(), amount: "250", bankRef: randomRef() });
    const parsed = tokenOperationSchema.parse(JSON.parse(JSON.stringify(op)));
    const before = (await token.getFunction("balanceOf")(payer())) as bigint;
    const call = toTokenCall(parsed);
    const relayer = s.institutions[1];
    if (!relayer) throw new Error("no relayer");
    await (await (token.connect(relayer) as Contract).getFunction(call.functionName)(...call.args)).wait();
    expect((await token.getFunction("balanceOf")(payer())) as bigint).to.equal(before + 250n);
    expect(await token.getFunction("isNonceUsed")(s.institutions[0]?.address, parsed.nonce)).to.equal(true);
    expect(tokenOperationToJson(parsed)).to.deep.equal(op);
  });

  it("refuses malformed token operations: unknown fields, money as numbers, zero mints, bad addresses", async function () {
    const op = await signedTokenOp(s, custodian(), { kind: "mint", to: payer(), amount: "5", bankRef: randomRef() });
    expect(zodPaths(() => operationSchema.parse({ ...op, extra: 1 }))).to.deep.equal([""]);
    expect(zodPaths(() => operationSchema.parse({ ...op, amount: 5 }))).to.deep.equal(["amount"]);
    expect(zodPaths(() => operationSchema.parse({ ...op, amount: "0" }))).to.deep.equal(["amount"]);
    expect(zodPaths(() => operationSchema.parse({ ...op, to: "0x1234" }))).to.deep.equal(["to"]);
    expect(zodPaths(() => operationSchema.parse({ ...op, kind: "mintMore" }))).to.deep.equal(["kind"]);
    const freeze = await signedTokenOp(s, s.regulator, { kind: "freeze", account: payer(), frozen: true, reason: randomRef() });
    expect(zodPaths(() => operationSchema.parse({ ...freeze, frozen: "true" }))).to.deep.equal(["frozen"]);
  });

  it("refuses to compute an id for a token the context does not name", async function () {
    const op = tokenOperationSchema.parse(await signedTokenOp(s, custodian(), { kind: "attestReserves", amount: "1", statementHash: randomRef() }));
    try {
      tokenOperationDigest({ ...op, token: s.deployment.contracts.escrow }, { chainId: 1n, tokenName: () => undefined });
      expect.fail("expected UNSUPPORTED_TOKEN");
    } catch (error) {
      expect(error).to.be.instanceOf(SettlenetError);
      expect((error as SettlenetError).code).to.equal("UNSUPPORTED_TOKEN");
    }
  });
});
