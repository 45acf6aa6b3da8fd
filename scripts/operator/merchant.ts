/**
 * `settlenet merchant …`: an institution onboards the merchants it acquires (KYC level, fee, payout
 * bank account) with its own operator key, and changes or suspends them; governance may suspend too.
 *   settlenet merchant register --address <a> --kyc-level <n> --fee-bps <n> --payout-account <bank account | 0x…32 bytes>
 *   settlenet merchant update --address <a> [--kyc-level <n>] [--fee-bps <n>] [--payout-account <…>]
 *   settlenet merchant suspend|reactivate --address <a>
 * The payout account is registered as the keccak256 of its text (what the gateway compares payouts with).
 */
import { keccak256, toUtf8Bytes } from "ethers";
import { z } from "zod";

import { SettlenetError } from "../../core/errors.js";
import { CHAIN_OPTIONS, CHAIN_USAGE, address, feeBps, kycLevel, parse, printResult, validate, withContext } from "./args.js";
import { sendAs, unchanged, type ActionResult, type Actor, type OperatorChain } from "./chain.js";
import { accountRecord, institutionOf, ownAccount, payoutAccountOf, requireNewAccount, setAccountActive } from "./registry.js";

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

/** Runs `settlenet merchant <command> …`. */
export async function merchantCommand(args: string[]): Promise<void> {
  const [command, ...rest] = args;
  const usage = `usage: settlenet merchant register --address <a> --kyc-level <n> --fee-bps <n> --payout-account <bank account> | update --address <a> [--kyc-level <n>] [--fee-bps <n>] [--payout-account <…>] | suspend|reactivate --address <a>; with ${CHAIN_USAGE}`;
  const values = parse(rest, { ...CHAIN_OPTIONS, address: { type: "string" }, "kyc-level": { type: "string" }, "fee-bps": { type: "string" }, "payout-account": { type: "string" } }, usage);
  const { rpc: _r, deployment: _d, key: _k, "password-env": _p, json: _j, ...own } = values;
  const payout = z.string().min(1).max(200).transform(payoutReference);
  if (command === "register") {
    const p = validate(z.strictObject({ address, "kyc-level": kycLevel, "fee-bps": feeBps, "payout-account": payout }), own);
    return withContext(values, usage, async (ctx) => printResult(await registerMerchant(ctx.chain, ctx.actor, { address: p.address, kycLevel: p["kyc-level"], feeBps: p["fee-bps"], payoutAccount: p["payout-account"] }), ctx.json));
  }
  if (command === "update") {
    const p = validate(z.strictObject({ address, "kyc-level": kycLevel.optional(), "fee-bps": feeBps.optional(), "payout-account": payout.optional() }), own);
    if (p["kyc-level"] === undefined && p["fee-bps"] === undefined && p["payout-account"] === undefined) throw new SettlenetError("USAGE", `nothing to update; ${usage}`);
    return withContext(values, usage, async (ctx) => {
      const change = { address: p.address, ...(p["kyc-level"] !== undefined ? { kycLevel: p["kyc-level"] } : {}), ...(p["fee-bps"] !== undefined ? { feeBps: p["fee-bps"] } : {}), ...(p["payout-account"] !== undefined ? { payoutAccount: p["payout-account"] } : {}) };
      for (const result of await updateMerchant(ctx.chain, ctx.actor, change)) printResult(result, ctx.json);
    });
  }
  if (command === "suspend" || command === "reactivate") {
    const p = validate(z.strictObject({ address }), own);
    return withContext(values, usage, async (ctx) => printResult(await setAccountActive(ctx.chain, ctx.actor, "merchant", p.address, command === "reactivate"), ctx.json));
  }
  throw new SettlenetError("USAGE", usage);
}
