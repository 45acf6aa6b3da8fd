/**
 * `settlenet token …`: a custodian mints settlement tokens against a confirmed bank deposit (at most
 * its attested reserves), and a holder's ERC-2612 permit to the escrow is submitted for it (payers
 * never send transactions: the allowance comes from their signature).
 *   settlenet token mint --to <a> --amount <minor units> --bank-ref <reference> [--token CNY]      (the custodian key: its own, or its operator key if it has none)
 *   settlenet token permit --owner-key <keystore> [--owner-password-env <VAR>] [--spender <a>] [--token CNY]   (--key pays the gas)
 * A mint is done once per bank reference: the same reference to the same account is never minted again.
 */
import { MaxUint256, Signature, encodeBytes32String, isHexString, type HDNodeWallet, type Wallet } from "ethers";
import { z } from "zod";

import { SettlenetError } from "../../core/errors.js";
import { PERMIT_TYPES, UNLIMITED_ALLOWANCE, tokenDomain } from "../../core/protocol/eip712.js";
import { CHAIN_OPTIONS, CHAIN_USAGE, address, loadKey, minorUnits, parse, printResult, validate, withContext } from "./args.js";
import { sendAs, unchanged, type ActionResult, type Actor, type OperatorChain } from "../../core/operator/chain.js";
import { tokenSymbol } from "./custodian.js";
import { custodianOf } from "../../core/operator/registry.js";

/** A bank reference as bytes32: 32 bytes as given, or text of at most 31 bytes. */
export function bankReference(reference: string): string {
  if (isHexString(reference, 32)) return reference.toLowerCase();
  try {
    return encodeBytes32String(reference);
  } catch {
    throw new SettlenetError("INVALID_ARGUMENT", `bank reference "${reference}" is longer than 31 bytes; give its 32-byte hash instead`, { reference });
  }
}


/** Mints `amount` of `symbol` to `to` against bank deposit `bankRef`, as the custodian whose key `actor` is. */
export async function mint(chain: OperatorChain, actor: Actor, params: { symbol: string; to: string; amount: bigint; bankRef: string }): Promise<ActionResult> {
  const { contract } = chain.token(params.symbol);
  const institution = await custodianOf(chain, actor);
  if (!((await contract.getFunction("isCustodian")(institution)) as boolean)) {
    throw new SettlenetError("NOT_CUSTODIAN", `institution ${institution} is not a custodian of ${params.symbol} (settlenet custodian set)`, { institution });
  }
  const filter = contract.filters["Minted"]?.(institution, params.to, null, params.bankRef);
  const earlier = filter ? await contract.queryFilter(filter, chain.deployment.deploymentBlock) : [];
  if (earlier.length > 0) return unchanged(`${params.to} was minted ${params.symbol} against bank reference ${params.bankRef} (block ${earlier[0]?.blockNumber})`);
  const [outstanding, reserves] = (await Promise.all([contract.getFunction("outstandingOf")(institution), contract.getFunction("reservesOf")(institution)])) as [bigint, { amount: bigint }];
  if (outstanding + params.amount > reserves.amount) {
    throw new SettlenetError("RESERVES_EXCEEDED", `minting ${params.amount} would bring ${institution}'s outstanding to ${outstanding + params.amount}, above its attested reserves of ${reserves.amount} (settlenet reserves attest)`, { institution });
  }
  return sendAs(actor, contract, "mint", [params.to, params.amount, params.bankRef], `minted ${params.amount} ${params.symbol} minor units to ${params.to} (bank reference ${params.bankRef})`);
}

/**
 * Gives `spender` (default the escrow) an unlimited allowance of `owner`'s tokens: `owner` signs an
 * ERC-2612 permit, `submitter` sends it. Done if the allowance is already unlimited.
 */
export async function permit(chain: OperatorChain, submitter: Actor, params: { symbol: string; owner: Pick<Wallet | HDNodeWallet, "address" | "signTypedData">; spender?: string | undefined }): Promise<ActionResult> {
  const { entry, contract } = chain.token(params.symbol);
  const spender = params.spender ?? chain.deployment.contracts.escrow;
  const owner = params.owner.address;
  if (((await contract.getFunction("allowance")(owner, spender)) as bigint) >= UNLIMITED_ALLOWANCE) return unchanged(`${owner} allows ${spender} to move its ${params.symbol}`);
  const [nonce, block] = await Promise.all([contract.getFunction("nonces")(owner) as Promise<bigint>, chain.provider.getBlock("latest")]);
  const deadline = BigInt(block?.timestamp ?? Math.floor(Date.now() / 1000)) + 3_600n;
  const domain = tokenDomain(BigInt(chain.deployment.chainId), entry.address, entry.name);
  const { v, r, s } = Signature.from(await params.owner.signTypedData(domain, PERMIT_TYPES, { owner, spender, value: MaxUint256, nonce, deadline }));
  return sendAs(submitter, contract, "permit", [owner, spender, MaxUint256, deadline, v, r, s], `${owner} now allows ${spender} to move its ${params.symbol} (permit)`);
}

/** Runs `settlenet token mint|permit …`. */
export async function tokenCommand(args: string[]): Promise<void> {
  const [command, ...rest] = args;
  const usage = `usage: settlenet token mint --to <a> --amount <minor units> --bank-ref <reference> [--token CNY] | permit --owner-key <keystore> [--owner-password-env <VAR>] [--spender <a>] [--token CNY]; with ${CHAIN_USAGE}`;
  const values = parse(
    rest,
    { ...CHAIN_OPTIONS, to: { type: "string" }, amount: { type: "string" }, "bank-ref": { type: "string" }, token: { type: "string" }, "owner-key": { type: "string" }, "owner-password-env": { type: "string" }, spender: { type: "string" } },
    usage,
  );
  if (command === "mint") {
    const p = validate(z.strictObject({ to: address, amount: minorUnits, "bank-ref": z.string().min(1).max(66), token: tokenSymbol }), { to: values.to, amount: values.amount, "bank-ref": values["bank-ref"], token: values.token });
    const bankRef = bankReference(p["bank-ref"]);
    return withContext(values, usage, async (ctx) => printResult(await mint(ctx.chain, ctx.actor, { symbol: p.token, to: p.to, amount: p.amount, bankRef }), ctx.json));
  }
  if (command === "permit") {
    const p = validate(z.strictObject({ "owner-key": z.string().min(1), "owner-password-env": z.string().min(1).default("SETTLENET_OWNER_KEY_PASSWORD"), spender: address.optional(), token: tokenSymbol }), {
      "owner-key": values["owner-key"],
      "owner-password-env": values["owner-password-env"],
      spender: values.spender,
      token: values.token,
    });
    const owner = await loadKey(p["owner-key"], p["owner-password-env"]);
    return withContext(values, usage, async (ctx) => printResult(await permit(ctx.chain, ctx.actor, { symbol: p.token, owner, spender: p.spender }), ctx.json));
  }
  throw new SettlenetError("USAGE", usage);
}
