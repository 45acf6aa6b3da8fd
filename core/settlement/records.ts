/**
 * Settlement records as the ledger stores them: the record kinds (part of the on-chain format), a
 * record and a cycle summary as TypeScript values and in JSON, and the StandardMerkleTree leaf encoding
 * (= SettlementLedger.leafOf). Nodes build them (node/settlement/records.ts); statements, proofs and
 * every client read them.
 */
import { AbiCoder, keccak256 } from "ethers";
import type { z } from "zod";

import type { cycleSummaryJsonSchema, recordJsonSchema } from "../api/settlement.js";
import { SETTLEMENT_RECORD_LEAF_ENCODING } from "../protocol/eip712.js";
import { kindName } from "./kinds.js";

export { PAYMENT_KINDS, RECORD_KINDS, kindName, type RecordKindName } from "./kinds.js";

/** A settlement record as TypeScript values (field order of ISettlementLedger.SettlementRecord). */
export interface SettlementRecord {
  cycleId: bigint;
  recordId: string;
  kind: number;
  account: string;
  counterparty: string;
  token: string;
  amount: bigint;
  fee: bigint;
}

/** A record in JSON (stored and on the wire): money and the cycle id as decimal strings. */
export type RecordJson = z.infer<typeof recordJsonSchema>;

export type RecordValues = [bigint, string, number, string, string, string, bigint, bigint];

/** The EIP-712 `Cycle` message institutions sign (ISettlementLedger.CycleSummary). */
export interface CycleSummary {
  cycleId: bigint;
  merkleRoot: string;
  recordCount: bigint;
  grossAmount: bigint;
  feeAmount: bigint;
  totalsHash: string;
}

/** A cycle summary in JSON. */
export type CycleSummaryJson = z.infer<typeof cycleSummaryJsonSchema>;

export const LEAF_ENCODING = [...SETTLEMENT_RECORD_LEAF_ENCODING];
const abi = AbiCoder.defaultAbiCoder();

export function recordValues(r: SettlementRecord): RecordValues {
  return [r.cycleId, r.recordId, r.kind, r.account, r.counterparty, r.token, r.amount, r.fee];
}

export function recordToJson(r: SettlementRecord): RecordJson {
  return {
    cycleId: r.cycleId.toString(),
    recordId: r.recordId,
    kind: r.kind,
    kindName: kindName(r.kind),
    account: r.account,
    counterparty: r.counterparty,
    token: r.token,
    amount: r.amount.toString(),
    fee: r.fee.toString(),
  };
}

export function recordFromJson(r: RecordJson): SettlementRecord {
  return {
    cycleId: BigInt(r.cycleId),
    recordId: r.recordId,
    kind: r.kind,
    account: r.account,
    counterparty: r.counterparty,
    token: r.token,
    amount: BigInt(r.amount),
    fee: BigInt(r.fee),
  };
}

export function summaryToJson(s: CycleSummary): CycleSummaryJson {
  return {
    cycleId: s.cycleId.toString(),
    merkleRoot: s.merkleRoot,
    recordCount: s.recordCount.toString(),
    grossAmount: s.grossAmount.toString(),
    feeAmount: s.feeAmount.toString(),
    totalsHash: s.totalsHash,
  };
}

export function summaryFromJson(s: CycleSummaryJson): CycleSummary {
  return {
    cycleId: BigInt(s.cycleId),
    merkleRoot: s.merkleRoot,
    recordCount: BigInt(s.recordCount),
    grossAmount: BigInt(s.grossAmount),
    feeAmount: BigInt(s.feeAmount),
    totalsHash: s.totalsHash,
  };
}

/** The StandardMerkleTree leaf hash of a record (= SettlementLedger.leafOf). */
export function leafHashOf(record: SettlementRecord): string {
  return keccak256(keccak256(abi.encode(LEAF_ENCODING, recordValues(record))));
}
