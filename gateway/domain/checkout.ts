/**
 * The hosted checkout's payer-facing side: what the payer sees of a payment (merchant name, amount,
 * order reference, escrow terms, the payer's own token account) and the payer's signed actions on it
 * (authorization, an ERC-2612 permit for the escrow, confirm, dispute, reclaim). No merchant credential
 * is involved: the payment id is unguessable (128 random bits) and every action must carry the order's
 * payer's signature, checked here before anything is stored, sent or spends the relayer's gas. The
 * actions themselves are the merchant API's (PaymentService, PayerActionService).
 */
import { MaxUint256, TypedDataEncoder, getAddress, recoverAddress } from "ethers";

import { SettlenetError } from "../../core/errors.js";
import type { Deployment, TokenDeployment } from "../../core/protocol/deployment.js";
import { PERMIT_TYPES, UNLIMITED_ALLOWANCE, tokenDomain } from "../../core/protocol/eip712.js";
import type { MoneyChain } from "../adapters/money-chain.js";
import type { GatewayStorage } from "../storage/db.js";
import type { PayerAction, PayerActionPayload, PayerActionService } from "./payer-actions.js";
import type { PaymentService, TypedDataPayload } from "./payments.js";
import type { MerchantRecord, OrderRecord } from "./records.js";

/** How long a permit signed at checkout stays valid (chain time). */
const PERMIT_VALIDITY_SECONDS = 3_600n;
const PAYER_ACTIONABLE = new Set(["held", "fulfilled"]);

export interface CheckoutPayment {
  order: OrderRecord;
  merchant: MerchantRecord;
  token: TokenDeployment;
  expired: boolean;
  typedData: TypedDataPayload | null;
  payerAccount: { balanceSufficient: boolean; allowanceSufficient: boolean; frozen: boolean } | null;
  actions: Record<PayerAction, boolean>;
}

export interface CheckoutModules {
  storage: GatewayStorage;
  payments: PaymentService;
  payerActions: PayerActionService | undefined;
  money: MoneyChain | undefined;
  now: () => number;
}

/** The payer's view of a payment and the payer's signed actions on it. */
export class CheckoutService {
  constructor(
    private readonly options: { deployment: Deployment },
    private readonly modules: CheckoutModules,
  ) {}

  /** The payment as its payer sees it (PAYMENT_NOT_FOUND for an unknown id). */
  async view(id: string): Promise<CheckoutPayment> {
    const { order, merchant } = await this.load(id);
    const token = this.token(order);
    const money = this.modules.money;
    const awaiting = order.status === "awaiting_authorization";
    const expired = order.status === "expired" || (awaiting && this.modules.now() > order.expiresAtMs);
    let payerAccount: CheckoutPayment["payerAccount"] = null;
    if (awaiting && money) {
      const [balance, allowance, frozen] = await Promise.all([
        money.balanceOf(token, order.terms.payer),
        money.allowance(token, order.terms.payer, this.options.deployment.contracts.escrow),
        money.isFrozen(token.address, order.terms.payer),
      ]);
      payerAccount = { balanceSufficient: balance >= BigInt(order.amount), allowanceSufficient: allowance >= BigInt(order.amount), frozen };
    }
    const held = order.status === "held" && !order.fulfilment;
    const reclaim = held && money !== undefined && order.onChain !== undefined && (await money.now()) > BigInt(order.onChain.deadline);
    const actionable = PAYER_ACTIONABLE.has(order.status) && this.modules.payerActions !== undefined;
    return {
      order,
      merchant,
      token,
      expired,
      typedData: awaiting && !expired ? this.modules.payments.typedData(order) : null,
      payerAccount,
      actions: { confirm: actionable, dispute: actionable, reclaim },
    };
  }

  /**
   * Relays the payer's signature of the terms. Refused before the node sees it: a signature by anyone
   * but the payer (BAD_SIGNATURE), an expired order, a frozen payer, a balance or allowance too small
   * for the amount (the pay would fail on-chain after being accepted).
   */
  async authorize(id: string, signature: string): Promise<OrderRecord> {
    const { order, merchant } = await this.load(id);
    this.requirePayer(order, order.paymentId, signature);
    if (order.status === "awaiting_authorization" && this.modules.now() > order.expiresAtMs) {
      throw new SettlenetError("ORDER_EXPIRED", `payment ${id} expired at ${new Date(order.expiresAtMs).toISOString()}`, { id });
    }
    const money = this.modules.money;
    if (order.status === "awaiting_authorization" && !order.authorization && money) {
      const token = this.token(order);
      const payer = order.terms.payer;
      if (await money.isFrozen(token.address, payer)) {
        throw new SettlenetError("ACCOUNT_FROZEN", `the payer ${payer} is frozen on ${token.symbol}`, { role: "payer", account: payer });
      }
      const amount = BigInt(order.amount);
      const balance = await money.balanceOf(token, payer);
      if (balance < amount) {
        // The balance itself is not told: whoever holds the link would learn it.
        throw new SettlenetError("PAYER_INSUFFICIENT_BALANCE", `the payer's balance is smaller than the amount ${amount}`, { amount: amount.toString() });
      }
      if ((await money.allowance(token, payer, this.options.deployment.contracts.escrow)) < amount) {
        throw new SettlenetError("PAYER_ALLOWANCE_MISSING", "the escrow may not take the amount from the payer yet: sign the permit first", { amount: amount.toString() });
      }
    }
    return this.modules.payments.authorize(merchant, id, signature);
  }

