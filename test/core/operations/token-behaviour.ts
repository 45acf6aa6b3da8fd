/**
 * Behaviour every token operation descriptor must show against the real SettlementToken (in-process
 * Hardhat network): its id is the token's own digest, its encoding survives JSON and calldata, it
 * emits the event it names, its signer rule is the token's, and its "already executed" rule recognises
 * exactly the revert a second execution meets. Each token <kind>.test.ts runs it.
 */
import { expect } from "chai";
import { AbiCoder, ZeroAddress, concat, keccak256, type Interface, type Signer, type TransactionReceipt } from "ethers";

import {
  TOKEN_EXECUTION_EVENTS,
  fromTokenCall,
  operationToJson,
  signTokenOperation,
  toTokenCall,
  tokenDescriptorOf,
  tokenOperationDigest,
  tokenOperationSchema,
  type ChainRefusal,
  type SignerRule,
  type TokenContext,
  type TokenOperation,
  type TokenOperationInput,
  type TokenOperationKind,
  type UnsignedTokenOperation,
} from "../../../core/operations/index.js";
import { recoverSigner } from "../../../node/validation/signature.js";
import { deployWorld, networkHelpers, type World } from "../../contracts/helpers/fixture.js";
import { zodPaths } from "../../helpers/errors.js";
import { deadlineAhead, freshNonce } from "./escrow-behaviour.js";

/** How to exercise one token kind. */
export interface TokenCase {
  kind: TokenOperationKind;
  /** Chain state the operation needs (an allowance, say). */
  prepare?(world: World): Promise<void>;
  /** The operation to sign, with a fresh nonce and a deadline ahead. */
  operation(world: World): Promise<UnsignedTokenOperation>;
  signer(world: World): Signer;
  /** Someone without the role signing it, and the token error that refuses it. */
  impostor: { signer(world: World): Signer; error: string };
}

/** The token context of the world (its CNY token's name). */
export async function tokenContext(world: World): Promise<TokenContext> {
  return { chainId: world.chainId, tokenName: await world.token.name() };
}

/** The signed and the parsed form of `unsigned`. */
export async function signedToken(world: World, unsigned: UnsignedTokenOperation, signer: Signer): Promise<{ json: TokenOperationInput; op: TokenOperation }> {
  const json = await signTokenOperation(signer, unsigned, await tokenContext(world));
  return { json, op: tokenOperationSchema.parse(json) };
}

/** Sends `op` to its token as the relayer: the receipt, or the decoded revert a simulation meets. */
export async function executeToken(world: World, op: TokenOperation): Promise<{ receipt?: TransactionReceipt; refusal?: ChainRefusal }> {
  const call = toTokenCall(op);
  const fn = world.as(world.token, world.relayer).getFunction(call.functionName);
  try {
    await fn.staticCall(...call.args);
  } catch (error) {
    const data = revertData(error);
    const decoded = data ? world.token.interface.parseError(data) : null;
    if (!decoded) throw error;
    return { refusal: { code: decoded.name, args: decoded.args.toArray().map(String) } };
  }
  const receipt = await (await fn(...call.args)).wait();
  return { receipt: receipt ?? undefined };
}

/** The revert data of a failed call: ethers puts it in `data`, Hardhat's in-process network in `data` or `data.data`. */
function revertData(error: unknown): string | undefined {
  const data = (error as { data?: unknown; error?: { data?: unknown } }).data ?? (error as { error?: { data?: unknown } }).error?.data;
  if (typeof data === "string") return data;
  const nested = (data as { data?: unknown } | undefined)?.data;
  return typeof nested === "string" ? nested : undefined;
}

/** The token's own digest of `op`: keccak256(0x1901 ‖ DOMAIN_SEPARATOR() ‖ keccak256(abi.encode(<KIND>_TYPEHASH(), fields...))). */
async function contractDigest(world: World, op: TokenOperation): Promise<string> {
  const { struct, message } = tokenDescriptorOf(op.kind);
  // AttestReserves → ATTEST_RESERVES_TYPEHASH
  const typeHash = String(await world.token.getFunction(`${struct.primaryType.replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase()}_TYPEHASH`)());
  const values = message(op);
  const encoded = AbiCoder.defaultAbiCoder().encode(["bytes32", ...struct.fields.map((f) => f.type)], [typeHash, ...struct.fields.map((f) => values[f.name])]);
  return keccak256(concat(["0x1901", String(await world.token.getFunction("DOMAIN_SEPARATOR")()), keccak256(encoded)]));
}

