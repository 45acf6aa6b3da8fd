/**
 * Merchant onboarding actions an institution takes with its own operator key (KYC level, fee, payout
 * account), shared by the `settlenet merchant` command and the node's onboarding routes.
 */
import { keccak256, toUtf8Bytes } from "ethers";

import { SettlenetError } from "../errors.js";
import { sendAs, unchanged, type ActionResult, type Actor, type OperatorChain } from "./chain.js";
import { accountRecord, institutionOf, ownAccount, payoutAccountOf, requireNewAccount } from "./registry.js";

/** A payout account reference: 32 bytes as given, or the keccak256 of a bank account's text. */
export function payoutReference(account: string): string {
  return /^0x[0-9a-fA-F]{64}$/.test(account) ? account.toLowerCase() : keccak256(toUtf8Bytes(account));
}

export interface MerchantTerms {
  address: string;
  kycLevel: number;
  feeBps: number;
  /** bytes32 reference (see payoutReference). */
  payoutAccount: string;
}

async function requireFee(chain: OperatorChain, fee: number): Promise<void> {
  const max = Number((await chain.registry.getFunction("maxFeeBps")()) as bigint);
  if (fee > max) throw new SettlenetError("FEE_ABOVE_MAXIMUM", `fee ${fee} bps is above the registry's maximum of ${max} bps`, { feeBps: fee, maxFeeBps: max });
}

/** Onboards a merchant at the institution whose key `actor` is; done if it is already registered with these terms. */
export async function registerMerchant(chain: OperatorChain, actor: Actor, terms: MerchantTerms): Promise<ActionResult> {
  const existing = await accountRecord(chain, terms.address);
  if (existing.kind === "merchant") {
    const record = await ownAccount(chain, actor, "merchant", terms.address);
    const payout = await payoutAccountOf(chain, terms.address);
    const differs = [
      record.kycLevel !== terms.kycLevel && `KYC level ${record.kycLevel}`,
      record.feeBps !== terms.feeBps && `fee ${record.feeBps} bps`,
      payout.toLowerCase() !== terms.payoutAccount.toLowerCase() && `payout account ${payout}`,
    ].filter(Boolean);
    if (differs.length > 0) {
      throw new SettlenetError("MERCHANT_TERMS_DIFFER", `merchant ${terms.address} is registered with ${differs.join(", ")}: change them with \`settlenet merchant update\``, { account: terms.address });
    }
    return unchanged(`merchant ${terms.address} is registered at ${record.institution} (KYC ${record.kycLevel}, fee ${record.feeBps} bps, ${record.status})`);
  }
  const institution = await institutionOf(chain, actor);
  await requireNewAccount(chain, terms.address, "a merchant");
  await requireFee(chain, terms.feeBps);
  return sendAs(actor, chain.registry, "registerMerchant", [terms.address, terms.kycLevel, terms.feeBps, terms.payoutAccount], `registered merchant ${terms.address} at ${institution} (KYC ${terms.kycLevel}, fee ${terms.feeBps} bps)`);
}

/** Changes what differs of a merchant's KYC level, fee and payout account (one transaction each). */
export async function updateMerchant(chain: OperatorChain, actor: Actor, change: Partial<MerchantTerms> & { address: string }): Promise<ActionResult[]> {
  const record = await ownAccount(chain, actor, "merchant", change.address);
  const results: ActionResult[] = [];
  if (change.kycLevel !== undefined) {
    results.push(record.kycLevel === change.kycLevel ? unchanged(`merchant ${change.address} has KYC level ${change.kycLevel}`) : await sendAs(actor, chain.registry, "setKycLevel", [change.address, change.kycLevel], `merchant ${change.address} now has KYC level ${change.kycLevel}`));
  }
  if (change.feeBps !== undefined) {
    if (record.feeBps === change.feeBps) results.push(unchanged(`merchant ${change.address} has a fee of ${change.feeBps} bps`));
    else {
      await requireFee(chain, change.feeBps);
      results.push(await sendAs(actor, chain.registry, "setMerchantFee", [change.address, change.feeBps], `merchant ${change.address} now has a fee of ${change.feeBps} bps`));
    }
  }
  if (change.payoutAccount !== undefined) {
    const payout = await payoutAccountOf(chain, change.address);
    results.push(
      payout.toLowerCase() === change.payoutAccount.toLowerCase()
        ? unchanged(`merchant ${change.address} has payout account ${payout}`)
        : await sendAs(actor, chain.registry, "setMerchantPayoutAccount", [change.address, change.payoutAccount], `merchant ${change.address} now has payout account ${change.payoutAccount}`),
    );
  }
  return results;
}
