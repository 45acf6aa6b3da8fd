/**
 * Money movement for merchants: balance, payouts, top-ups and transfers.
 *
 * - Payout: the merchant's own key (kept by the gateway) signs a `redeem` of its tokens, drawn on a
 *   custodian of the token, and the node relays it: no allowance to anyone is involved. Only once the
 *   node reports it executed is the bank asked to pay, with the payout id as the bank's idempotency
 *   reference; the bank itself pays only against that redemption, final on-chain, for the merchant's
 *   registered account (bank-sim/redemptions.ts). A confirmation is `payout.paid`. A rejection is
 *   reversed by the custodian service beside the custodian institution's node (node/custodian/), which
 *   reads the rejection from the bank itself and mints the redeemed amount back; the gateway follows
 *   that through its node (GET /v1/custody/transfers/:bankRef), then `payout.failed`.
 * - Top-up: the bank is asked to collect a deposit from the merchant's registered account (the
 *   reference names the top-up and the merchant: core/bank/references.ts). The custodian service mints
 *   once the bank confirms to it; the gateway learns the outcome through its node: `topup.completed`,
 *   or `topup.failed` when the custodian gave up. The gateway holds no custodian key.
 * - Transfer: SettlementToken has no signed transfer, so a transfer is a direct escrow payment that the
 *   gateway signs with the sending merchant's key as payer (its permit gives the escrow the allowance),
 *   relayed through the node like any payment: the recipient must be an active merchant, and the
 *   escrow deducts the recipient's registered fee.
 *
 * Payouts and top-ups are durable state machines (storage/money.ts): each step is stored before its
 * side effect, every side effect is idempotent (operation ids are EIP-712 digests with stored nonces;
 * bank requests carry the record id as reference), and `advanceOpen` resumes every open record (the
 * money tick, jobs/money-tick.ts, runs it at start and periodically), so a restart at any point
 * neither loses a step nor repeats one.
 */
import { encodeBytes32String, getAddress, keccak256, toUtf8Bytes, type Wallet } from "ethers";
import type { Logger } from "pino";

import { SettlenetError } from "../../core/errors.js";
import type { Deployment, TokenDeployment } from "../../core/protocol/deployment.js";
import { paymentIdOf, signEscrowOperation, termsToJson, type EscrowOperationInput, type PaymentTerms } from "../../core/operations/index.js";
import type { BankAdapter, BankSettlement, BankTransfer } from "../adapters/bank.js";
import type { ChainReader } from "../adapters/chain.js";
import type { MerchantAllowances } from "./allowances.js";
import { newEvent } from "./events.js";
import { assertNotFrozen } from "./freeze.js";
import { merchantWallet } from "./merchants.js";
import { nodeRefusal } from "./node-refusal.js";
import type { NodeApiClient } from "../../core/api/client.js";
import { canonicalHash } from "./payments.js";
import type { SecretBox } from "./secrets.js";
import type { GatewayStorage } from "../storage/db.js";
import type { MerchantRecord } from "./records.js";
import type { MoneyChain } from "../adapters/money-chain.js";
import { chainBankRef, signRedemption } from "./token-ops.js";
import { depositReference } from "../../core/bank/references.js";
import type { CustodyTransfer } from "../../core/api/custody.js";
import { randomHex, randomNonce } from "../../core/random-ids.js";
import type { MoneyEvent, PayoutRecord, TokenOpAttempt, TopupRecord, TransferRecord } from "./money-types.js";

/** Node codes that mean "the node already has this exact operation". */
const ALREADY_THERE = new Set(["DUPLICATE", "ALREADY_EXECUTED"]);

/** Bounds on top-ups (config: `topups`). */
export interface TopupLimits {
  /** Largest single top-up (minor units). */
  maxAmount: bigint;
  /** Most a merchant may top up in 24 hours, failed top-ups not counted (minor units). */
  dailyMaxAmount: bigint;
}

export const DEFAULT_TOPUP_LIMITS: TopupLimits = { maxAmount: 100_000_000n, dailyMaxAmount: 500_000_000n };

export interface MoneyServiceOptions {
  deployment: Deployment;
  /** DEFAULT_TOPUP_LIMITS if absent. */
  topups?: TopupLimits;
  /** Validity of the operations the gateway signs, from chain time. */
  operationDeadlineSeconds: number;
}

export interface MoneyServiceModules {
  storage: GatewayStorage;
  secrets: SecretBox;
  node: NodeApiClient;
  chain: ChainReader;
  money: MoneyChain;
  /** Merchants' allowances to the escrow (transfers). */
  allowances: Pick<MerchantAllowances, "toEscrowOn">;
  /** Without a bank, balances work but payouts and top-ups are refused. */
  bank?: BankAdapter | undefined;
  logger: Logger;
  now?: () => number;
}