/** True if `signer` holds the role the signer rule `rule` names on the world's token (for "holder": is the account `op` names). */
async function signerRuleHolds(world: World, rule: SignerRule, signer: string, op: TokenOperation): Promise<boolean> {
  if (rule === "holder") return tokenDescriptorOf(op.kind).signerAccount?.(op) === signer;
  if (rule === "regulator") return world.registry.hasRole(await world.registry.REGULATOR_ROLE(), signer);
  if (rule === "attestor") return (await world.registry.reserveAttestorOf(await world.inst1.getAddress())) === signer;
  if (rule !== "custodian") return false;
  const institution = await world.registry.custodianInstitutionOf(signer);
  return institution !== ZeroAddress && (await world.token.isCustodian(institution));
}

/** Defines the shared behaviour of `c.kind` (see the module comment). */
export function shouldBehaveLikeTokenOperation(c: TokenCase): void {
  const descriptor = tokenDescriptorOf(c.kind);

  describe(`${c.kind}: what the token does with it`, function () {
    let world: World;
    beforeEach(async function () {
      world = await networkHelpers.loadFixture(deployWorld);
      await c.prepare?.(world);
    });

    it("has the id the token computes, its signer recovers from it, and the token executes it emitting its event", async function () {
      const signer = c.signer(world);
      const { op } = await signedToken(world, await c.operation(world), signer);
      const id = tokenOperationDigest(op, await tokenContext(world));
      expect(id).to.equal(await contractDigest(world, op));
      const address = await signer.getAddress();
      expect(recoverSigner(id, op.signature)).to.equal(address);
      expect(await signerRuleHolds(world, descriptor.signer, address, op), `a ${descriptor.signer} signs it`).to.equal(true);
      const { receipt, refusal } = await executeToken(world, op);
      expect(refusal, "the token refused it").to.equal(undefined);
      const events = receipt!.logs.map((log) => world.token.interface.parseLog(log)?.name);
      expect(events).to.include(descriptor.executedBy);
      expect(TOKEN_EXECUTION_EVENTS.has(descriptor.executedBy)).to.equal(true);
    });

    it("round-trips through JSON and through the token's calldata", async function () {
      const { json, op } = await signedToken(world, await c.operation(world), c.signer(world));
      expect(tokenOperationSchema.parse(JSON.parse(JSON.stringify(json)))).to.deep.equal(op);
      expect(operationToJson(op)).to.deep.equal(json);
      const call = toTokenCall(op);
      expect(call.functionName).to.equal(descriptor.functionName);
      const iface: Interface = world.token.interface;
      const parsed = iface.parseTransaction({ data: iface.encodeFunctionData(call.functionName, call.args) });
      expect(fromTokenCall(op.token, parsed!.name, parsed!.args)).to.deep.equal(op);
    });

    it("counts the revert of a second execution as already executed, and not an expired signature", async function () {
      const signer = c.signer(world);
      const { op } = await signedToken(world, await c.operation(world), signer);
      expect((await executeToken(world, op)).refusal).to.equal(undefined);
      const again = (await executeToken(world, op)).refusal;
      expect(again?.code).to.equal("NonceAlreadyUsed");
      expect(descriptor.alreadyExecuted(again!)).to.equal(true);
      const stale = await signedToken(world, { ...(await c.operation(world)), deadline: "1" } as UnsignedTokenOperation, signer);
      const expired = (await executeToken(world, stale.op)).refusal;
      expect(expired?.code).to.equal("SignatureExpired");
      expect(descriptor.alreadyExecuted(expired!)).to.equal(false);
    });

    it(`must be signed by a ${descriptor.signer}: the token refuses anyone else (${c.impostor.error})`, async function () {
      const { op } = await signedToken(world, await c.operation(world), c.impostor.signer(world));
      expect((await executeToken(world, op)).refusal?.code).to.equal(c.impostor.error);
    });

    it("refuses unknown fields and money, nonces or deadlines as JSON numbers, naming the field", async function () {
      const { json, op } = await signedToken(world, await c.operation(world), c.signer(world));
      expect(zodPaths(() => tokenOperationSchema.parse({ ...json, memo: "x" }))).to.deep.equal([""]);
      for (const [name, value] of Object.entries(op)) {
        if (typeof value === "bigint") expect(zodPaths(() => tokenOperationSchema.parse({ ...json, [name]: Number(value) })), name).to.deep.equal([name]);
      }
      expect(zodPaths(() => tokenOperationSchema.parse({ ...json, token: "0x1234" }))).to.deep.equal(["token"]);
    });
  });
}

/** The common fields of a token operation on the world's token. */
export async function tokenFields(world: World): Promise<{ token: string; nonce: string; deadline: string }> {
  return { token: await world.token.getAddress(), nonce: freshNonce(), deadline: await deadlineAhead() };
}