  /** The ERC-2612 permit (unlimited allowance to the escrow) the payer signs when the allowance is missing. */
  async permitPayload(id: string): Promise<{ value: string; deadline: string; typedData: TypedDataPayload }> {
    const { order } = await this.load(id);
    const money = this.money();
    const token = this.token(order);
    const deadline = (await money.now()) + PERMIT_VALIDITY_SECONDS;
    const nonce = await money.permitNonce(token, order.terms.payer);
    return { value: MaxUint256.toString(), deadline: deadline.toString(), typedData: this.permitTypedData(order, token, MaxUint256, nonce, deadline) };
  }

  /** Checks that the payer signed the permit, then has the permit relayer submit it (waits for its receipt). */
  async permit(id: string, input: { value: string; deadline: string; signature: string }): Promise<void> {
    const { order } = await this.load(id);
    const money = this.money();
    const token = this.token(order);
    const spender = this.options.deployment.contracts.escrow;
    if ((await money.allowance(token, order.terms.payer, spender)) >= UNLIMITED_ALLOWANCE) return;
    const nonce = await money.permitNonce(token, order.terms.payer);
    const { domain, types, message } = this.permitTypedData(order, token, BigInt(input.value), nonce, BigInt(input.deadline));
    this.requirePayer(order, TypedDataEncoder.hash(domain, types, message), input.signature);
    await money.submitPermit(token, { owner: order.terms.payer, spender, value: BigInt(input.value), deadline: BigInt(input.deadline), signature: input.signature });
  }

  /** What the payer signs to confirm, dispute or reclaim. */
  async actionPayload(id: string, action: PayerAction, reason?: string): Promise<PayerActionPayload> {
    const { merchant } = await this.load(id);
    if (action === "dispute" && !reason) throw new SettlenetError("MALFORMED", "a dispute needs a reason", { field: "reason" });
    return this.payerActions().payload(merchant, id, action, reason);
  }

  /** Relays the payer's signed confirm, dispute or reclaim (a signature by anyone else: BAD_SIGNATURE). */
  async submitAction(id: string, action: PayerAction, input: { nonce: string; deadline: string; signature: string; reason?: string | undefined }) {
    const { merchant } = await this.load(id);
    if (action === "dispute" && !input.reason) throw new SettlenetError("MALFORMED", "a dispute needs a reason", { field: "reason" });
    return this.payerActions().submit(merchant, id, action, input);
  }

  private async load(id: string): Promise<{ order: OrderRecord; merchant: MerchantRecord }> {
    const order = await this.modules.storage.orders.get(id);
    const merchant = order ? await this.modules.storage.merchants.get(order.merchantId) : undefined;
    if (!order || !merchant) throw new SettlenetError("PAYMENT_NOT_FOUND", `no payment ${id}`, { id });
    return { order, merchant };
  }

  private requirePayer(order: OrderRecord, digest: string, signature: string): void {
    let signer: string;
    try {
      signer = recoverAddress(digest, signature);
    } catch {
      throw new SettlenetError("BAD_SIGNATURE", "the signature does not recover", { expected: getAddress(order.terms.payer) });
    }
    if (getAddress(signer) !== getAddress(order.terms.payer)) {
      throw new SettlenetError("BAD_SIGNATURE", `signed by ${signer}, not by the payer`, { signer, expected: getAddress(order.terms.payer) });
    }
  }

  private permitTypedData(order: OrderRecord, token: TokenDeployment, value: bigint, nonce: bigint, deadline: bigint): TypedDataPayload {
    const chainId = BigInt(this.options.deployment.chainId);
    const domain = tokenDomain(chainId, token.address, token.name);
    return {
      domain: { name: String(domain.name), version: String(domain.version), chainId: Number(chainId), verifyingContract: token.address },
      types: PERMIT_TYPES as TypedDataPayload["types"],
      primaryType: "Permit",
      message: { owner: order.terms.payer, spender: this.options.deployment.contracts.escrow, value: value.toString(), nonce: nonce.toString(), deadline: deadline.toString() },
    };
  }

  private token(order: OrderRecord): TokenDeployment {
    const token = Object.values(this.options.deployment.tokens).find((t) => t.address.toLowerCase() === order.terms.token.toLowerCase());
    if (!token) throw new SettlenetError("UNSUPPORTED_CURRENCY", `${order.currency} is not a settlement token here`, { currency: order.currency });
    return token;
  }

  private money(): MoneyChain {
    if (!this.modules.money) throw new SettlenetError("MONEY_NOT_CONFIGURED", "this gateway was started without chain access for money movement");
    return this.modules.money;
  }

  private payerActions(): PayerActionService {
    if (!this.modules.payerActions) throw new SettlenetError("MONEY_NOT_CONFIGURED", "this gateway was started without chain access for money movement");
    return this.modules.payerActions;
  }
}
