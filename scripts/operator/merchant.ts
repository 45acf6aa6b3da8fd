/**
 * `settlenet merchant …`: an institution onboards the merchants it acquires (KYC level, fee, payout
 * bank account) with its own operator key, and changes or suspends them; governance may suspend too.
 *   settlenet merchant register --address <a> --kyc-level <n> --fee-bps <n> --payout-account <bank account | 0x…32 bytes>
 *   settlenet merchant update --address <a> [--kyc-level <n>] [--fee-bps <n>] [--payout-account <…>]
 *   settlenet merchant suspend|reactivate --address <a>
 * The payout account is registered as the keccak256 of its text (what the gateway compares payouts with).
 */
import { z } from "zod";

import { SettlenetError } from "../../core/errors.js";
import { payoutReference, registerMerchant, updateMerchant } from "../../core/operator/merchant.js";
import { setAccountActive } from "../../core/operator/registry.js";
import { CHAIN_OPTIONS, CHAIN_USAGE, address, feeBps, kycLevel, parse, printResult, validate, withContext } from "./args.js";

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
