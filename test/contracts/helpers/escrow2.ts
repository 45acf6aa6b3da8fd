/** Escrow test helpers for the dispute, resolve, reclaim, relay and admin suites: signed operations and payment set-ups. */
import type { Signer } from "ethers";

import { PAYMENT_TYPES, fromContractOperation, operationIdOf, type ContractOperation, type PaymentTerms } from "../../../core/operations/index.js";
import { escrowDomain } from "../../../core/protocol/eip712.js";
import {
  ethers,
  networkHelpers,
  operation,
  OperationKind,
  payHeld,
  signAction,
  signTerms,
  type ActionName,
  type World,
} from "./fixture.js";
import { disputeAsPayer, fulfil } from "./escrow-operations.js";

/** The EIP-712 action each signed, non-pay operation kind uses. */
export const ACTION_OF_KIND: Partial<Record<number, ActionName>> = {
  [OperationKind.MarkFulfilled]: "markFulfilled",
  [OperationKind.Confirm]: "confirm",
  [OperationKind.Refund]: "refund",
  [OperationKind.Dispute]: "dispute",
  [OperationKind.Resolve]: "resolve",
  [OperationKind.Reclaim]: "reclaim",
};

export interface SignedOperationFields {
  /** Refund amount or, for resolve, the payer's award. */
  amount?: bigint;
  reason?: string;
  nonce?: bigint;
  /** Signature deadline; defaults to an hour from the latest block. */
  deadline?: bigint;
  /** Sign under another chain id (replay tests). */
  chainId?: bigint;
  /** Sign for another escrow (replay tests). */
  verifyingContract?: string;
}

let actionNonce = 1_000n;

/** A fresh unordered nonce for a signed action. */
export function nextNonce(): bigint {
  actionNonce += 1n;
  return actionNonce;
}

/** The typed-data message `kind` signs for payment `paymentId`. */
export function actionMessage(kind: number, paymentId: string, nonce: bigint, deadline: bigint, amount = 0n, reason = ethers.ZeroHash) {
  switch (kind) {
    case OperationKind.Refund:
      return { paymentId, amount, reason, nonce, deadline };
    case OperationKind.Dispute:
      return { paymentId, reason, nonce, deadline };
    case OperationKind.Resolve:
      return { paymentId, payerAmount: amount, reason, nonce, deadline };
    default:
      return { paymentId, nonce, deadline };
  }
}

/**
 * A relayed operation of `kind` on `terms`, signed by `signer`: the terms signature for Pay, an empty
 * signature for Release, the action signature otherwise.
 */
export async function signedOperation(
  world: World,
  kind: number,
  terms: PaymentTerms,
  signer: Signer,
  fields: SignedOperationFields = {},
) {
  if (kind === OperationKind.Pay) {
    const signature =
      fields.verifyingContract === undefined
        ? await signTerms(world, signer, terms, fields.chainId)
        : await signer.signTypedData(escrowDomain(fields.chainId ?? world.chainId, fields.verifyingContract), PAYMENT_TYPES, terms);
    return operation(kind, terms, { signature });
  }
  const name = ACTION_OF_KIND[kind];
  if (name === undefined) return operation(kind, terms);
  const paymentId = await world.escrow.paymentIdOf(terms);
  const nonce = fields.nonce ?? nextNonce();
  const deadline = fields.deadline ?? BigInt(await networkHelpers.time.latest()) + 3_600n;
  const amount = fields.amount ?? 0n;
  const reason = fields.reason ?? ethers.ZeroHash;
  const opts: { chainId?: bigint; verifyingContract?: string } = {};
  if (fields.chainId !== undefined) opts.chainId = fields.chainId;
  if (fields.verifyingContract !== undefined) opts.verifyingContract = fields.verifyingContract;
  const signature = await signAction(world, signer, name, actionMessage(kind, paymentId, nonce, deadline, amount, reason), opts);
  return operation(kind, terms, { amount, reason, nonce, deadline, signature });
}

/** Pays `terms` and has the merchant mark them fulfilled; returns the payment id. */
export async function payFulfilled(world: World, terms: PaymentTerms): Promise<string> {
  const id = await payHeld(world, terms);
  await fulfil(world, terms);
  return id;
}

/** Pays `terms` and has the payer dispute them while held; returns the payment id. */
export async function payDisputed(world: World, terms: PaymentTerms, reason = ethers.ZeroHash): Promise<string> {
  const id = await payHeld(world, terms);
  await disputeAsPayer(world, terms, reason);
  return id;
}

/** Bytes32 of a short reason label. */
export const reasonOf = (label: string) => ethers.encodeBytes32String(label);

/** The id a node gives a relayed operation tuple (what OperationFailed reports for a failed batch item). */
export async function operationIdOfTuple(world: World, op: ContractOperation): Promise<string> {
  const parsed = fromContractOperation(op);
  if (!parsed) throw new Error(`no descriptor for kind ${op.kind}`);
  return operationIdOf(parsed, { chainId: world.chainId, escrow: await world.escrow.getAddress() });
}
