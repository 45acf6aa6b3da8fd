/**
 * Merchants' token allowances. Operations the gateway signs for a merchant pull from the merchant's
 * token balance through the escrow (a contract, no person): for a refund after release and for a
 * transfer. A payout needs none (the merchant redeems its own balance). Merchants hold no gas, so a missing allowance is given by an ERC-2612
 * permit the merchant's key signs and the permit relayer submits (adapters/money-chain.ts). Payments
 * and money movement share this one component.
 */
import type { Deployment, TokenDeployment } from "../../core/protocol/deployment.js";
import type { MoneyChain } from "../adapters/money-chain.js";
import { merchantWallet } from "./merchants.js";
import type { MerchantRecord } from "./records.js";
import type { SecretBox } from "./secrets.js";

export interface MerchantAllowancesModules {
  money: Pick<MoneyChain, "ensureAllowance">;
  secrets: SecretBox;
}

/** Gives merchants' allowances to the escrow when they are missing. */
export class MerchantAllowances {
  constructor(
    private readonly options: { deployment: Deployment },
    private readonly modules: MerchantAllowancesModules,
  ) {}

  /** The merchant's allowance to the escrow on `tokens` (default: every settlement token). */
  async toEscrow(merchant: MerchantRecord, tokens: TokenDeployment[] = Object.values(this.options.deployment.tokens)): Promise<void> {
    for (const token of tokens) await this.toEscrowOn(merchant, token);
  }

  /** The merchant's allowance to the escrow on `token`; the escrow is the only spender merchants allow. */
  toEscrowOn(merchant: MerchantRecord, token: TokenDeployment): Promise<void> {
    return this.modules.money.ensureAllowance(token, merchantWallet(merchant, this.modules.secrets), this.options.deployment.contracts.escrow);
  }
}
