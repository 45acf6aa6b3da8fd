/**
 * `settlenet arbiter add|remove --address <a>`: governance grants or revokes the arbiter role (who may
 * resolve disputes).
 */
import { z } from "zod";

import { SettlenetError } from "../../core/errors.js";
import { CHAIN_OPTIONS, CHAIN_USAGE, address, parse, printResult, validate, withContext } from "./args.js";
import { sendAs, unchanged, type ActionResult, type Actor, type OperatorChain } from "../../core/operator/chain.js";
import { requireGovernance } from "../../core/operator/registry.js";

/** Grants (`arbiter` true) or revokes the arbiter role of `account` (governance). */
export async function setArbiter(chain: OperatorChain, governance: Actor, account: string, arbiter: boolean): Promise<ActionResult> {
  const role = (await chain.registry.getFunction("ARBITER_ROLE")()) as string;
  const has = (await chain.registry.getFunction("hasRole")(role, account)) as boolean;
  if (has === arbiter) return unchanged(`${account} is ${arbiter ? "an arbiter" : "not an arbiter"}`);
  await requireGovernance(chain, governance);
  return sendAs(governance, chain.registry, arbiter ? "grantRole" : "revokeRole", [role, account], `${account} is ${arbiter ? "now an arbiter" : "no longer an arbiter"}`);
}

/** Runs `settlenet arbiter add|remove …`. */
export async function arbiterCommand(args: string[]): Promise<void> {
  const [command, ...rest] = args;
  const usage = `usage: settlenet arbiter add|remove --address <a>; with ${CHAIN_USAGE}`;
  const values = parse(rest, { ...CHAIN_OPTIONS, address: { type: "string" } }, usage);
  if (command !== "add" && command !== "remove") throw new SettlenetError("USAGE", usage);
  const p = validate(z.strictObject({ address }), { address: values.address });
  return withContext(values, usage, async (ctx) => printResult(await setArbiter(ctx.chain, ctx.actor, p.address, command === "add"), ctx.json));
}