export interface BalanceLine {
  currency: string;
  token: string;
  /** On-chain token balance: what the merchant can pay out or transfer. */
  available: bigint;
  /** Gross amount of the merchant's payments still held in escrow (held, fulfilled, disputed). */
  heldInEscrow: bigint;
  /** Payouts not yet paid or failed. */
  pendingPayouts: bigint;
  /** Top-ups not yet minted or failed. */
  pendingTopups: bigint;
}

/** Balance, payouts, top-ups and transfers of the gateway's merchants. */
export class MoneyService {
  private readonly now: () => number;
  private readonly chainId: bigint;
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(
    private readonly options: MoneyServiceOptions,
    private readonly modules: MoneyServiceModules,
  ) {
    this.now = modules.now ?? Date.now;
    this.chainId = BigInt(options.deployment.chainId);
  }

  /**
   * Advances every open payout and top-up once; a record whose step fails stays open for the next
   * pass. `stopping` ends the pass early (the gateway is shutting down).
   */
  async advanceOpen(stopping: () => boolean = () => false): Promise<void> {
    for (const kind of ["payout", "topup"] as const) {
      for (const id of await this.modules.storage.money.open(kind)) {
        if (stopping()) return;
        await this.advance(kind, id).catch((error: unknown) => this.logger.warn({ kind, id, code: (error as SettlenetError).code, err: error }, "advance failed; retrying later"));
      }
    }
  }

  /** Resolves once no payout or top-up step is in flight (before the database closes). */
  async idle(): Promise<void> {
    await Promise.allSettled([...this.locks.values()]);
  }

  // ---------------------------------------------------------------- balance

  /** The merchant's money per settlement token. */
  async balance(merchant: MerchantRecord): Promise<BalanceLine[]> {
    const tokens = Object.values(this.options.deployment.tokens);
    const held = new Map<string, bigint>();
    for (const status of ["held", "fulfilled", "disputed"] as const) {
      let cursor: string | undefined;
      do {
        const page = await this.modules.storage.orders.list(merchant.id, { status, limit: 100, ...(cursor ? { cursor } : {}) });
        for (const order of page.items) {
          const left = order.onChain ? BigInt(order.onChain.amount) - BigInt(order.onChain.refunded) : BigInt(order.amount);
          held.set(order.terms.token.toLowerCase(), (held.get(order.terms.token.toLowerCase()) ?? 0n) + left);
        }
        cursor = page.next;
      } while (cursor);
    }
    const pending = async (kind: "payout" | "topup") => {
      const sums = new Map<string, bigint>();
      for (const id of await this.modules.storage.money.open(kind)) {
        const record = await this.modules.storage.money.get(kind, id);
        if (!record || record.merchantId !== merchant.id) continue;
        sums.set(record.token.toLowerCase(), (sums.get(record.token.toLowerCase()) ?? 0n) + BigInt(record.amount));
      }
      return sums;
    };
    const [payouts, topups] = await Promise.all([pending("payout"), pending("topup")]);
    return Promise.all(
      tokens.map(async (token) => {
        const key = token.address.toLowerCase();
        return {
          currency: token.symbol,
          token: token.address,
          available: await this.modules.money.balanceOf(token, merchant.address),
          heldInEscrow: held.get(key) ?? 0n,
          pendingPayouts: payouts.get(key) ?? 0n,
          pendingTopups: topups.get(key) ?? 0n,
        };
      }),
    );
  }

  // ---------------------------------------------------------------- payouts

  /**
   * Starts a payout to the merchant's registered bank account: the merchant redeems its own tokens
   * first (signed with its key), then the bank pays against that redemption.
   */
  async createPayout(merchant: MerchantRecord, input: { amount: string; currency: string; account: string }): Promise<PayoutRecord> {
    this.requireBank();
    const token = this.token(input.currency);
    const amount = BigInt(input.amount);
    await assertNotFrozen(this.modules.money, token.address, [{ role: "merchant", address: merchant.address }]);
    await this.requirePayoutAccount(merchant, input.account);
    await this.requireSpendable(merchant, token, amount);
    const custodian = await this.redeemingCustodian(token, amount);

    const id = `po_${randomHex(12)}`;
    const nowMs = this.now();
    const deadline = (await this.modules.money.now()) + BigInt(this.options.operationDeadlineSeconds);
    const signed = await signRedemption(this.wallet(merchant), { chainId: this.chainId, token }, { custodian, amount, bankRef: chainBankRef(id), deadline });
    const burn: TokenOpAttempt = { operationId: signed.id, op: signed.op, submitted: false, status: "pending", createdAtMs: nowMs };
    const record: PayoutRecord = {
      id,
      merchantId: merchant.id,
      merchant: merchant.address,
      currency: token.symbol,
      token: token.address,
      amount: amount.toString(),
      account: input.account,
      stage: "burning",
      burn,
      reversalAttempts: 0,
      reversed: false,
      createdAtMs: nowMs,
      updatedAtMs: nowMs,
    };
    // Stored before it is submitted: a crash in between resubmits this same redemption, never a second one.
    await this.modules.storage.money.create("payout", record);
    this.logger.info({ merchantId: merchant.id, id, amount: record.amount, operationId: burn.operationId, custodian }, "payout created");
    return this.advanceQuietly("payout", id);
  }

