/**
 * `settlenet custodian set|unset --institution <a> [--token CNY]`: governance makes an institution a
 * custodian of a settlement token (it may then mint against its attested reserves and burn) or
 * removes it. `settlenet custodian key --institution <a> --custodian-key <a|none>`: governance gives the
 * institution a custodian key distinct from its operator key (only that key mints and burns for it
 * then), or takes it back.
 */
import { ZeroAddress } from "ethers";
import { z } from "zod";

import { SettlenetError } from "../../core/errors.js";
import { CHAIN_OPTIONS, CHAIN_USAGE, address, parse, printResult, validate, withContext } from "./args.js";
import { sendAs, unchanged, type ActionResult, type Actor, type OperatorChain } from "../../core/operator/chain.js";
import { accountRecord, requireGovernance } from "../../core/operator/registry.js";

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

/** Gives `institution` the custodian key `key` (zero address: its operator key again) (governance). */
export async function setCustodianKey(chain: OperatorChain, governance: Actor, params: { institution: string; key: string }): Promise<ActionResult> {
  const current = (await chain.registry.getFunction("custodianKeyOf")(params.institution)) as string;
  const describe = (k: string) => (k === ZeroAddress ? "its operator key" : k);
  if (current.toLowerCase() === params.key.toLowerCase()) return unchanged(`${params.institution} mints and burns with ${describe(current)}`);
  if ((await accountRecord(chain, params.institution)).kind !== "institution") {
    throw new SettlenetError("NOT_REGISTERED", `${params.institution} is not a registered institution`, { account: params.institution });
  }
  await requireGovernance(chain, governance);
  return sendAs(governance, chain.registry, "setCustodianKey", [params.institution, params.key], `${params.institution} now mints and burns with ${describe(params.key)}`);
}

/** Runs `settlenet custodian set|unset|key …`. */
export async function custodianCommand(args: string[]): Promise<void> {
  const [command, ...rest] = args;
  const usage = `usage: settlenet custodian set|unset --institution <a> [--token CNY] | key --institution <a> --custodian-key <a|none>; with ${CHAIN_USAGE}`;
  const values = parse(rest, { ...CHAIN_OPTIONS, institution: { type: "string" }, token: { type: "string" }, "custodian-key": { type: "string" } }, usage);
  if (command === "key") {
    const p = validate(z.strictObject({ institution: address, "custodian-key": z.union([address, z.literal("none")]) }), { institution: values.institution, "custodian-key": values["custodian-key"] });
    const key = p["custodian-key"] === "none" ? ZeroAddress : p["custodian-key"];
    return withContext(values, usage, async (ctx) => printResult(await setCustodianKey(ctx.chain, ctx.actor, { institution: p.institution, key }), ctx.json));
  }
  if (command !== "set" && command !== "unset") throw new SettlenetError("USAGE", usage);
  const p = validate(z.strictObject({ institution: address, token: tokenSymbol }), { institution: values.institution, token: values.token });
  return withContext(values, usage, async (ctx) => printResult(await setCustodian(ctx.chain, ctx.actor, { institution: p.institution, symbol: p.token, custodian: command === "set" }), ctx.json));
}
