/**
 * Settlement statements of one cycle for one merchant or one institution, from the cycle's records
 * (so every figure is provable against the cycle's Merkle root), in JSON or CSV.
 */
import { getAddress } from "ethers";

import type { CycleState } from "../storage/cycles.js";
import { RECORD_KINDS, type RecordJson } from "./records.js";

export interface StatementTotals {
  token: string;
  /** Gross settled to the merchant(s): released, direct payments and the merchant share of resolutions. */
  gross: string;
  fee: string;
  /** gross − fee. */
  net: string;
  refunded: string;
  reclaimed: string;
  /** Settled payments (released, direct, resolved). */
  payments: number;
  deposits: string;
  payouts: string;
}

export interface Statement {
  cycleId: string;
  party: { type: "merchant" | "institution"; account: string };
  cycle: { start: number; end: number; status: string; merkleRoot: string; finalized: boolean; finalizedRoot?: string };
  /** The records the statement covers (movement records and the party's totals records). */
  records: RecordJson[];
  /** Per token, recomputed from the movement records. */
  totals: StatementTotals[];
}

const SETTLED = new Set<number>([RECORD_KINDS.released, RECORD_KINDS.directPayment, RECORD_KINDS.resolved]);
const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

/** The statement of `party` in a cycle from its state and records. */
export function statementOf(state: CycleState, records: RecordJson[], party: { type: "merchant" | "institution"; account: string }): Statement {
  const account = getAddress(party.account);
  let covered: RecordJson[];
  if (party.type === "merchant") {
    covered = records.filter((r) => (r.kind <= RECORD_KINDS.reclaimed || r.kind === RECORD_KINDS.directPayment ? same(r.counterparty, account) : r.kind === RECORD_KINDS.merchantTotals && same(r.account, account)));
  } else {
    // An institution's merchants are those whose totals name it as acquirer.
    const merchants = new Set(records.filter((r) => r.kind === RECORD_KINDS.merchantTotals && same(r.counterparty, account)).map((r) => r.account.toLowerCase()));
    covered = records.filter((r) => {
      if (r.kind === RECORD_KINDS.deposit || r.kind === RECORD_KINDS.payout) return same(r.counterparty, account);
      if (r.kind === RECORD_KINDS.institutionTotals) return same(r.account, account);
      if (r.kind === RECORD_KINDS.merchantTotals) return merchants.has(r.account.toLowerCase());
      return merchants.has(r.counterparty.toLowerCase());
    });
  }
  const byToken = new Map<string, { gross: bigint; fee: bigint; refunded: bigint; reclaimed: bigint; payments: number; deposits: bigint; payouts: bigint }>();
  for (const r of covered) {
    const t = byToken.get(r.token) ?? { gross: 0n, fee: 0n, refunded: 0n, reclaimed: 0n, payments: 0, deposits: 0n, payouts: 0n };
    const amount = BigInt(r.amount);
    if (SETTLED.has(r.kind)) {
      t.gross += amount;
      t.fee += BigInt(r.fee);
      t.payments += 1;
    } else if (r.kind === RECORD_KINDS.refunded) t.refunded += amount;
    else if (r.kind === RECORD_KINDS.reclaimed) t.reclaimed += amount;
    else if (r.kind === RECORD_KINDS.deposit) t.deposits += amount;
    else if (r.kind === RECORD_KINDS.payout) t.payouts += amount;
    byToken.set(r.token, t);
  }
  const totals = [...byToken.entries()]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([token, t]) => ({
      token,
      gross: t.gross.toString(),
      fee: t.fee.toString(),
      net: (t.gross - t.fee).toString(),
      refunded: t.refunded.toString(),
      reclaimed: t.reclaimed.toString(),
      payments: t.payments,
      deposits: t.deposits.toString(),
      payouts: t.payouts.toString(),
    }));
  return {
    cycleId: state.cycleId,
    party: { type: party.type, account },
    cycle: {
      start: state.start,
      end: state.end,
      status: state.status,
      merkleRoot: state.summary.merkleRoot,
      finalized: state.status === "finalized",
      ...(state.finalized ? { finalizedRoot: state.finalized.merkleRoot } : {}),
    },
    records: covered,
    totals,
  };
}

const CSV_HEADER = ["cycle_id", "section", "kind", "record_id", "account", "counterparty", "token", "amount", "fee", "net", "refunded", "reclaimed", "payments"];

/** CSV (RFC 4180, LF line ends): one `record` row per record, then one `total` row per token. */
export function statementCsv(statement: Statement): string {
  const rows: string[][] = [CSV_HEADER];
  for (const r of statement.records) {
    const settled = SETTLED.has(r.kind) ? (BigInt(r.amount) - BigInt(r.fee)).toString() : "";
    rows.push([r.cycleId, "record", r.kindName, r.recordId, r.account, r.counterparty, r.token, r.amount, r.fee, settled, "", "", ""]);
  }
  for (const t of statement.totals) {
    rows.push([statement.cycleId, "total", statement.party.type, "", statement.party.account, "", t.token, t.gross, t.fee, t.net, t.refunded, t.reclaimed, String(t.payments)]);
  }
  return rows.map((row) => row.map(csvField).join(",")).join("\n") + "\n";
}

function csvField(value: string): string {
  return /[",\n\r]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}