  async getPayout(merchant: MerchantRecord, id: string): Promise<PayoutRecord> {
    const record = await this.modules.storage.money.get("payout", id);
    if (!record || record.merchantId !== merchant.id) throw new SettlenetError("PAYOUT_NOT_FOUND", `no payout ${id}`, { id });
    return record.stage === "paid" || record.stage === "failed" ? record : this.advanceQuietly("payout", id);
  }

  listPayouts(merchant: MerchantRecord, options: { limit: number; cursor?: string }) {
    return this.modules.storage.money.list("payout", merchant.id, options);
  }

  /** The merchant's top-ups as stored (newest first). */
  listTopups(merchant: MerchantRecord, options: { limit: number; cursor?: string }) {
    return this.modules.storage.money.list("topup", merchant.id, options);
  }

  /** The merchant's transfers as stored (newest first). */
  listTransfers(merchant: MerchantRecord, options: { limit: number; cursor?: string }) {
    return this.modules.storage.money.list("transfer", merchant.id, options);
  }

  // ---------------------------------------------------------------- top-ups

  /**
   * Asks the bank to collect a deposit from the merchant's registered bank account (the one payouts go
   * to: nobody else's account can be drawn on), within the per-top-up and daily limits; tokens are
   * minted when the bank confirms.
   */
  async createTopup(merchant: MerchantRecord, input: { amount: string; currency: string; account: string }): Promise<TopupRecord> {
    this.requireBank();
    const token = this.token(input.currency);
    const limits = this.options.topups ?? DEFAULT_TOPUP_LIMITS;
    const amount = BigInt(input.amount);
    if (amount > limits.maxAmount) {
      throw new SettlenetError("TOPUP_LIMIT_EXCEEDED", `a top-up may be at most ${limits.maxAmount} minor units`, { limit: limits.maxAmount.toString(), period: "single" });
    }
    const recent = await this.toppedUpSince(merchant, this.now() - 86_400_000);
    if (recent + amount > limits.dailyMaxAmount) {
      throw new SettlenetError("TOPUP_LIMIT_EXCEEDED", `top-ups may total at most ${limits.dailyMaxAmount} minor units in 24 hours`, { limit: limits.dailyMaxAmount.toString(), period: "day", used: recent.toString() });
    }
    try {
      await this.requirePayoutAccount(merchant, input.account);
    } catch (error) {
      if (error instanceof SettlenetError && error.code === "PAYOUT_ACCOUNT_MISMATCH") {
        throw new SettlenetError("TOPUP_ACCOUNT_MISMATCH", "top-ups are collected only from the merchant's registered bank account", { field: "account" });
      }
      throw error;
    }
    // The bank would collect the deposit and the mint to a frozen account would then fail.
    await assertNotFrozen(this.modules.money, token.address, [{ role: "merchant", address: merchant.address }]);
    const nowMs = this.now();
    const record: TopupRecord = {
      id: `tu_${randomHex(12)}`,
      merchantId: merchant.id,
      merchant: merchant.address,
      currency: token.symbol,
      token: token.address,
      amount: BigInt(input.amount).toString(),
      account: input.account,
      stage: "requesting",
      mintAttempts: 0,
      createdAtMs: nowMs,
      updatedAtMs: nowMs,
    };
    await this.modules.storage.money.create("topup", record);
    this.logger.info({ merchantId: merchant.id, id: record.id, amount: record.amount }, "top-up created");
    return this.advanceQuietly("topup", record.id);
  }

  /** What the merchant's top-ups created since `sinceMs` add up to, failed ones not counted. */
  private async toppedUpSince(merchant: MerchantRecord, sinceMs: number): Promise<bigint> {
    let total = 0n;
    let cursor: string | undefined;
    for (;;) {
      const page = await this.modules.storage.money.list("topup", merchant.id, { limit: 100, ...(cursor ? { cursor } : {}) });
      for (const record of page.items) {
        if (record.createdAtMs < sinceMs) return total;
        if (record.stage !== "failed") total += BigInt(record.amount);
      }
      if (!page.next) return total;
      cursor = page.next;
    }
  }

