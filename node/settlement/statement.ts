/** Builds a settlement statement from a cycle this node built and its records. */
import { getAddress } from "ethers";

import { RECORD_KINDS, type RecordJson } from "../../core/settlement/records.js";
import { SETTLED_KINDS, type Statement } from "../../core/settlement/statement.js";
import type { CycleState } from "../storage/cycles.js";

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
    if (SETTLED_KINDS.has(r.kind)) {
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

