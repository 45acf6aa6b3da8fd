/**
 * Synthetic but well-formed records for the in-process storage benchmarks: stored pay operations and
 * indexed payment records shaped exactly like the ones the node writes (sizes matter for LevelDB).
 */
import { randomBytes } from "node:crypto";

import { getAddress, hexlify } from "ethers";

import type { PaymentRecord, StoredOperation } from "../../core/records.js";

const hex = (bytes: number) => hexlify(randomBytes(bytes));
/** A random checksummed address. */
export const randomAddress = () => getAddress(hex(20));

/** An accepted pay operation as the pipeline stores it (wire form, 65-byte signature). */
export function storedPay(token: string, merchant: string, payer: string, nowMs: number): StoredOperation {
  const id = hex(32);
  return {
    id,
    kind: "pay",
    paymentId: id,
    op: {
      kind: "pay",
      terms: {
        payer,
        merchant,
        token,
        amount: "10000",
        orderId: hex(32),
        feeBps: 100,
        direct: false,
        payDeadline: String(Math.floor(nowMs / 1000) + 1_800),
        fulfilmentPeriod: 604_800,
        autoReleasePeriod: 259_200,
        refundPeriod: 2_592_000,
        nonce: BigInt(hex(32)).toString(),
      },
      signature: hex(65),
    },
    signer: payer,
    origin: "api",
    status: "accepted",
    receivedAtMs: nowMs,
    updatedAtMs: nowMs,
  };
}

/** A held payment as the indexer records it, with its PaymentPaid event. */
export function heldPayment(token: string, merchant: string, payer: string, institution: string, paidAt: number, block: number): PaymentRecord {
  const paymentId = hex(32);
  const orderId = hex(32);
  return {
    paymentId,
    payer,
    merchant,
    token,
    amount: "10000",
    orderId,
    feeBps: 100,
    direct: false,
    status: "held",
    refunded: "0",
    deadline: paidAt + 604_800,
    payerInstitution: institution,
    merchantInstitution: institution,
    paidAt,
    paidBlock: block,
    updatedAt: paidAt,
    events: [
      {
        event: "PaymentPaid",
        blockNumber: block,
        txHash: hex(32),
        logIndex: 0,
        timestamp: paidAt,
        args: { paymentId, payer, merchant, token, amount: "10000", orderId, feeBps: "100", direct: false, deadline: String(paidAt + 604_800) },
      },
    ],
  };
}
