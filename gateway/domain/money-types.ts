/**
 * Records of money movement and payer actions as the gateway persists them (storage/money.ts). Money
 * is a decimal string in minor units; times are unix ms where the name says `Ms`.
 */
import type { EscrowOperationInput } from "../../core/operations/index.js";
import type { RejectionReason, TransferStatus } from "../../core/bank/wire.js";
import type { SubmittedOperation } from "./records.js";
import type { TokenOperationWire } from "./token-ops.js";

/**
 * A token operation: a merchant's redemption the gateway signed and submits to its node (with `op`), or
 * the custodian service's mint as the node reports it (no `op`: the gateway never holds it to submit).
 */
export interface TokenOpAttempt {
  operationId: string;
  op?: TokenOperationWire;
  /** The node took it (or already had it): only then is its status worth asking for. */
  submitted: boolean;
  status: "pending" | "executed" | "failed";
  error?: { code: string; message: string };
  createdAtMs: number;
}

/** The bank's side of a payout or top-up. */
export interface BankLeg {
  bankRef: string;
  status: TransferStatus;
  reason?: RejectionReason;
}

/**
 * Payout stages: `burning` (the merchant's redemption signed and submitted; nothing at the bank yet) →
 * `paying` (redeemed; the bank is asked, with the payout id as its idempotency reference, and pays
 * only against that redemption final on-chain) → `paid`; or a bank rejection →
 * `reversing` (the custodian service mints it back) → `failed` with `reversed: true` (or `reversed: false`
 * with REVERSAL_FAILED when the custodian could not); or a burn that did not execute → `failed` with
 * `reversed: false` (nothing left the merchant's balance).
 */
export type PayoutStage = "burning" | "paying" | "paid" | "reversing" | "failed";

export interface PayoutRecord {
  /** `po_…` */
  id: string;
  merchantId: string;
  /** The merchant's on-chain address. */
  merchant: string;
  currency: string;
  token: string;
  amount: string;
  /** The merchant's bank account (matches the registry's payout-account reference). */
  account: string;
  stage: PayoutStage;
  /** The merchant's redemption (a custodian burn in payouts stored before redemptions). */
  burn: TokenOpAttempt;
  bank?: BankLeg;
  /** The latest re-mint attempt after a rejection. */
  reversal?: TokenOpAttempt;
  reversalAttempts: number;
  reversed: boolean;
  failure?: { code: string; message: string };
  createdAtMs: number;
  updatedAtMs: number;
}

/**
 * Top-up stages: `requesting` (stored before the bank is asked; the bank reference names the top-up and
 * the merchant) → `awaiting_bank` → on confirmation `minting` (the custodian service mints) →
 * `completed`; a bank rejection, or a mint the custodian refused or gave up on → `failed`. Tokens are
 * minted only after the bank confirmed, by the custodian, never by the gateway.
 */
export type TopupStage = "requesting" | "awaiting_bank" | "minting" | "completed" | "failed";

export interface TopupRecord {
  /** `tu_…` */
  id: string;
  merchantId: string;
  merchant: string;
  currency: string;
  token: string;
  amount: string;
  /** The bank account the deposit is collected from. */
  account: string;
  stage: TopupStage;
  bank?: BankLeg;
  mint?: TokenOpAttempt;
  mintAttempts: number;
  failure?: { code: string; message: string };
  createdAtMs: number;
  updatedAtMs: number;
}

/** A transfer to another merchant: a direct escrow payment the sending merchant signs as payer. */
export interface TransferRecord {
  /** `tr_…` */
  id: string;
  merchantId: string;
  /** The merchant's own reference, unique per merchant. */
  reference: string;
  requestHash: string;
  from: string;
  to: string;
  currency: string;
  amount: string;
  /** The recipient's registered fee, which the escrow deducts. */
  feeBps: number;
  description: string | null;
  terms: Extract<EscrowOperationInput, { kind: "pay" }>["terms"];
  paymentId: string;
  operation: SubmittedOperation;
  createdAtMs: number;
  updatedAtMs: number;
}

/** A payer's signed confirm, dispute or reclaim relayed for an order. */
export interface PayerActionRecord {
  operationId: string;
  orderId: string;
  merchantId: string;
  action: "confirm" | "dispute" | "reclaim";
  /** Dispute reason as the payer gave it (its keccak256 went on-chain). */
  reason?: string;
  reasonHash?: string;
  status: SubmittedOperation["status"];
  error?: { code: string; message: string };
  submittedAtMs: number;
}

/** A merchant event caused by a money state change (delivered by the webhook outbox). */
export interface MoneyEvent {
  type: "payout.paid" | "payout.failed" | "topup.completed" | "topup.failed";
  merchantId: string;
  /** The object the event is about, as the API shows it. */
  data: Record<string, unknown>;
}
