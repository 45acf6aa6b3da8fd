/**
 * Behaviour every escrow operation descriptor must show against the real PaymentEscrow (in-process
 * Hardhat network): its id is the digest the escrow verifies, its encoding survives JSON and calldata,
 * the events it names are the ones the escrow emits, its signer rule is the escrow's, and its "already
 * executed" rule recognises exactly the revert a second execution meets. Each <kind>.test.ts runs it.
 */
import { expect } from "chai";
import type { Signer, TransactionReceipt } from "ethers";

import {
  contractOperationOf,
  escrowDescriptorOf,
  escrowKindsExecutedBy,
  escrowOperationSchema,
  eventMatches,
  fromContractOperation,
  operationDigests,
  operationToJson,
  signEscrowOperation,
  toContractOperation,
  type ChainRefusal,
  type EscrowContext,
  type EscrowOperationInput,
  type EscrowOperationKind,
  type PaymentTerms,
  type SignerRule,
  type UnsignedEscrowOperation,
} from "../../../core/operations/index.js";
import { recoverSigner } from "../../../node/validation/signature.js";
import { deployWorld, makeTerms, networkHelpers, payHeld, type World } from "../../contracts/helpers/fixture.js";
import { zodPaths } from "../../helpers/errors.js";

/** How to exercise one escrow kind. */
export interface EscrowCase {
  kind: EscrowOperationKind;
  /** A payment in the state where the operation can execute, and anything it needs from the chain. */
  prepare(world: World): Promise<PaymentTerms>;
  /** The operation on `terms` in wire form (unsigned for a signed kind). */
  operation(world: World, terms: PaymentTerms): Promise<UnsignedEscrowOperation | EscrowOperationInput>;
  /** Who signs it; undefined for an unsigned kind. */
  signer(world: World): Signer | undefined;
  /** Someone else signing it, and the escrow error that refuses it. */
  impostor?: { signer(world: World): Signer; error: string };
  /** An operation of this kind the escrow refuses for a reason other than a prior execution, and that error. */
  refused(world: World): Promise<{ op: EscrowOperationInput; error: string }>;
}

/** The escrow context of the world. */
export async function escrowContext(world: World): Promise<EscrowContext> {
  return { chainId: world.chainId, escrow: await world.escrow.getAddress() };
}

/** A deadline an hour of chain time ahead (decimal string). */
export async function deadlineAhead(): Promise<string> {
  return (BigInt(await networkHelpers.time.latest()) + 3_600n).toString();
}

let nonce = 9_000_000n;
/** A nonce no other operation of these tests uses (decimal string). */
export function freshNonce(): string {
  nonce += 1n;
  return nonce.toString();
}

/** Signs `op` with `signer` if it is a signed kind; returns the wire form. */
export async function signed(world: World, op: UnsignedEscrowOperation | EscrowOperationInput, signer: Signer | undefined): Promise<EscrowOperationInput> {
  if (op.kind === "release" || !signer) return op as EscrowOperationInput;
  return signEscrowOperation(signer, op as UnsignedEscrowOperation, await escrowContext(world));
}

/** Runs `ops` through `executeBatch` as the relayer: the receipt, and the decoded revert of each failed item by index. */
export async function executeBatch(world: World, ops: EscrowOperationInput[]): Promise<{ receipt: TransactionReceipt; refusals: Map<number, ChainRefusal> }> {
  const tuples = ops.map((op) => toContractOperation(escrowOperationSchema.parse(op)));
  const receipt = await (await world.as(world.escrow, world.relayer).executeBatch(tuples)).wait();
  if (!receipt) throw new Error("no receipt");
  const refusals = new Map<number, ChainRefusal>();
  for (const log of receipt.logs) {
    const event = world.escrow.interface.parseLog(log);
    if (event?.name !== "OperationFailed") continue;
    const reason = String(event.args.getValue("reason"));
    const decoded = world.escrow.interface.parseError(reason) ?? world.token.interface.parseError(reason);
    refusals.set(Number(event.args.getValue("index")), { code: decoded?.name ?? "undecoded", args: decoded ? decoded.args.toArray().map(String) : [] });
  }
  return { receipt, refusals };
}

/** Escrow events of a receipt: name and a reader of its arguments. */
export function escrowEvents(world: World, receipt: TransactionReceipt): { name: string; arg: (name: string) => unknown }[] {
  return receipt.logs.flatMap((log) => {
    const event = log.address === receipt.to ? world.escrow.interface.parseLog(log) : null;
    return event ? [{ name: event.name, arg: (name: string) => event.args.getValue(name) as unknown }] : [];
  });
}

/** True if `signer` is who the signer rule `rule` names for a payment on `terms`. */
async function signerRuleHolds(world: World, rule: SignerRule, terms: PaymentTerms, signer: string): Promise<boolean> {
  switch (rule) {
    case "payer":
      return signer === terms.payer;
    case "merchant":
      return signer === terms.merchant;
    case "arbiter":
      return world.registry.hasRole(await world.registry.ARBITER_ROLE(), signer);
    default:
      return false;
  }
}

