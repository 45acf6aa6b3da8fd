/**
 * `settlenet customer …`: an institution opens payer accounts (customers) with their KYC level using
 * its own operator key, changes the level, and suspends or reactivates them (governance may too).
 *   settlenet customer register --address <a> --kyc-level <n>
 *   settlenet customer update --address <a> --kyc-level <n>
 *   settlenet customer suspend|reactivate --address <a>
 */
import { z } from "zod";

import { SettlenetError } from "../../core/errors.js";
import { registerCustomer, setCustomerKyc } from "../../core/operator/customer.js";
import { setAccountActive } from "../../core/operator/registry.js";
import { CHAIN_OPTIONS, CHAIN_USAGE, address, kycLevel, parse, printResult, validate, withContext } from "./args.js";

/** Runs `settlenet customer <command> …`. */
export async function customerCommand(args: string[]): Promise<void> {
  const [command, ...rest] = args;
  const usage = `usage: settlenet customer register|update --address <a> --kyc-level <n> | suspend|reactivate --address <a>; with ${CHAIN_USAGE}`;
  const values = parse(rest, { ...CHAIN_OPTIONS, address: { type: "string" }, "kyc-level": { type: "string" } }, usage);
  const { rpc: _r, deployment: _d, key: _k, "password-env": _p, json: _j, ...own } = values;
  if (command === "register" || command === "update") {
    const p = validate(z.strictObject({ address, "kyc-level": kycLevel }), own);
    const params = { address: p.address, kycLevel: p["kyc-level"] };
    return withContext(values, usage, async (ctx) => printResult(command === "register" ? await registerCustomer(ctx.chain, ctx.actor, params) : await setCustomerKyc(ctx.chain, ctx.actor, params), ctx.json));
  }
  if (command === "suspend" || command === "reactivate") {
    const p = validate(z.strictObject({ address }), own);
    return withContext(values, usage, async (ctx) => printResult(await setAccountActive(ctx.chain, ctx.actor, "customer", p.address, command === "reactivate"), ctx.json));
  }
  throw new SettlenetError("USAGE", usage);
}
