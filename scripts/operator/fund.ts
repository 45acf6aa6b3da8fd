/**
 * `settlenet fund --to <a> --minimum <amount in ether units>`: tops an account's native balance (gas
 * money) up to the minimum from the acting key, usually governance's. Done if it has that much already.
 */
import { formatEther, parseEther } from "ethers";
import { z } from "zod";

import { SettlenetError } from "../../core/errors.js";
import { CHAIN_OPTIONS, CHAIN_USAGE, address, parse, printResult, validate, withContext } from "./args.js";
import { sendValue, unchanged, type ActionResult, type Actor, type OperatorChain } from "../../core/operator/chain.js";

/** Sends `to` what it lacks of `minimum` wei. */
export async function fund(chain: Pick<OperatorChain, "provider">, funder: Actor, params: { to: string; minimum: bigint }): Promise<ActionResult> {
  const balance = await chain.provider.getBalance(params.to);
  if (balance >= params.minimum) return unchanged(`${params.to} holds ${formatEther(balance)} (at least ${formatEther(params.minimum)})`);
  const missing = params.minimum - balance;
  const available = await chain.provider.getBalance(funder.address);
  if (available <= missing) throw new SettlenetError("INSUFFICIENT_FUNDS", `${funder.address} holds ${formatEther(available)}, not enough to send ${formatEther(missing)} to ${params.to}`, { account: funder.address });
  return sendValue(funder, params.to, missing, `sent ${formatEther(missing)} to ${params.to} (now ${formatEther(params.minimum)})`);
}

/** Runs `settlenet fund …`. */
export async function fundCommand(args: string[]): Promise<void> {
  const usage = `usage: settlenet fund --to <a> --minimum <amount, e.g. 1.5>; with ${CHAIN_USAGE}`;
  const values = parse(args, { ...CHAIN_OPTIONS, to: { type: "string" }, minimum: { type: "string" } }, usage);
  const p = validate(z.strictObject({ to: address, minimum: z.string().regex(/^\d+(\.\d{1,18})?$/, "expected an amount in ether units, e.g. 1.5").transform((s) => parseEther(s)) }), { to: values.to, minimum: values.minimum });
  return withContext(values, usage, async (ctx) => printResult(await fund(ctx.chain, ctx.actor, p), ctx.json));
}