/** Defines the shared behaviour of `c.kind` (see the module comment). */
export function shouldBehaveLikeEscrowOperation(c: EscrowCase): void {
  const descriptor = escrowDescriptorOf(c.kind);

  describe(`${c.kind}: what the escrow does with it`, function () {
    let world: World;
    beforeEach(async function () {
      world = await networkHelpers.loadFixture(deployWorld);
    });

    const idTitle = descriptor.struct
      ? "has the id the escrow verifies: the actor's signature over it recovers the actor, and the escrow executes it"
      : "is executed by the escrow unsigned, emitting the events its descriptor names";
    it(idTitle, async function () {
      const terms = await c.prepare(world);
      const signer = c.signer(world);
      const op = await signed(world, await c.operation(world, terms), signer);
      const parsed = escrowOperationSchema.parse(op);
      const { id, paymentId } = operationDigests(parsed, await escrowContext(world));
      expect(paymentId).to.equal(await world.escrow.paymentIdOf(terms));
      if ("signature" in parsed && signer) {
        const address = await signer.getAddress();
        expect(recoverSigner(id, parsed.signature)).to.equal(address);
        expect(await signerRuleHolds(world, descriptor.signer, terms, address), `the ${descriptor.signer} signs it`).to.equal(true);
      }

      const { receipt, refusals } = await executeBatch(world, [op]);
      expect(refusals.get(0), "the escrow refused it").to.equal(undefined);
      // The events that show it executed are the ones the escrow emitted, and they lead back to this kind.
      const names = escrowEvents(world, receipt).map((event) => event.name);
      for (const { event, directOnly } of descriptor.executedBy) if (!directOnly || terms.direct) expect(names).to.include(event);
      const executed = escrowEvents(world, receipt).filter((event) => escrowKindsExecutedBy(event.name, terms.direct).includes(c.kind));
      expect(executed.length, "events naming this kind").to.be.greaterThan(0);
      expect(executed.some((event) => eventMatches(op, event.name, event.arg))).to.equal(true);
    });

    it("round-trips through JSON and through the escrow's calldata", async function () {
      const terms = await c.prepare(world);
      const op = await signed(world, await c.operation(world, terms), c.signer(world));
      const parsed = escrowOperationSchema.parse(JSON.parse(JSON.stringify(op)));
      expect(operationToJson(parsed)).to.deep.equal(op);
      const data = world.escrow.interface.encodeFunctionData("execute", [toContractOperation(parsed)]);
      const call = world.escrow.interface.parseTransaction({ data });
      const decoded = fromContractOperation(contractOperationOf(call!.args[0]));
      expect(decoded).to.deep.equal(parsed);
      expect(toContractOperation(parsed).kind).to.equal(descriptor.contractKind);
    });

    it("counts the revert of a second execution as already executed, and no other revert", async function () {
      const terms = await c.prepare(world);
      const op = await signed(world, await c.operation(world, terms), c.signer(world));
      const refused = await c.refused(world);
      const { refusals } = await executeBatch(world, [op, op, refused.op]);
      expect(refusals.has(0)).to.equal(false);
      const again = refusals.get(1);
      expect(again, "the second execution was not refused").to.not.equal(undefined);
      expect(descriptor.alreadyExecuted(again!), `${again!.code} counts as executed`).to.equal(true);
      const other = refusals.get(2);
      expect(other?.code).to.equal(refused.error);
      expect(descriptor.alreadyExecuted(other!), `${refused.error} does not count as executed`).to.equal(false);
    });

    if (c.impostor) {
      const impostor = c.impostor;
      it(`must be signed by the ${descriptor.signer}: the escrow refuses anyone else (${impostor.error})`, async function () {
        const terms = await c.prepare(world);
        const op = await signed(world, await c.operation(world, terms), impostor.signer(world));
        const { refusals } = await executeBatch(world, [op]);
        expect(refusals.get(0)?.code).to.equal(impostor.error);
      });
    } else {
      it("needs no signature: any relayer may send it", function () {
        expect(descriptor.signer).to.equal("none");
        expect(descriptor.struct).to.equal(undefined);
      });
    }

    it("refuses unknown fields and money, nonces or deadlines as JSON numbers, naming the field", async function () {
      const terms = await c.prepare(world);
      const op = (await signed(world, await c.operation(world, terms), c.signer(world))) as Record<string, unknown>;
      expect(zodPaths(() => escrowOperationSchema.parse({ ...op, memo: "x" }))).to.deep.equal([""]);
      expect(zodPaths(() => escrowOperationSchema.parse({ ...op, terms: { ...(op["terms"] as object), memo: "x" } }))).to.deep.equal(["terms"]);
      const parsed = escrowOperationSchema.parse(op) as Record<string, unknown>;
      for (const [name, value] of Object.entries(parsed)) {
        if (typeof value === "bigint") expect(zodPaths(() => escrowOperationSchema.parse({ ...op, [name]: Number(value) })), name).to.deep.equal([name]);
      }
    });
  });
}

/** Fresh terms nobody has paid: actions on them meet PaymentNotFound. */
export function unpaidTerms(world: World): Promise<PaymentTerms> {
  return makeTerms(world);
}

/** Pays fresh terms as the payer (held) and returns them. */
export async function heldPayment(world: World, overrides: Partial<PaymentTerms> = {}): Promise<PaymentTerms> {
  const terms = await makeTerms(world, overrides);
  await payHeld(world, terms);
  return terms;
}
