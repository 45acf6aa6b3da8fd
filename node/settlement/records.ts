/**
 * Settlement records of a cycle (清结算), built deterministically from normalized chain events: one
 * record per settled movement (released, direct payment, refunded, resolved, reclaimed, deposit,
 * payout) plus totals per merchant and per institution (and token). Records are the leaves of an
 * OpenZeppelin StandardMerkleTree in SETTLEMENT_RECORD_LEAF_ENCODING, which is exactly
 * SettlementLedger.leafOf, so a proof verifies with the library and on-chain alike.
 *
 * A new event kind (e.g. token operations indexed by the node) plugs in as one more `SettlementEvent`
 * variant and one case in `movementRecords`; totals and the tree follow.
 */
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { AbiCoder, ZeroAddress, getAddress, keccak256 } from "ethers";
import type { RecordDifference } from "../../core/api/settlement.js";
import {
  LEAF_ENCODING,
  RECORD_KINDS,
  kindName,
  leafHashOf,
  recordToJson,
  recordValues,
  type CycleSummary,
  type RecordKindName,
  type RecordValues,
  type SettlementRecord,
} from "../../core/settlement/records.js";

const abi = AbiCoder.defaultAbiCoder();
const ZERO_ROOT = `0x${"0".repeat(64)}`;

/** Where an event happened on-chain (deterministic across nodes). */
export interface EventPosition {
  blockNumber: number;
  logIndex: number;
  txHash: string;
}

interface PaymentParties {
  paymentId: string;
  payer: string;
  merchant: string;
  token: string;
}

/** A chain event that moves settled money, normalized from escrow or token logs (amounts in minor units). */
export type SettlementEvent =
  | ({ type: "released"; direct: boolean; merchantAmount: bigint; fee: bigint; at: EventPosition } & PaymentParties)
  | ({ type: "refunded"; amount: bigint; at: EventPosition } & PaymentParties)
  | ({ type: "resolved"; payerAmount: bigint; merchantAmount: bigint; fee: bigint; at: EventPosition } & PaymentParties)
  | ({ type: "reclaimed"; amount: bigint; at: EventPosition } & PaymentParties)
  | { type: "minted"; token: string; custodian: string; account: string; amount: bigint; bankRef: string; at: EventPosition }
  | { type: "burned"; token: string; custodian: string; account: string; amount: bigint; bankRef: string; at: EventPosition };

export interface BuiltCycle {
  records: SettlementRecord[];
  tree: StandardMerkleTree<RecordValues> | undefined;
  summary: CycleSummary;
}

/** Record id of a movement that can happen several times per payment: bound to its log. */
function eventRecordId(paymentId: string, at: EventPosition): string {
  return keccak256(abi.encode(["bytes32", "bytes32", "uint256"], [paymentId, at.txHash, at.logIndex]));
}

/** Record id of a totals record: (scope, account, token). */
export function totalsRecordId(scope: "merchant" | "institution", account: string, token: string): string {
  return keccak256(abi.encode(["string", "address", "address"], [`settlenet.totals.${scope}`, account, token]));
}

function movementRecords(cycleId: bigint, event: SettlementEvent): SettlementRecord[] {
  const rec = (kind: number, recordId: string, account: string, counterparty: string, token: string, amount: bigint, fee: bigint): SettlementRecord => ({
    cycleId,
    recordId: recordId.toLowerCase(),
    kind,
    account: getAddress(account),
    counterparty: getAddress(counterparty),
    token: getAddress(token),
    amount,
    fee,
  });
  switch (event.type) {
    case "released":
      // Gross: what left escrow for the merchant, fee included.
      return [rec(event.direct ? RECORD_KINDS.directPayment : RECORD_KINDS.released, event.paymentId, event.payer, event.merchant, event.token, event.merchantAmount + event.fee, event.fee)];
    case "refunded":
      return [rec(RECORD_KINDS.refunded, eventRecordId(event.paymentId, event.at), event.payer, event.merchant, event.token, event.amount, 0n)];
    case "resolved": {
      // The merchant's share settles like a release; the payer's share is a refund.
      const records = [rec(RECORD_KINDS.resolved, event.paymentId, event.payer, event.merchant, event.token, event.merchantAmount + event.fee, event.fee)];
      if (event.payerAmount > 0n) records.push(rec(RECORD_KINDS.refunded, eventRecordId(event.paymentId, event.at), event.payer, event.merchant, event.token, event.payerAmount, 0n));
      return records;
    }
    case "reclaimed":
      return [rec(RECORD_KINDS.reclaimed, event.paymentId, event.payer, event.merchant, event.token, event.amount, 0n)];
    case "minted":
      return [rec(RECORD_KINDS.deposit, event.bankRef, event.account, event.custodian, event.token, event.amount, 0n)];
    case "burned":
      return [rec(RECORD_KINDS.payout, event.bankRef, event.account, event.custodian, event.token, event.amount, 0n)];
  }
}

/** Kinds whose amount settles to the merchant (gross, fee included). */
const SETTLED_TO_MERCHANT: ReadonlySet<number> = new Set([RECORD_KINDS.released, RECORD_KINDS.directPayment, RECORD_KINDS.resolved]);
const PAYMENT_MOVEMENTS: ReadonlySet<number> = new Set([...SETTLED_TO_MERCHANT, RECORD_KINDS.refunded, RECORD_KINDS.reclaimed]);

