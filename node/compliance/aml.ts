/**
 * AML monitoring (反洗钱) of indexed, on-chain payments. Every node evaluates the same payments in the
 * same order — (block, log index) of their PaymentPaid event — each against the payer's earlier
 * payments as the index holds them, with chain time only; so every node raises the same alerts with
 * the same ids, whenever it runs (a restored node re-evaluating a backlog included).
 *
 * Rules (all optional, thresholds per token, "at or above" semantics):
 * - LARGE_VALUE: amount >= largeValue.threshold.
 * - PAYER_DAILY_TOTAL: the payer's total of the UTC day (of the block time) reaches payerDaily.threshold
 *   with this payment (raised once per payer, token and day).
 * - STRUCTURING: this payment is just under the threshold (in [threshold - band, threshold - 1]) and
 *   it is the count-th such payment of the payer within the window (the window is (t - window, t]).
 * - VELOCITY: this payment is the payer's count-th within velocity.windowSeconds (any token).
 * - BLACKLISTED_COUNTERPARTY: the payer or the merchant is on the blacklist (one alert per party).
 *
 * The monitor's progress (last evaluated block) is stored in the same synced batch as the alerts.
 */
import type { Registry } from "prom-client";

import type { Logger } from "../services.js";
import type { IndexedStep, NodeStorage } from "../storage/db.js";
import type { PaymentRecord } from "../../core/records.js";
import { Serial } from "../../core/serial.js";
import { ALERT_CATEGORY, alertId, type Alert, type AlertRecord, type AlertRule } from "./alert.js";
import type { AmlConfig } from "./config.js";
import { ComplianceMetrics } from "./metrics.js";

const DAY_SECONDS = 86_400;
const CURSOR_META = "aml.cursor";
/** Payments evaluated per step at most (a step never splits one block's payments, see step()). */
const MAX_PER_STEP = 2_000;
const SCAN_CHUNK = 500;
/** Most payment ids one alert lists. */
const MAX_PAYMENT_IDS = 1_000;

/** Where the monitor stands: every payment of blocks <= block is evaluated; later blocks are paid at >= paidAt. */
interface AmlCursor {
  block: number;
  paidAt: number;
}

/** (block, log index of PaymentPaid, id): the order in which the chain made the payments. */
export function paymentOrder(record: PaymentRecord): [number, number, string] {
  const paid = record.events.find((event) => event.event === "PaymentPaid");
  return [record.paidBlock, paid?.logIndex ?? 0, record.paymentId.toLowerCase()];
}

/** Negative if `a` was paid before `b`. */
export function comparePayments(a: PaymentRecord, b: PaymentRecord): number {
  const [ab, al, ai] = paymentOrder(a);
  const [bb, bl, bi] = paymentOrder(b);
  return ab - bb || al - bl || (ai < bi ? -1 : ai > bi ? 1 : 0);
}

/** How far back (seconds before the payment) the rules look, given the payment's time. */
export function lookbackStart(rules: AmlConfig, paidAt: number): number {
  let from = paidAt;
  if (rules.payerDaily) from = Math.min(from, paidAt - (paidAt % DAY_SECONDS));
  if (rules.structuring) from = Math.min(from, paidAt - rules.structuring.windowSeconds + 1);
  if (rules.velocity) from = Math.min(from, paidAt - rules.velocity.windowSeconds + 1);
  return Math.max(0, from);
}

function alert(rule: AlertRule, fields: Omit<Alert, "rule" | "category" | "token" | "at" | "blockNumber" | "id"> & { idParts: (string | number)[] }, payment: PaymentRecord): Alert {
  const { idParts, ...rest } = fields;
  return {
    id: alertId(rule, ...idParts),
    rule,
    category: ALERT_CATEGORY[rule],
    token: payment.token,
    at: payment.paidAt,
    blockNumber: payment.paidBlock,
    ...rest,
  };
}

/**
 * The alerts one payment raises. `earlier` are the payer's payments made before it (any order, any
 * token; those outside the rules' look-back are ignored). Pure and deterministic.
 */
