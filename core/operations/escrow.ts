/**
 * What every escrow operation's descriptor states, the `IPaymentEscrow.Operation` tuple that
 * `PaymentEscrow.execute`/`executeBatch` take, and the parts the signed actions share (every kind but
 * pay and release: the actor signs `<Action>(bytes32 paymentId, ..., uint256 nonce, uint256 deadline)`).
 */
import type { Result } from "ethers";
import type { z } from "zod";

import type { OperationCode } from "../protocol/codes.js";
import { RECEIPT_REFUSALS, type ChainRefusal } from "./descriptor.js";
import type { PaymentTerms } from "./terms.js";
import { eip712Struct, field, type Eip712Struct } from "./typed-data.js";

/** An escrow operation as PaymentEscrow takes it (`IPaymentEscrow.Operation`). */
export interface ContractOperation {
  /** IPaymentEscrow.OperationKind. */
  kind: number;
  terms: PaymentTerms;
  /** Refund: amount refunded. Resolve: amount awarded to the payer. Otherwise zero. */
  amount: bigint;
  /** Refund, dispute and resolve: reason reference. Otherwise zero. */
  reason: string;
  nonce: bigint;
  deadline: bigint;
  /** The actor's signature; empty ("0x") for release. */
  signature: string;
}

/** An event of the escrow that shows an operation executed. */
export interface ExecutionEvent {
  /** Event name, e.g. `PaymentRefunded`. */
  event: string;
  /** Only for direct payments (a direct pay also releases at once). */
  directOnly?: boolean;
  /**
   * When several operations of the kind may be pending for one payment: the event arguments that equal
   * the operation's fields (compared as integers); the event executed one whose fields all match.
   */
  match?: readonly { arg: string; field: string }[];
}

/** Who and what a payment moves into the network: what the risk rules (limits, blacklist, velocity) apply to. */
export interface RiskSubject {
  token: string;
  payer: string;
  merchant: string;
  amount: bigint;
}

/** One escrow operation kind: everything the API, gossip, validation, relay and indexer need to know of it. */
export interface EscrowOperationDescriptor<Op extends { kind: string; terms: PaymentTerms }> {
  readonly kind: Op["kind"];
  /** Executed by PaymentEscrow, signed under its EIP-712 domain. */
  readonly contract: "escrow";
  /** Its value of IPaymentEscrow.OperationKind. */
  readonly contractKind: number;
  /** Wire schema (strict): what the API and gossip carry. */
  readonly schema: z.ZodType<Op>;
  /** The EIP-712 struct its actor signs; none for an unsigned kind. */
  readonly struct: Eip712Struct | undefined;
  /** The message of `struct` for `op` on payment `paymentId`. */
  message?(op: Op, paymentId: string): Record<string, unknown>;
  readonly signer: "payer" | "merchant" | "arbiter" | "none";
  /** True for the kind that creates a payment; every other kind acts on a payment that exists. */
  readonly createsPayment: boolean;
  /** True if executing it uses up the signer's unordered nonce `op.nonce`. */
  readonly consumesNonce: boolean;
  /** Operation id (also the gossip message id): for a signed kind the digest its signature covers. */
  operationId(op: Op, paymentId: string, domainSeparator: Buffer): string;
  /** For a kind a payment takes at most one of whatever its fields (pay, release): its id from the payment id alone. */
  operationIdOfPayment?(paymentId: string): string;
  /** The time after which the contract refuses it, if any (seconds). */
  deadline(op: Op): bigint | undefined;
  /** The new money it moves into the escrow, if any: the risk rules apply to it. */
  riskSubject?(op: Op): RiskSubject;
  /** Its own fields of the contract tuple (the rest are zero). */
  contractFields(op: Op): Partial<Omit<ContractOperation, "kind" | "terms">>;
  /** The operation a contract tuple of this kind carries. */
  fromContract(item: ContractOperation): Op;
  /** The events that show it executed. */
  readonly executedBy: readonly ExecutionEvent[];
  /** True if a payment may take several of this kind (refunds): each event then executed exactly one of them. */
  readonly repeatable: boolean;
  /** True if the chain refused it because it was executed already (so it counts as executed). */
  alreadyExecuted(refusal: ChainRefusal): boolean;
  /** The validation refusal codes it can meet. */
  readonly refusals: readonly OperationCode[];
}

/** The struct of a signed action: `primaryType(bytes32 paymentId, ...fields, uint256 nonce, uint256 deadline)`. */
export function actionStruct(primaryType: string, ...fields: ReturnType<typeof field>[]): Eip712Struct {
  return eip712Struct(primaryType, [field("paymentId", "bytes32"), ...fields, field("nonce", "uint256"), field("deadline", "uint256")]);
}

/** Refusals of an action signed by the payment's payer or merchant. */
export const ACTION_REFUSALS = [...RECEIPT_REFUSALS, "UNKNOWN_PAYMENT", "NONCE_USED", "EXPIRED", "BAD_SIGNATURE"] as const satisfies readonly OperationCode[];

const ZERO_BYTES32 = "0x" + "00".repeat(32);

/** The contract tuple of an operation of `kind` on `terms`, with `fields` and zero elsewhere. */
export function contractOperation(kind: number, terms: PaymentTerms, fields: Partial<Omit<ContractOperation, "kind" | "terms">>): ContractOperation {
  return { kind, terms, amount: 0n, reason: ZERO_BYTES32, nonce: 0n, deadline: 0n, signature: "0x", ...fields };
}

/** A contract tuple as ethers decodes it from calldata (`execute`/`executeBatch` arguments). */
export function contractOperationOf(raw: Result): ContractOperation {
  const t = raw.getValue("terms") as Result;
  return {
    kind: Number(raw.getValue("kind")),
    terms: {
      payer: String(t.getValue("payer")),
      merchant: String(t.getValue("merchant")),
      token: String(t.getValue("token")),
      amount: t.getValue("amount") as bigint,
      orderId: String(t.getValue("orderId")),
      feeBps: Number(t.getValue("feeBps")),
      direct: Boolean(t.getValue("direct")),
      payDeadline: t.getValue("payDeadline") as bigint,
      fulfilmentPeriod: Number(t.getValue("fulfilmentPeriod")),
      autoReleasePeriod: Number(t.getValue("autoReleasePeriod")),
      refundPeriod: Number(t.getValue("refundPeriod")),
      nonce: t.getValue("nonce") as bigint,
    },
    amount: raw.getValue("amount") as bigint,
    reason: String(raw.getValue("reason")),
    nonce: raw.getValue("nonce") as bigint,
    deadline: raw.getValue("deadline") as bigint,
    signature: String(raw.getValue("signature")),
  };
}