  async getTopup(merchant: MerchantRecord, id: string): Promise<TopupRecord> {
    const record = await this.modules.storage.money.get("topup", id);
    if (!record || record.merchantId !== merchant.id) throw new SettlenetError("TOPUP_NOT_FOUND", `no top-up ${id}`, { id });
    return record.stage === "completed" || record.stage === "failed" ? record : this.advanceQuietly("topup", id);
  }

  // ---------------------------------------------------------------- transfers

  /**
   * Transfers to another merchant as a direct escrow payment signed by this merchant. The same
   * reference with the same body returns the existing transfer (`created: false`).
   */
  async createTransfer(
    merchant: MerchantRecord,
    input: { to: string; amount: string; currency: string; reference: string; description?: string | undefined },
  ): Promise<{ created: boolean; record: TransferRecord }> {
    const requestHash = canonicalHash(input);
    const existing = await this.findTransfer(merchant, input.reference);
    if (existing) return { created: false, record: this.sameTransfer(existing, requestHash) };

    const token = this.token(input.currency);
    const amount = BigInt(input.amount);
    if (input.to.toLowerCase() === merchant.address.toLowerCase()) {
      throw new SettlenetError("RECIPIENT_NOT_MERCHANT", "a merchant cannot transfer to itself", { to: input.to });
    }
    const recipient = await this.modules.chain.account(input.to);
    if (recipient.kind !== "merchant" || !recipient.active) {
      throw new SettlenetError("RECIPIENT_NOT_MERCHANT", `${input.to} is not an active merchant on-chain`, { to: input.to, kind: recipient.kind });
    }
    await assertNotFrozen(this.modules.money, token.address, [
      { role: "merchant", address: merchant.address },
      { role: "recipient", address: input.to },
    ]);
    await this.requireSpendable(merchant, token, amount);
    const wallet = this.wallet(merchant);
    const escrow = this.options.deployment.contracts.escrow;
    await this.modules.allowances.toEscrowOn(merchant, token);

    const chainNow = await this.modules.money.now();
    const terms: PaymentTerms = {
      payer: merchant.address,
      merchant: getAddress(input.to),
      token: token.address,
      amount,
      orderId: keccak256(toUtf8Bytes(`transfer:${merchant.id}:${input.reference}`)),
      feeBps: recipient.feeBps,
      direct: true,
      payDeadline: chainNow + BigInt(this.options.operationDeadlineSeconds),
      fulfilmentPeriod: 0,
      autoReleasePeriod: 0,
      refundPeriod: 0,
      nonce: randomNonce(),
    };
    const ctx = { chainId: this.chainId, escrow };
    const { signature } = await signEscrowOperation(wallet, { kind: "pay", terms: termsToJson(terms) }, ctx);
    const paymentId = paymentIdOf(terms, ctx);
    const nowMs = this.now();
    const record: TransferRecord = {
      id: `tr_${randomHex(12)}`,
      merchantId: merchant.id,
      reference: input.reference,
      requestHash,
      from: merchant.address,
      to: terms.merchant,
      currency: token.symbol,
      amount: amount.toString(),
      feeBps: recipient.feeBps,
      description: input.description ?? null,
      terms: termsToJson(terms),
      paymentId,
      operation: { operationId: paymentId, submittedAtMs: nowMs, status: "pending" },
      createdAtMs: nowMs,
      updatedAtMs: nowMs,
    };
    const stored = await this.modules.storage.money.createTransfer(record);
    if (!stored.created) return { created: false, record: this.sameTransfer(stored.record, requestHash) };

    // Stored before it is relayed: a crash in between leaves a pending transfer whose pay can be resubmitted, never a second one.
    const op: EscrowOperationInput = { kind: "pay", terms: record.terms, signature };
    const result = await this.modules.node.submit(op);
    if (!result.accepted && !ALREADY_THERE.has(result.problem.code)) {
      await this.modules.storage.money.update("transfer", record.id, (current) => ({
        next: { ...current, operation: { ...current.operation, status: "failed", error: { code: result.problem.code, message: result.problem.title ?? result.problem.code } }, updatedAtMs: this.now() },
      }));
      throw nodeRefusal(result.problem);
    }
    this.logger.info({ merchantId: merchant.id, id: record.id, paymentId, to: record.to, amount: record.amount }, "transfer relayed");
    return { created: true, record };
  }