export function evaluatePayment(payment: PaymentRecord, earlier: PaymentRecord[], rules: AmlConfig): Alert[] {
  const alerts: Alert[] = [];
  const t = payment.paidAt;
  const amount = BigInt(payment.amount);
  const token = payment.token.toLowerCase();
  const prior = earlier.filter((p) => comparePayments(p, payment) < 0).sort(comparePayments);
  const sameToken = prior.filter((p) => p.token.toLowerCase() === token);
  const ids = (list: PaymentRecord[]) => [...list, payment].slice(-MAX_PAYMENT_IDS).map((p) => p.paymentId.toLowerCase());

  if (rules.largeValue && amount >= rules.largeValue.threshold) {
    alerts.push(
      alert("LARGE_VALUE", {
        idParts: [payment.paymentId],
        account: payment.payer,
        paymentIds: [payment.paymentId.toLowerCase()],
        amount: amount.toString(),
        threshold: rules.largeValue.threshold.toString(),
        facts: { merchant: payment.merchant },
      }, payment),
    );
  }

  if (rules.payerDaily) {
    const dayStart = t - (t % DAY_SECONDS);
    const today = sameToken.filter((p) => p.paidAt >= dayStart);
    const before = today.reduce((sum, p) => sum + BigInt(p.amount), 0n);
    const threshold = rules.payerDaily.threshold;
    if (before < threshold && before + amount >= threshold) {
      const day = new Date(dayStart * 1000).toISOString().slice(0, 10);
      alerts.push(
        alert("PAYER_DAILY_TOTAL", {
          idParts: [payment.payer, payment.token, day],
          account: payment.payer,
          paymentIds: ids(today),
          amount: (before + amount).toString(),
          threshold: threshold.toString(),
          facts: { day, count: String(today.length + 1) },
        }, payment),
      );
    }
  }

  const structuring = rules.structuring;
  const structuringThreshold = structuring?.threshold ?? rules.largeValue?.threshold;
  if (structuring && structuringThreshold !== undefined) {
    const low = structuringThreshold - structuring.band;
    const justUnder = (value: bigint) => value >= low && value < structuringThreshold;
    if (justUnder(amount)) {
      const inWindow = sameToken.filter((p) => p.paidAt > t - structuring.windowSeconds && justUnder(BigInt(p.amount)));
      if (inWindow.length + 1 === structuring.count) {
        alerts.push(
          alert("STRUCTURING", {
            idParts: [payment.paymentId],
            account: payment.payer,
            paymentIds: ids(inWindow),
            amount: [...inWindow, payment].reduce((sum, p) => sum + BigInt(p.amount), 0n).toString(),
            threshold: structuringThreshold.toString(),
            facts: { count: String(inWindow.length + 1), band: structuring.band.toString(), lowerBound: (low > 0n ? low : 0n).toString(), windowSeconds: String(structuring.windowSeconds) },
          }, payment),
        );
      }
    }
  }

  if (rules.velocity) {
    const { count, windowSeconds } = rules.velocity;
    const inWindow = prior.filter((p) => p.paidAt > t - windowSeconds);
    if (inWindow.length + 1 === count) {
      alerts.push(
        alert("VELOCITY", {
          idParts: [payment.paymentId],
          account: payment.payer,
          paymentIds: ids(inWindow),
          facts: { count: String(count), windowSeconds: String(windowSeconds) },
        }, payment),
      );
    }
  }

  const blacklist = new Set(rules.blacklist.map((a) => a.toLowerCase()));
  for (const [role, account] of [["payer", payment.payer], ["merchant", payment.merchant]] as const) {
    if (!blacklist.has(account.toLowerCase())) continue;
    alerts.push(
      alert("BLACKLISTED_COUNTERPARTY", {
        idParts: [payment.paymentId, account],
        account,
        paymentIds: [payment.paymentId.toLowerCase()],
        amount: amount.toString(),
        facts: { role, counterparty: role === "payer" ? payment.merchant : payment.payer },
      }, payment),
    );
  }
  return alerts;
}

export interface AmlMonitorOptions {
  rules: AmlConfig;
  /** This node's operator id (recorded as the reporter of its own alerts). */
  reporter?: string;
}

export interface AmlMonitorModules {
  storage: NodeStorage;
  logger: Logger;
  metrics: Registry | ComplianceMetrics;
  /** Alerts newly stored by a step (e.g. to gossip them). */
  onAlerts?: (alerts: AlertRecord[]) => void;
}

