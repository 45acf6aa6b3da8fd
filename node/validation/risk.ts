/**
 * Risk rules (风控) applied to payments before they are accepted: blacklist, single-payment limit,
 * per-payer and per-merchant UTC-day totals, payer velocity, and the single and day limits of the
 * payer's KYC level (customers only; the level comes from the node's registry mirror, so no chain
 * read on this path; a payer that is not a registered customer, e.g. a merchant paying, has none).
 * The rules can be replaced at runtime (`apply`, from a signed risk-rules document); the counters
 * stay. Counters are this node's local view (what it has accepted), kept in memory and bounded: only
 * today's and yesterday's totals and the velocity window are retained. Days are UTC days of chain
 * time (the latest block's, as polled). At start they are rebuilt from the operations the node stored
 * (`restore`), so a restart does not reset a payer's or merchant's day.
 */
import { riskSubjectOf, type Operation } from "../../core/operations/index.js";
import type { RiskRules } from "../services.js";
import { refusal, type ValidationPath } from "./refusal.js";

const DAY_SECONDS = 86_400;

/** Per-account day totals and payer velocity; see the module comment. */
export class RiskEngine {
  private rules: RiskRules;
  private blacklist: ReadonlySet<string>;
  /** UTC day number → "token!account" → total paid (payer) or received (merchant) that day. */
  private readonly payerTotals = new Map<number, Map<string, bigint>>();
  private readonly merchantTotals = new Map<number, Map<string, bigint>>();
  /** payer → times (unix seconds, ascending) of its payments inside the velocity window. */
  private readonly payerTimes = new Map<string, number[]>();
  private lastSweepDay = -1;

  /**
   * `kycLevelOf`: the KYC level of a registered customer, undefined for any other account.
   * `chainNowSeconds`: the latest block's time as last polled; day totals are per day of chain time
   * when it is known (as the contracts and the AML rules count days), else of `nowSeconds`.
   */
  constructor(
    rules: RiskRules,
    private readonly kycLevelOf: (account: string) => number | undefined = () => undefined,
    private readonly chainNowSeconds: () => number | undefined = () => undefined,
  ) {
    this.rules = rules;
    this.blacklist = new Set((rules.blacklist ?? []).map((address) => address.toLowerCase()));
  }

  /** Applies new rules from the next check on; today's totals and velocity windows are kept. */
  apply(rules: RiskRules): void {
    this.rules = rules;
    this.blacklist = new Set((rules.blacklist ?? []).map((address) => address.toLowerCase()));
  }

  /**
   * Throws OperationError if the payment `op` breaks a rule at `nowSeconds`. Refusals that depend
   * only on configuration or on the payment itself are REJECT; cumulative ones (this node's local
   * view, which gossip timing changes) are IGNORE on the gossip path and REJECT on the API path
   * (see OPERATION_CODES).
   * Operations that move no new money into the network (every kind but pay) pass.
   */
  check(op: Operation, nowSeconds: number, path: ValidationPath): void {
    const subject = riskSubjectOf(op);
    if (!subject) return;
    const { token, payer, merchant, amount } = subject;
    for (const [role, account] of [["payer", payer], ["merchant", merchant]] as const) {
      if (this.blacklist.has(account.toLowerCase())) {
        throw refusal("BLACKLISTED", path, `${role} ${account} is blacklisted`, { role, account });
      }
    }
    const max = this.rules.maxPaymentAmount;
    if (max !== undefined && amount > max) {
      throw refusal("AMOUNT_OVER_LIMIT", path, `amount ${amount} exceeds the single-payment limit ${max}`, {
        amount: amount.toString(),
        limit: max.toString(),
      });
    }
    const level = this.rules.kycLimits?.size ? this.kycLevelOf(payer) : undefined;
    const kyc = level === undefined ? undefined : this.rules.kycLimits?.get(level)?.get(token.toLowerCase());
    if (kyc?.single !== undefined && amount > kyc.single) {
      throw refusal("KYC_LIMIT_EXCEEDED", path, `amount ${amount} exceeds the single-payment limit ${kyc.single} of KYC level ${level}`, {
        account: payer,
        kycLevel: level,
        amount: amount.toString(),
        limit: kyc.single.toString(),
      });
    }
    const day = this.dayAt(nowSeconds);
    const paidToday = (this.payerTotals.get(day)?.get(counterKey(token, payer)) ?? 0n) + amount;
    if (kyc?.daily !== undefined && paidToday > kyc.daily) {
      throw refusal("KYC_DAILY_LIMIT_EXCEEDED", path, `payer ${payer} would pay ${paidToday} today, over ${kyc.daily} of KYC level ${level}`, {
        account: payer,
        kycLevel: level,
        total: paidToday.toString(),
        limit: kyc.daily.toString(),
      });
    }
    const payerLimit = this.rules.payerDailyLimit;
    if (payerLimit !== undefined) {
      if (paidToday > payerLimit) {
        throw refusal("PAYER_DAILY_LIMIT", path, `payer ${payer} would pay ${paidToday} today, over ${payerLimit}`, {
          account: payer,
          total: paidToday.toString(),
          limit: payerLimit.toString(),
        });
      }
    }
    const merchantLimit = this.rules.merchantDailyLimit;
    if (merchantLimit !== undefined) {
      const total = (this.merchantTotals.get(day)?.get(counterKey(token, merchant)) ?? 0n) + amount;
      if (total > merchantLimit) {
        throw refusal("MERCHANT_DAILY_LIMIT", path, `merchant ${merchant} would receive ${total} today, over ${merchantLimit}`, {
          account: merchant,
          total: total.toString(),
          limit: merchantLimit.toString(),
        });
      }
    }
    const velocity = this.rules.payerVelocity;
    if (velocity) {
      const recent = this.recentPayments(payer, nowSeconds, velocity.windowSeconds);
      if (recent + 1 > velocity.count) {
        throw refusal(
          "VELOCITY_LIMIT",
          path,
          `payer ${payer} made ${recent} payments in the last ${velocity.windowSeconds} s (limit ${velocity.count})`,
          { account: payer, count: recent, limit: velocity.count, windowSeconds: velocity.windowSeconds },
        );
      }
    }
  }

