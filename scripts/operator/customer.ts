/**
 * `settlenet customer …`: an institution opens payer accounts (customers) with their KYC level using
 * its own operator key, changes the level, and suspends or reactivates them (governance may too).
 *   settlenet customer register --address <a> --kyc-level <n>
 *   settlenet customer update --address <a> --kyc-level <n>
 *   settlenet customer suspend|reactivate --address <a>
 */
import { z } from "zod";

import { SettlenetError } from "../../core/errors.js";
import { CHAIN_OPTIONS, CHAIN_USAGE, address, kycLevel, parse, printResult, validate, withContext } from "./args.js";
import { sendAs, unchanged, type ActionResult, type Actor, type OperatorChain } from "./chain.js";
import { accountRecord, institutionOf, ownAccount, requireNewAccount, setAccountActive } from "./registry.js";

/** Opens a customer account at the institution whose key `actor` is; done if it is already its customer at this level. */
export async function registerCustomer(chain: OperatorChain, actor: Actor, params: { address: string; kycLevel: number }): Promise<ActionResult> {
  const existing = await accountRecord(chain, params.address);
  if (existing.kind === "customer") {
    const record = await ownAccount(chain, actor, "customer", params.address);
    if (record.kycLevel !== params.kycLevel) {
      throw new SettlenetError("CUSTOMER_TERMS_DIFFER", `customer ${params.address} is registered with KYC level ${record.kycLevel}: change it with \`settlenet customer update\``, { account: params.address });
    }
    return unchanged(`customer ${params.address} is registered at ${record.institution} (KYC ${record.kycLevel}, ${record.status})`);
  }
  const institution = await institutionOf(chain, actor);
  await requireNewAccount(chain, params.address, "a customer");
  return sendAs(actor, chain.registry, "registerCustomer", [params.address, params.kycLevel], `registered customer ${params.address} at ${institution} (KYC ${params.kycLevel})`);
}

/** Changes a customer's KYC level. */
export async function setCustomerKyc(chain: OperatorChain, actor: Actor, params: { address: string; kycLevel: number }): Promise<ActionResult> {
  const record = await ownAccount(chain, actor, "customer", params.address);
  if (record.kycLevel === params.kycLevel) return unchanged(`customer ${params.address} has KYC level ${params.kycLevel}`);
  return sendAs(actor, chain.registry, "setKycLevel", [params.address, params.kycLevel], `customer ${params.address} now has KYC level ${params.kycLevel}`);
}

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