/**
 * Payments first indexed in blocks (after, through], as the indexer's steps stored them: one unbroken run
 * of steps, so that a step covering exactly the monitor's next blocks need not read them back.
 */
interface FedPayments {
  after: number;
  through: number;
  payments: PaymentRecord[];
}

/** The payments one evaluation step takes, where the cursor goes after them and whether more are left. */
interface Candidates {
  candidates: PaymentRecord[];
  /** More are left beyond `through` now (the next step goes on at once). */
  truncated: boolean;
  /** The block the cursor moves to: every payment of blocks up to it is among the candidates or before them. */
  through: number;
  lastPaidAt: number;
}

/** Evaluates newly indexed payments with the AML rules; see the module comment. */
export class AmlMonitor {
  private readonly metrics: ComplianceMetrics;
  private readonly serial = new Serial();
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private fed: FedPayments | undefined;

  constructor(
    private readonly options: AmlMonitorOptions,
    private readonly modules: AmlMonitorModules,
  ) {
    this.metrics = modules.metrics instanceof ComplianceMetrics ? modules.metrics : new ComplianceMetrics(modules.metrics);
  }

  /**
   * Takes the payments of a stored indexer step (NodeStorage.onIndexed). While the steps follow one
   * another, the monitor evaluates their new payments from here; after a gap (a step it did not see, a
   * run longer than one evaluation takes) it reads the index as it does at start.
   */
  indexed(step: IndexedStep): void {
    const after = step.after ?? -1;
    const fresh = step.payments.filter((payment) => payment.paidBlock > after && payment.paidBlock <= step.cursor);
    const run = this.fed;
    if (run && run.through === after && run.payments.length + fresh.length <= MAX_PER_STEP) {
      run.through = step.cursor;
      run.payments.push(...fresh);
    } else {
      this.fed = fresh.length <= MAX_PER_STEP ? { after, through: step.cursor, payments: fresh } : undefined;
    }
  }

  /** Evaluates every payment indexed since the last call; returns the new alerts. Calls run one at a time. */
  evaluateOnce(): Promise<AlertRecord[]> {
    return this.serial.run(() => this.drain());
  }