  /** Counts an accepted payment towards the day totals and the payer's velocity. */
  record(op: Operation, nowSeconds: number): void {
    const subject = riskSubjectOf(op);
    if (!subject) return;
    this.sweep(nowSeconds);
    const day = this.dayAt(nowSeconds);
    add(this.payerTotals, day, counterKey(subject.token, subject.payer), subject.amount);
    add(this.merchantTotals, day, counterKey(subject.token, subject.merchant), subject.amount);
    if (this.rules.payerVelocity) {
      const payer = subject.payer.toLowerCase();
      const times = this.payerTimes.get(payer) ?? [];
      times.push(nowSeconds);
      this.payerTimes.set(payer, times);
    }
  }

  /**
   * Rebuilds the counters from operations this node accepted earlier (stored with their receive time):
   * those since the start of yesterday count towards their day's totals, those inside the velocity
   * window towards it. A stored operation's chain-time day is not stored, so its receive time is
   * shifted by the chain clock's present offset from `nowSeconds` (0 while chain time is unknown).
   * Call before the first `check`; returns the operations counted.
   */
  async restore(forEachReceivedSince: (sinceMs: number, visit: (op: Operation, receivedAtMs: number) => void) => Promise<void>, nowSeconds: number): Promise<number> {
    const offset = (this.chainNowSeconds() ?? nowSeconds) - nowSeconds;
    const today = this.dayAt(nowSeconds);
    const velocityFrom = nowSeconds - (this.rules.payerVelocity?.windowSeconds ?? 0);
    const since = Math.min((today - 1) * DAY_SECONDS - offset, velocityFrom);
    let counted = 0;
    const times: [string, number][] = [];
    await forEachReceivedSince(since * 1000, (op, receivedAtMs) => {
      const subject = riskSubjectOf(op);
      if (!subject) return;
      const receivedAt = Math.floor(receivedAtMs / 1000);
      const day = dayOf(receivedAt + offset);
      const inDays = day >= today - 1 && day <= today;
      if (inDays) {
        add(this.payerTotals, day, counterKey(subject.token, subject.payer), subject.amount);
        add(this.merchantTotals, day, counterKey(subject.token, subject.merchant), subject.amount);
      }
      const inWindow = this.rules.payerVelocity !== undefined && receivedAt > velocityFrom;
      if (inWindow) times.push([subject.payer.toLowerCase(), receivedAt]);
      if (inDays || inWindow) counted += 1;
    });
    // Velocity windows are kept ascending by time; the walk visits statuses one after another.
    times.sort((a, b) => a[1] - b[1]);
    for (const [payer, time] of times) {
      const list = this.payerTimes.get(payer) ?? [];
      list.push(time);
      this.payerTimes.set(payer, list);
    }
    this.lastSweepDay = today;
    return counted;
  }

  /** Today's totals of `account` in `token` (for the API and tests). */
  totals(token: string, account: string, nowSeconds: number): { paid: bigint; received: bigint } {
    const day = this.dayAt(nowSeconds);
    const k = counterKey(token, account);
    return { paid: this.payerTotals.get(day)?.get(k) ?? 0n, received: this.merchantTotals.get(day)?.get(k) ?? 0n };
  }

  /** Number of tracked counters (memory bound check). */
  get size(): number {
    let n = this.payerTimes.size;
    for (const totals of [this.payerTotals, this.merchantTotals]) for (const day of totals.values()) n += day.size;
    return n;
  }

  private dayAt(nowSeconds: number): number {
    return dayOf(this.chainNowSeconds() ?? nowSeconds);
  }

  private recentPayments(payer: string, nowSeconds: number, windowSeconds: number): number {
    const times = this.payerTimes.get(payer.toLowerCase());
    if (!times) return 0;
    const from = nowSeconds - windowSeconds;
    const fresh = times.filter((time) => time > from);
    if (fresh.length === 0) this.payerTimes.delete(payer.toLowerCase());
    else if (fresh.length !== times.length) this.payerTimes.set(payer.toLowerCase(), fresh);
    return fresh.length;
  }

  /** Once per day: drop totals older than yesterday and velocity entries out of the window. */
  private sweep(nowSeconds: number): void {
    const day = this.dayAt(nowSeconds);
    if (day === this.lastSweepDay) return;
    this.lastSweepDay = day;
    for (const totals of [this.payerTotals, this.merchantTotals]) {
      for (const d of totals.keys()) if (d < day - 1) totals.delete(d);
    }
    const window = this.rules.payerVelocity?.windowSeconds ?? 0;
    for (const payer of [...this.payerTimes.keys()]) this.recentPayments(payer, nowSeconds, window);
  }
}

function dayOf(nowSeconds: number): number {
  return Math.floor(nowSeconds / DAY_SECONDS);
}

/** Totals are per currency: amounts of different tokens are not comparable. */
function counterKey(token: string, account: string): string {
  return `${token.toLowerCase()}!${account.toLowerCase()}`;
}

function add(totals: Map<number, Map<string, bigint>>, day: number, k: string, amount: bigint): void {
  let byAccount = totals.get(day);
  if (!byAccount) totals.set(day, (byAccount = new Map()));
  byAccount.set(k, (byAccount.get(k) ?? 0n) + amount);
}