  /** The transfer with the node's current status of its payment. */
  async getTransfer(merchant: MerchantRecord, id: string): Promise<TransferRecord> {
    const record = await this.modules.storage.money.get("transfer", id);
    if (!record || record.merchantId !== merchant.id) throw new SettlenetError("TRANSFER_NOT_FOUND", `no transfer ${id}`, { id });
    if (record.operation.status !== "pending") return record;
    const op = await this.modules.node.operation(record.paymentId);
    if (!op || (op.status !== "executed" && op.status !== "failed")) return record;
    return this.modules.storage.money.update("transfer", id, (current) => ({
      next: {
        ...current,
        operation: { ...current.operation, status: op.status === "executed" ? "executed" : "failed", ...(op.error ? { error: { code: op.error.code, message: op.error.message } } : {}) },
        updatedAtMs: this.now(),
      },
    }));
  }

  // ---------------------------------------------------------------- state machines

  /** Advances one payout or top-up as far as it can go now (one at a time per record). */
  advance(kind: "payout" | "topup", id: string): Promise<PayoutRecord | TopupRecord> {
    const key = `${kind}:${id}`;
    const previous = this.locks.get(key) ?? Promise.resolve();
    const step = (): Promise<PayoutRecord | TopupRecord> => (kind === "payout" ? this.advancePayout(id) : this.advanceTopup(id));
    const run = previous.then(step, step);
    const tail = run.catch(() => undefined);
    this.locks.set(key, tail);
    void tail.then(() => {
      if (this.locks.get(key) === tail) this.locks.delete(key);
    });
    return run;
  }

  private async advanceQuietly<K extends "payout" | "topup">(kind: K, id: string): Promise<K extends "payout" ? PayoutRecord : TopupRecord> {
    type R = K extends "payout" ? PayoutRecord : TopupRecord;
    try {
      return (await this.advance(kind, id)) as R;
    } catch (error) {
      // The step is retried by the next tick; the caller gets the record as stored.
      this.logger.warn({ kind, id, code: (error as SettlenetError).code }, "could not advance now; will retry");
      const record = await this.modules.storage.money.get(kind, id);
      if (!record) throw error;
      return record as R;
    }
  }

  private async advancePayout(id: string): Promise<PayoutRecord> {
    const money = this.modules.storage.money;
    let record = await money.get("payout", id);
    if (!record) throw new SettlenetError("PAYOUT_NOT_FOUND", `no payout ${id}`, { id });

    if (record.stage === "burning") {
      const burn = await this.driveTokenOp(record.burn);
      if (burn.status === "failed") {
        // Nothing was burned: the payout ends here and the bank was never asked.
        return this.updatePayout(id, (r) => ({ ...r, burn, stage: "failed", failure: burn.error ?? { code: "BURN_FAILED", message: "the burn did not execute" } }), "payout.failed");
      }
      record = await this.updatePayout(id, (r) => ({ ...r, burn, ...(burn.status === "executed" ? { stage: "paying" as const } : {}) }));
      if (burn.status === "executed") this.logger.info({ id, operationId: burn.operationId }, "payout burned");
    }

    if (record.stage === "paying") {
      const bank = this.requireBank();
      let transfer: BankTransfer | undefined;
      try {
        transfer = record.bank
          ? record.bank.status === "pending"
            ? await bank.getTransfer(record.bank.bankRef)
            : undefined
          : await bank.requestPayout({ reference: record.id, account: record.account, amount: BigInt(record.amount), currency: record.currency });
      } catch (error) {
        if (!(error instanceof SettlenetError) || error.code !== "BANK_REJECTED") throw error;
        // The bank refused the instruction itself, so it holds no rejected payout the custodian could
        // verify and reverse: the redeemed amount stays burned, for operators (reconciliation shows it).
        this.logger.error({ id, bankCode: error.meta["bankCode"], alert: "PAYOUT_REFUSED_UNREVERSED" }, "the bank refused a redeemed payout: nothing to reverse against");
        return this.updatePayout(
          id,
          (r) => ({ ...r, stage: "failed", failure: { code: "BANK_REJECTED", message: `the bank refused the payout (${String(error.meta["bankCode"] ?? "refused")}); the redeemed amount is not minted back automatically` } }),
          "payout.failed",
        );
      }
      if (transfer) record = await this.updatePayout(id, (r) => ({ ...r, bank: legOf(transfer) }));
      if (record.bank?.status === "confirmed") {
        this.logger.info({ id, bankRef: record.bank.bankRef }, "payout paid");
        return this.updatePayout(id, (r) => ({ ...r, stage: "paid" }), "payout.paid");
      }
      if (record.bank?.status === "rejected") {
        record = await this.updatePayout(id, (r) => ({ ...r, failure: { code: "BANK_REJECTED", message: `the bank rejected the payout (${r.bank?.reason ?? "declined"})` } }));
        return this.startReversal(record);
      }
      return record;
    }

    if (record.stage === "reversing") return this.driveReversal(record);
    return record;
  }

