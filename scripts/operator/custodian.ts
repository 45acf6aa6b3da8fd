/**
 * `settlenet custodian set|unset --institution <a> [--token CNY]`: governance makes an institution a
 * custodian of a settlement token (it may then mint against its attested reserves and burn) or
 * removes it.
 */
import { z } from "zod";

import { SettlenetError } from "../../core/errors.js";
import { CHAIN_OPTIONS, CHAIN_USAGE, address, parse, printResult, validate, withContext } from "./args.js";
import { sendAs, unchanged, type ActionResult, type Actor, type OperatorChain } from "./chain.js";
import { accountRecord, requireGovernance } from "./registry.js";

export const tokenSymbol = z.string().regex(/^[A-Z0-9]{1,11}$/, "expected a token symbol such as CNY").default("CNY");

/** Makes `institution` a custodian of `symbol` (`custodian` true) or removes it (governance). */
export async function setCustodian(chain: OperatorChain, governance: Actor, params: { institution: string; symbol: string; custodian: boolean }): Promise<ActionResult> {
  const { contract } = chain.token(params.symbol);
  const is = (await contract.getFunction("isCustodian")(params.institution)) as boolean;
  if (is === params.custodian) return unchanged(`${params.institution} is ${is ? "a" : "not a"} custodian of ${params.symbol}`);
  if (params.custodian && (await accountRecord(chain, params.institution)).kind !== "institution") {
    throw new SettlenetError("NOT_REGISTERED", `${params.institution} is not a registered institution (only institutions can be custodians)`, { account: params.institution });
  }
  await requireGovernance(chain, governance);
  return sendAs(governance, contract, "setCustodian", [params.institution, params.custodian], `${params.institution} is ${params.custodian ? "now a" : "no longer a"} custodian of ${params.symbol}`);
}

/** Runs `settlenet custodian set|unset …`. */
export async function custodianCommand(args: string[]): Promise<void> {
  const [command, ...rest] = args;
  const usage = `usage: settlenet custodian set|unset --institution <a> [--token CNY]; with ${CHAIN_USAGE}`;
  const values = parse(rest, { ...CHAIN_OPTIONS, institution: { type: "string" }, token: { type: "string" } }, usage);
  if (command !== "set" && command !== "unset") throw new SettlenetError("USAGE", usage);
  const p = validate(z.strictObject({ institution: address, token: tokenSymbol }), { institution: values.institution, token: values.token });
  return withContext(values, usage, async (ctx) => printResult(await setCustodian(ctx.chain, ctx.actor, { institution: p.institution, symbol: p.token, custodian: command === "set" }), ctx.json));
}
