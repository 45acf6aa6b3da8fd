/**
 * The money tick: at start and then every `tickMs` it advances every open payout and top-up (bank and
 * node polled) and syncs the orders of relayed payer actions; between ticks, a bank settlement
 * callback advances its payout or top-up at once. At start it also gives every merchant its
 * allowance to the escrow (given again before each refund after release and transfer, so a failure
 * here only costs time); merchants allow no person anything: payouts are their own redemptions. A tick already running is joined, not doubled;
 * `stop` waits for it and for every step in flight, so the database can close.
 */
import type { Logger } from "pino";

import type { SettlenetError } from "../../core/errors.js";
import type { Deployment } from "../../core/protocol/deployment.js";
import type { BankAdapter } from "../adapters/bank.js";
import type { MerchantAllowances } from "../domain/allowances.js";
import type { MoneyService } from "../domain/money.js";
import type { PayerActionService } from "../domain/payer-actions.js";
import type { GatewayStorage } from "../storage/db.js";

export interface MoneyTickOptions {
  deployment: Deployment;
  /** How often open records are advanced (0: only at start and on bank settlements). */
  tickMs: number;
}

export interface MoneyTickModules {
  storage: GatewayStorage;
  money: Pick<MoneyService, "advanceOpen" | "onSettlement" | "idle">;
  payerActions: Pick<PayerActionService, "sync">;
  allowances: Pick<MerchantAllowances, "toEscrow">;
  bank?: BankAdapter | undefined;
  logger: Logger;
}

/** Advances open payouts, top-ups and payer actions in the background. */
export class MoneyTick {
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private stopped = false;
  private removeListener: (() => void) | undefined;

  constructor(
    private readonly options: MoneyTickOptions,
    private readonly modules: MoneyTickModules,
  ) {}

  /** Listens to bank settlements, gives missing allowances, runs one tick, then every `tickMs`. */
  async start(): Promise<void> {
    this.stopped = false;
    this.removeListener = this.modules.bank?.onSettled((settlement) => (this.stopped ? Promise.resolve() : this.modules.money.onSettlement(settlement)));
    void this.giveAllowances();
    await this.tick();
    if (this.options.tickMs > 0) {
      this.timer = setInterval(() => void this.tick(), this.options.tickMs);
      this.timer.unref();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.removeListener?.();
    await this.ticking;
    await this.modules.money.idle();
  }

  /** One tick (a tick already running is joined, not doubled). */
  tick(): Promise<void> {
    if (this.ticking) return this.ticking;
    const run = (async () => {
      try {
        await this.modules.money.advanceOpen(() => this.stopped);
        if (this.stopped) return;
        await this.modules.payerActions.sync();
      } catch (error) {
        if (!this.stopped) this.modules.logger.warn({ err: error }, "money tick failed");
      }
    })();
    this.ticking = run.finally(() => (this.ticking = undefined));
    return this.ticking;
  }

  private async giveAllowances(): Promise<void> {
    try {
      for (const merchant of await this.modules.storage.merchants.list()) {
        if (this.stopped) return;
        await this.modules.allowances.toEscrow(merchant);
      }
    } catch (error) {
      this.modules.logger.warn({ code: (error as SettlenetError).code, err: error }, "could not set up merchant allowances (done again before each refund after release and transfer)");
    }
  }
}