  private async startReversal(record: PayoutRecord): Promise<PayoutRecord> {
    this.logger.warn({ id: record.id, bankRef: record.bank?.bankRef, reason: record.bank?.reason }, "payout rejected by the bank; the custodian mints it back");
    const updated = await this.updatePayout(record.id, (r) => ({ ...r, stage: "reversing" }));
    return this.driveReversal(updated);
  }

  /** Follows the custodian's reversal of a rejected payout (it reads the rejection from the bank itself). */
  private async driveReversal(record: PayoutRecord): Promise<PayoutRecord> {
    const id = record.id;
    const bankRef = record.bank?.bankRef;
    if (!bankRef) return record;
    const custody = await this.modules.node.custodyTransfer(bankRef);
    if (!custody) return record; // the custodian has not read the rejection from the bank yet
    const reversal = custodyAttempt(custody, record.reversal, this.now());
    if (custody.status === "minted") {
      this.logger.info({ id, operationId: custody.operationId }, "payout reversed");
      return this.updatePayout(id, (r) => ({ ...r, reversal, reversalAttempts: custody.attempts, reversed: true, stage: "failed" }), "payout.failed");
    }
    if (custody.status === "failed" || custody.status === "refused") {
      this.logger.error({ id, bankRef, failure: custody.failure }, "the custodian could not reverse the payout: the redeemed amount is not minted back");
      const failure = { code: "REVERSAL_FAILED", message: `the custodian could not mint the payout back (${custody.failure?.code ?? custody.status})` };
      return this.updatePayout(id, (r) => ({ ...r, ...(reversal ? { reversal } : {}), reversalAttempts: custody.attempts, stage: "failed", failure }), "payout.failed");
    }
    return this.updatePayout(id, (r) => ({ ...r, ...(reversal ? { reversal } : {}), reversalAttempts: custody.attempts }));
  }

  private async advanceTopup(id: string): Promise<TopupRecord> {
    const money = this.modules.storage.money;
    let record = await money.get("topup", id);
    if (!record) throw new SettlenetError("TOPUP_NOT_FOUND", `no top-up ${id}`, { id });
    const update = (change: (r: TopupRecord) => TopupRecord) => money.update("topup", id, (r) => ({ next: { ...change(r), updatedAtMs: this.now() } }));

    if (record.stage === "requesting" || record.stage === "awaiting_bank") {
      const bank = this.requireBank();
      let transfer: BankTransfer | undefined;
      try {
        transfer = !record.bank
          ? await bank.requestDeposit({ reference: depositReference(record.id, record.merchant), account: record.account, amount: BigInt(record.amount), currency: record.currency })
          : record.bank.status === "pending"
            ? await bank.getTransfer(record.bank.bankRef)
            : undefined;
      } catch (error) {
        if (!(error instanceof SettlenetError) || error.code !== "BANK_REJECTED") throw error;
        return update((r) => ({ ...r, stage: "failed", failure: { code: "BANK_REJECTED", message: `the bank refused the deposit (${String(error.meta["bankCode"] ?? "refused")})` } }));
      }
      if (transfer) record = await update((r) => ({ ...r, bank: legOf(transfer), stage: r.stage === "requesting" ? "awaiting_bank" : r.stage }));
      if (record.bank?.status === "rejected") {
        return update((r) => ({ ...r, stage: "failed", failure: { code: "BANK_REJECTED", message: `the bank rejected the deposit (${r.bank?.reason ?? "declined"})` } }));
      }
      if (record.bank?.status !== "confirmed") return record;
      record = await update((r) => ({ ...r, stage: "minting" }));
      this.logger.info({ id, bankRef: record.bank?.bankRef }, "deposit confirmed by the bank; the custodian mints");
    }

    if (record.stage === "minting") {
      const bankRef = record.bank?.bankRef;
      if (!bankRef) return record;
      const custody = await this.modules.node.custodyTransfer(bankRef);
      if (!custody) return record; // the custodian has not read the confirmation from the bank yet
      const mint = custodyAttempt(custody, record.mint, this.now());
      const topupEvent = (type: "topup.completed" | "topup.failed", change: (r: TopupRecord) => TopupRecord) =>
        money.update("topup", id, (r) => {
          const next: TopupRecord = { ...change(r), ...(mint ? { mint } : {}), mintAttempts: custody.attempts, updatedAtMs: this.now() };
          return { next, events: [newEvent({ type, merchantId: next.merchantId, data: topupEventData(next) }, next.updatedAtMs)] };
        });
      if (custody.status === "minted") {
        this.logger.info({ id, bankRef, operationId: custody.operationId }, "top-up minted");
        return topupEvent("topup.completed", (r) => ({ ...r, stage: "completed" }));
      }
      if (custody.status === "failed" || custody.status === "refused") {
        // The bank holds the deposit but no tokens exist for it: the custodian raised an alert for operators.
        this.logger.error({ id, merchantId: record.merchantId, bankRef, failure: custody.failure, attempts: custody.attempts }, "the custodian did not mint the top-up: top-up failed, deposit held at the bank");
        const failure = custody.status === "refused" ? { code: "MINT_REFUSED", message: custody.failure?.message ?? "the custodian refused to mint" } : { code: "MINT_FAILED", message: custody.failure?.message ?? "the mint failed" };
        return topupEvent("topup.failed", (r) => ({ ...r, stage: "failed", failure }));
      }
      return update((r) => ({ ...r, ...(mint ? { mint } : {}), mintAttempts: custody.attempts }));
    }
    return record;
  }

