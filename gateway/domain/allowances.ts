/**
 * Merchants' token allowances. Operations the gateway signs for a merchant pull from the merchant's
 * token balance through a spender: the escrow for a refund after release and for a transfer, the
 * custodian for a payout's burn. Merchants hold no gas, so a missing allowance is given by an ERC-2612
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

/** Gives merchants' allowances to the escrow and the custodian when they are missing. */
export class MerchantAllowances {
  constructor(
    private readonly options: { deployment: Deployment },
    private readonly modules: MerchantAllowancesModules,
  ) {}

  /** The merchant's allowance to the escrow on `tokens` (default: every settlement token). */
  async toEscrow(merchant: MerchantRecord, tokens: TokenDeployment[] = Object.values(this.options.deployment.tokens)): Promise<void> {
    for (const token of tokens) await this.to(merchant, token, this.options.deployment.contracts.escrow);
  }

  /** The merchant's allowance to `spender` on `token`. */
  to(merchant: MerchantRecord, token: TokenDeployment, spender: string): Promise<void> {
    return this.modules.money.ensureAllowance(token, merchantWallet(merchant, this.modules.secrets), spender);
  }
}
