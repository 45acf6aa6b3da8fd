/**
 * The overview's daily figures, from payments as the list answers them: per UTC day of creation, the
 * count and volume of payments the payer authorised, their fees (the fee rate on what is left after
 * refunds, rounded down, as the escrow charges it at release) and what was refunded of them. All sums
 * in bigint minor units.
 */
export interface PaymentFigures {
  status: string;
  amount: string;
  feeBps: number;
  refundedAmount: string;
  createdAt: string;
}

export interface Day {
  day: string;
  count: number;
  volume: bigint;
  fees: bigint;
  refunds: bigint;
}

/** States of payments nobody paid: they count toward nothing. */
const UNPAID = new Set(["awaiting_authorization", "processing", "cancelled", "expired", "failed"]);

/** One entry per day from `fromDay` to `toDay` (YYYY-MM-DD, UTC), days without payments included. */
export function dailyFigures(payments: readonly PaymentFigures[], fromDay: string, toDay: string): Day[] {
  const days = new Map<string, Day>();
  for (let t = Date.parse(`${fromDay}T00:00:00Z`); t <= Date.parse(`${toDay}T00:00:00Z`); t += 86_400_000) {
    const day = new Date(t).toISOString().slice(0, 10);
    days.set(day, { day, count: 0, volume: 0n, fees: 0n, refunds: 0n });
  }
  for (const p of payments) {
    if (UNPAID.has(p.status)) continue;
    const entry = days.get(p.createdAt.slice(0, 10));
    if (!entry) continue;
    const amount = BigInt(p.amount);
    const refunded = BigInt(p.refundedAmount);
    entry.count += 1;
    entry.volume += amount;
    entry.fees += ((amount - refunded) * BigInt(p.feeBps)) / 10_000n;
    entry.refunds += refunded;
  }
  return [...days.values()];
}

export interface StateFigures {
  status: string;
  count: number;
  volume: bigint;
}

/** Count and volume per payment state, in `order` (states without payments left out), then any other state seen. */
export function stateFigures(payments: readonly PaymentFigures[], order: readonly string[]): StateFigures[] {
  const byState = new Map<string, StateFigures>();
  for (const p of payments) {
    const entry = byState.get(p.status) ?? { status: p.status, count: 0, volume: 0n };
    entry.count += 1;
    entry.volume += BigInt(p.amount);
    byState.set(p.status, entry);
  }
  const known = order.flatMap((status) => byState.get(status) ?? []);
  return [...known, ...[...byState.values()].filter((e) => !order.includes(e.status))];
}

/** `value / max` as a fraction for drawing (never for money): exact enough at 1/10,000. */
export function fractionOf(value: bigint, max: bigint): number {
  return max > 0n ? Number((value * 10_000n) / max) / 10_000 : 0;
}