  /** Submits a token operation if the node does not have it yet, then reads its status. */
  private async driveTokenOp(attempt: TokenOpAttempt): Promise<TokenOpAttempt> {
    if (attempt.status !== "pending") return attempt;
    let current = attempt;
    if (!current.submitted) {
      if (!current.op) throw new SettlenetError("INTERNAL", "an operation to submit without its signed form", { operationId: current.operationId });
      const result = await this.modules.node.submit(current.op);
      if (!result.accepted && !ALREADY_THERE.has(result.problem.code)) {
        return { ...current, status: "failed", error: { code: result.problem.code, message: result.problem.title ?? result.problem.code } };
      }
      current = { ...current, submitted: true };
    }
    const op = await this.modules.node.operation(current.operationId);
    if (!op) return { ...current, submitted: false }; // the node lost it (or never stored it): submit again next time
    if (op.status === "executed") return { ...current, status: "executed" };
    if (op.status === "failed") return { ...current, status: "failed", error: op.error ? { code: op.error.code, message: op.error.message } : { code: "OPERATION_FAILED", message: "the operation failed on-chain" } };
    return current;
  }

  private updatePayout(id: string, change: (r: PayoutRecord) => PayoutRecord, event?: MoneyEvent["type"]): Promise<PayoutRecord> {
    return this.modules.storage.money.update("payout", id, (current) => {
      const next = { ...change(current), updatedAtMs: this.now() };
      if (!event) return { next };
      // The one call site of payout events: they join the state change's batch (storage/money.ts).
      this.logger.info({ id, merchantId: next.merchantId, event }, "payout event");
      return { next, events: [newEvent({ type: event, merchantId: next.merchantId, data: payoutEventData(next) }, next.updatedAtMs)] };
    });
  }

  /** Applies the bank's settlement of a payout's or top-up's transfer and advances that record. */
  async onSettlement(settlement: BankSettlement): Promise<void> {
    const owner = await this.modules.storage.money.byBankRef(settlement.transfer.bankRef);
    if (!owner) return; // a transfer of someone else, or one whose reference the gateway has not stored yet (the tick finds it)
    const leg = legOf(settlement.transfer);
    if (owner.kind === "payout") {
      await this.modules.storage.money.update("payout", owner.id, (r) => (r.bank && r.bank.status === "pending" ? { next: { ...r, bank: leg, updatedAtMs: this.now() } } : undefined));
    } else {
      await this.modules.storage.money.update("topup", owner.id, (r) => (r.bank && r.bank.status === "pending" ? { next: { ...r, bank: leg, updatedAtMs: this.now() } } : undefined));
    }
    await this.advance(owner.kind, owner.id);
  }

  // ---------------------------------------------------------------- checks

  private requireBank(): BankAdapter {
    const { bank } = this.modules;
    if (!bank) throw new SettlenetError("MONEY_NOT_CONFIGURED", "this gateway has no bank configured", { bank: false });
    return bank;
  }

  /**
   * The custodian a redemption of `amount` draws on: an active custodian of the token whose outstanding
   * supply covers it (the largest), as the node indexed them.
   */
  private async redeemingCustodian(token: TokenDeployment, amount: bigint): Promise<string> {
    const view = await this.modules.node.token(token.address);
    const candidates = view.custodians.filter((c) => c.custodian && BigInt(c.outstanding) >= amount).sort((a, b) => (BigInt(b.outstanding) > BigInt(a.outstanding) ? 1 : -1));
    const chosen = candidates[0];
    if (!chosen) throw new SettlenetError("NO_REDEEMING_CUSTODIAN", `no custodian of ${token.symbol} has ${amount} outstanding to redeem against`, { token: token.address, amount: amount.toString() });
    return chosen.institution;
  }