  /** Last block whose payments are evaluated (undefined before the first step). */
  async evaluatedBlock(): Promise<number | undefined> {
    return (await this.modules.storage.getMeta<AmlCursor>(CURSOR_META))?.block;
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    const tick = () => {
      this.evaluateOnce()
        .catch((error: unknown) => this.modules.logger.warn({ err: error }, "AML evaluation failed; retrying"))
        .finally(() => {
          if (this.running) this.timer = setTimeout(tick, this.options.rules.pollIntervalMs);
        });
    };
    tick();
  }

  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    await this.serial.idle();
  }

  private async drain(): Promise<AlertRecord[]> {
    const created: AlertRecord[] = [];
    for (;;) {
      const step = await this.step();
      created.push(...step.created);
      if (!step.truncated) return created;
    }
  }

  private async step(): Promise<{ created: AlertRecord[]; truncated: boolean }> {
    const { storage, logger } = this.modules;
    const indexed = await storage.getCursor();
    if (indexed === undefined) return { created: [], truncated: false };
    const cursor = (await storage.getMeta<AmlCursor>(CURSOR_META)) ?? { block: -1, paidAt: 0 };
    if (indexed <= cursor.block) return { created: [], truncated: false };

    const { candidates, truncated, through, lastPaidAt } = this.fromSteps(cursor, indexed) ?? (await this.readBack(cursor, indexed));
    candidates.sort(comparePayments);

    const histories = await this.histories(candidates);
    const alerts: Alert[] = [];
    for (const payment of candidates) {
      alerts.push(...evaluatePayment(payment, histories.get(payment.payer.toLowerCase()) ?? [], this.options.rules));
    }
    const next: AmlCursor = { block: through, paidAt: lastPaidAt };
    const created = await storage.alerts.record(alerts, {
      origin: "local",
      ...(this.options.reporter ? { reporter: this.options.reporter } : {}),
      nowMs: Date.now(),
      meta: { [CURSOR_META]: next },
    });
    this.metrics.paymentsEvaluated.inc(candidates.length);
    for (const record of created) this.metrics.alertsRaised.inc({ rule: record.rule, origin: "local" });
    if (created.length > 0) {
      logger.info({ alerts: created.map((a) => ({ id: a.id, rule: a.rule, account: a.account })), toBlock: next.block }, "AML alerts raised");
      try {
        this.modules.onAlerts?.(created);
      } catch (error) {
        logger.error({ err: error }, "onAlerts listener failed");
      }
    }
    return { created, truncated };
  }

  /**
   * The payments first indexed in blocks (cursor.block, through] as the indexer's steps handed them over,
   * if those steps start at or before the cursor; undefined otherwise (then they are read back). `through`
   * may stay short of `indexed` by a step whose hand-over has not come yet: the next evaluation takes it.
   */
  private fromSteps(cursor: AmlCursor, indexed: number): Candidates | undefined {
    const fed = this.fed;
    if (fed && fed.through <= indexed) this.fed = undefined;
    if (!fed || fed.after > cursor.block || fed.through <= cursor.block || fed.through > indexed) return undefined;
    const candidates = fed.payments.filter((record) => record.paidBlock > cursor.block);
    const lastPaidAt = candidates.reduce((max, record) => Math.max(max, record.paidAt), cursor.paidAt);
    return { candidates, truncated: false, through: fed.through, lastPaidAt };
  }

  /**
   * The payments first indexed in blocks (cursor.block, indexed], read from the index in time order from
   * the cursor; once enough are collected, the current second is finished so that every block up to the
   * last collected one is complete (block times never decrease), and the rest is left to the next step.
   */
  private async readBack(cursor: AmlCursor, indexed: number): Promise<Candidates> {
    const candidates: PaymentRecord[] = [];
    let after: PaymentRecord | undefined;
    let truncated = false;
    let lastPaidAt = cursor.paidAt;
    scan: for (;;) {
      const chunk = await this.modules.storage.alerts.paymentsPaidSince(cursor.paidAt, SCAN_CHUNK, after ? { paidAt: after.paidAt, paymentId: after.paymentId } : undefined);
      for (const record of chunk) {
        if (candidates.length >= MAX_PER_STEP && record.paidAt > lastPaidAt) {
          truncated = true;
          break scan;
        }
        if (record.paidBlock > cursor.block && record.paidBlock <= indexed) {
          candidates.push(record);
          lastPaidAt = Math.max(lastPaidAt, record.paidAt);
        }
      }
      if (chunk.length < SCAN_CHUNK) break;
      after = chunk.at(-1);
    }
    this.metrics.paymentsReadBack.inc(candidates.length);
    return { candidates, truncated, through: truncated ? Math.max(...candidates.map((p) => p.paidBlock)) : indexed, lastPaidAt };
  }

  /**
   * Each candidate payer's indexed payments within the rules' look-back of its candidates (including
   * later ones; the rules filter), read once per payer and step rather than once per payment, and not
   * at all when no rule looks back (large value and blacklist judge a payment alone).
   */
  private async histories(candidates: PaymentRecord[]): Promise<Map<string, PaymentRecord[]>> {
    const { rules } = this.options;
    const histories = new Map<string, PaymentRecord[]>();
    if (!rules.payerDaily && !rules.structuring && !rules.velocity) return histories;
    const spans = new Map<string, { payer: string; from: number; to: number }>();
    for (const payment of candidates) {
      const key = payment.payer.toLowerCase();
      const from = lookbackStart(rules, payment.paidAt);
      const span = spans.get(key);
      if (!span) spans.set(key, { payer: payment.payer, from, to: payment.paidAt });
      else spans.set(key, { payer: span.payer, from: Math.min(span.from, from), to: Math.max(span.to, payment.paidAt) });
    }
    for (const [key, { payer, from, to }] of spans) {
      const records: PaymentRecord[] = [];
      let cursor: string | undefined;
      do {
        const page = await this.modules.storage.payments.listByPayer(payer, { limit: 500, from, to, ...(cursor ? { cursor } : {}) });
        records.push(...page.items);
        cursor = page.next;
      } while (cursor);
      histories.set(key, records);
    }
    return histories;
  }
}