function compareRecords(a: SettlementRecord, b: SettlementRecord): number {
  if (a.kind !== b.kind) return a.kind - b.kind;
  if (a.recordId !== b.recordId) return a.recordId < b.recordId ? -1 : 1;
  const x = leafHashOf(a);
  const y = leafHashOf(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * Builds the cycle's records, tree and summary. `institutionOf` names a merchant's acquiring
 * institution. Every merchant with a payment movement in the cycle gets a totals record per token
 * (gross settled to it and fees; refunds and reclaims are their own records), and so does each
 * acquiring institution (the sum over its merchants).
 */
export function buildCycle(cycleId: bigint, events: SettlementEvent[], institutionOf: (merchant: string) => string | undefined): BuiltCycle {
  const movements = events.flatMap((event) => movementRecords(cycleId, event));
  const merchantTotals = new Map<string, { merchant: string; institution: string; token: string; amount: bigint; fee: bigint }>();
  for (const r of movements) {
    if (!PAYMENT_MOVEMENTS.has(r.kind)) continue;
    const merchant = r.counterparty;
    const key = `${merchant}:${r.token}`;
    const totals = merchantTotals.get(key) ?? { merchant, institution: getAddress(institutionOf(merchant) ?? ZeroAddress), token: r.token, amount: 0n, fee: 0n };
    if (SETTLED_TO_MERCHANT.has(r.kind)) {
      totals.amount += r.amount;
      totals.fee += r.fee;
    }
    merchantTotals.set(key, totals);
  }
  const institutionTotals = new Map<string, { institution: string; token: string; amount: bigint; fee: bigint }>();
  for (const t of merchantTotals.values()) {
    const key = `${t.institution}:${t.token}`;
    const totals = institutionTotals.get(key) ?? { institution: t.institution, token: t.token, amount: 0n, fee: 0n };
    totals.amount += t.amount;
    totals.fee += t.fee;
    institutionTotals.set(key, totals);
  }
  const totals: SettlementRecord[] = [
    ...[...merchantTotals.values()].map((t) => ({
      cycleId,
      recordId: totalsRecordId("merchant", t.merchant, t.token),
      kind: RECORD_KINDS.merchantTotals,
      account: t.merchant,
      counterparty: t.institution,
      token: t.token,
      amount: t.amount,
      fee: t.fee,
    })),
    ...[...institutionTotals.values()].map((t) => ({
      cycleId,
      recordId: totalsRecordId("institution", t.institution, t.token),
      kind: RECORD_KINDS.institutionTotals,
      account: t.institution,
      counterparty: ZeroAddress,
      token: t.token,
      amount: t.amount,
      fee: t.fee,
    })),
  ];
  const records = [...movements, ...totals].sort(compareRecords);
  if (records.length === 0) {
    return { records, tree: undefined, summary: { cycleId, merkleRoot: ZERO_ROOT, recordCount: 0n, grossAmount: 0n, feeAmount: 0n, totalsHash: ZERO_ROOT } };
  }
  const tree = StandardMerkleTree.of(records.map(recordValues), LEAF_ENCODING);
  const totalsLeaves = totals.map(leafHashOf).sort();
  const merchantSide = totals.filter((r) => r.kind === RECORD_KINDS.merchantTotals);
  return {
    records,
    tree,
    summary: {
      cycleId,
      merkleRoot: tree.root,
      recordCount: BigInt(records.length),
      grossAmount: merchantSide.reduce((sum, r) => sum + r.amount, 0n),
      feeAmount: merchantSide.reduce((sum, r) => sum + r.fee, 0n),
      totalsHash: keccak256(abi.encode(["bytes32[]"], [totalsLeaves])),
    },
  };
}

export type { RecordDifference } from "../../core/api/settlement.js";

/** Records of `local` and `reference` that differ, matched by (kind, record id, occurrence). */
export function diffRecords(local: SettlementRecord[], reference: SettlementRecord[], kinds?: readonly RecordKindName[]): RecordDifference[] {
  const codes = kinds ? new Set<number>(kinds.map((k) => RECORD_KINDS[k])) : undefined;
  const keyed = (records: SettlementRecord[]) => {
    const map = new Map<string, SettlementRecord>();
    const seen = new Map<string, number>();
    for (const r of records) {
      if (codes && !codes.has(r.kind)) continue;
      const base = `${r.kind}:${r.recordId.toLowerCase()}`;
      const n = seen.get(base) ?? 0;
      seen.set(base, n + 1);
      map.set(`${base}:${n}`, r);
    }
    return map;
  };
  const a = keyed(local);
  const b = keyed(reference);
  const differences: RecordDifference[] = [];
  for (const key of new Set([...a.keys(), ...b.keys()])) {
    const x = a.get(key);
    const y = b.get(key);
    if (x && y && leafHashOf(x) === leafHashOf(y)) continue;
    const any = (x ?? y) as SettlementRecord;
    differences.push({ kind: kindName(any.kind), recordId: any.recordId, ...(x ? { local: recordToJson(x) } : {}), ...(y ? { reference: recordToJson(y) } : {}) });
  }
  return differences;
}