  private async requirePayoutAccount(merchant: MerchantRecord, account: string): Promise<void> {
    const registered = (await this.modules.money.payoutAccountOf(merchant.address)).toLowerCase();
    const candidates = [keccak256(toUtf8Bytes(account))];
    if (Buffer.byteLength(account, "utf8") <= 31) candidates.push(encodeBytes32String(account));
    if (!candidates.some((c) => c.toLowerCase() === registered)) {
      throw new SettlenetError("PAYOUT_ACCOUNT_MISMATCH", "payouts go only to the bank account registered for the merchant on-chain", { account });
    }
  }

  /** The on-chain balance less payouts whose burn has not executed yet must cover `amount`. */
  private async requireSpendable(merchant: MerchantRecord, token: TokenDeployment, amount: bigint): Promise<void> {
    const balance = await this.modules.money.balanceOf(token, merchant.address);
    let reserved = 0n;
    for (const id of await this.modules.storage.money.open("payout")) {
      const payout = await this.modules.storage.money.get("payout", id);
      if (payout && payout.merchantId === merchant.id && payout.token === token.address && payout.stage === "burning") reserved += BigInt(payout.amount);
    }
    const spendable = balance - reserved;
    if (amount > spendable) {
      throw new SettlenetError("INSUFFICIENT_BALANCE", `${amount} exceeds the ${spendable} available`, { requested: amount.toString(), available: spendable.toString() });
    }
  }

  private token(currency: string): TokenDeployment {
    const tokens = this.options.deployment.tokens;
    const token = tokens[currency] ?? Object.values(tokens).find((t) => t.symbol === currency);
    if (!token) throw new SettlenetError("UNSUPPORTED_CURRENCY", `${currency} is not a settlement token here`, { currency, supported: Object.keys(tokens) });
    return token;
  }

  private wallet(merchant: MerchantRecord): Wallet {
    return merchantWallet(merchant, this.modules.secrets);
  }

  private findTransfer(merchant: MerchantRecord, reference: string): Promise<TransferRecord | undefined> {
    return this.modules.storage.money.transferByReference(merchant.id, reference);
  }

  private sameTransfer(existing: TransferRecord, requestHash: string): TransferRecord {
    if (existing.requestHash !== requestHash) {
      throw new SettlenetError("TRANSFER_REFERENCE_CONFLICT", `reference ${existing.reference} is used by transfer ${existing.id} with different details`, { reference: existing.reference, id: existing.id });
    }
    return existing;
  }

  private get logger(): Logger {
    return this.modules.logger;
  }
}

/** The custodian's latest mint attempt as a top-up or payout shows it (undefined before its first). */
function custodyAttempt(custody: CustodyTransfer, previous: TokenOpAttempt | undefined, nowMs: number): TokenOpAttempt | undefined {
  if (!custody.operationId) return previous;
  const status = custody.status === "minted" ? "executed" : custody.status === "minting" ? (custody.failure ? "failed" : "pending") : "failed";
  return {
    operationId: custody.operationId,
    submitted: true,
    status,
    ...(status === "failed" && custody.failure ? { error: custody.failure } : {}),
    createdAtMs: previous?.operationId === custody.operationId ? previous.createdAtMs : nowMs,
  };
}

function legOf(transfer: BankTransfer) {
  return { bankRef: transfer.bankRef, status: transfer.status, ...(transfer.reason ? { reason: transfer.reason } : {}) };
}

/** The `data` of a top-up's webhook event. */
export function topupEventData(record: TopupRecord): Record<string, unknown> {
  return {
    id: record.id,
    object: "topup",
    status: record.stage === "completed" ? "completed" : record.stage === "failed" ? "failed" : "pending",
    amount: record.amount,
    currency: record.currency,
    ...(record.bank ? { bankRef: record.bank.bankRef } : {}),
    ...(record.failure ? { failure: record.failure } : {}),
  };
}

/** What payout.paid / payout.failed carry. */
export function payoutEventData(record: PayoutRecord): Record<string, unknown> {
  return {
    id: record.id,
    object: "payout",
    status: record.stage === "paid" ? "paid" : record.stage === "failed" ? "failed" : "pending",
    amount: record.amount,
    currency: record.currency,
    reversed: record.reversed,
    ...(record.bank ? { bankRef: record.bank.bankRef } : {}),
    ...(record.failure ? { failure: record.failure } : {}),
  };
}
