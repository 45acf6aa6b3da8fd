/**
 * `settlenet reserves …`: governance names each custodian's independent reserve attestor (its bank or
 * auditor); the attestor records statements of the custodian's reserves at the bank (what caps its
 * minting); anyone reads every custodian's reserves against what it has outstanding.
 *   settlenet reserves attestor --institution <a> --attestor <a|none>                                                        (governance key)
 *   settlenet reserves attest --institution <a> --amount <minor units> (--statement-hash 0x… | --statement-file <file>) [--token CNY]   (attestor key)
 *   settlenet reserves show [--token CNY]                                                                                      (no key)
 */
import { readFile } from "node:fs/promises";

import { ZeroAddress, ZeroHash, keccak256 } from "ethers";
import { z } from "zod";

import { SettlenetError } from "../../core/errors.js";
import { CHAIN_OPTIONS, CHAIN_USAGE, address, minorUnits, parse, printResult, validate, withContext } from "./args.js";
import { sendAs, unchanged, type ActionResult, type Actor, type OperatorChain } from "../../core/operator/chain.js";
import { tokenSymbol } from "./custodian.js";
import { accountRecord, requireGovernance } from "../../core/operator/registry.js";

const bytes32 = z.string().regex(/^0x[0-9a-fA-F]{64}$/, "expected 32 bytes as 0x-prefixed hex");

interface Attestation {
  amount: bigint;
  statementHash: string;
  attestedAt: bigint;
  asOf: bigint;
  sequence: bigint;
}

const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

/** Names `attestor` (zero address: none) as the reserve attestor of custodian `institution` (governance). */
export async function setReserveAttestor(chain: OperatorChain, governance: Actor, params: { institution: string; attestor: string }): Promise<ActionResult> {
  const current = (await chain.registry.getFunction("reserveAttestorOf")(params.institution)) as string;
  if (same(current, params.attestor)) return unchanged(`${params.institution}'s reserve attestor is ${current === ZeroAddress ? "nobody" : current}`);
  if ((await accountRecord(chain, params.institution)).kind !== "institution") {
    throw new SettlenetError("NOT_REGISTERED", `${params.institution} is not a registered institution`, { account: params.institution });
  }
  await requireGovernance(chain, governance);
  return sendAs(governance, chain.registry, "setReserveAttestor", [params.institution, params.attestor], `${params.institution}'s reserve attestor is now ${params.attestor === ZeroAddress ? "nobody" : params.attestor}`);
}

/**
 * Records a statement of custodian `custodian`'s reserves, as its attestor `actor`: the next statement
 * number, as of `asOf` (default: the latest block's time). Done if the latest statement has this amount
 * and hash.
 */
export async function attestReserves(
  chain: OperatorChain,
  actor: Actor,
  params: { symbol: string; custodian: string; amount: bigint; statementHash: string; asOf?: bigint },
): Promise<ActionResult> {
  const { contract } = chain.token(params.symbol);
  const attestor = (await chain.registry.getFunction("reserveAttestorOf")(params.custodian)) as string;
  if (attestor === ZeroAddress || !same(attestor, actor.address)) {
    throw new SettlenetError("NOT_RESERVE_ATTESTOR", `${actor.address} is not the reserve attestor of ${params.custodian} (settlenet reserves attestor)`, { account: actor.address, custodian: params.custodian });
  }
  if (!((await contract.getFunction("isCustodian")(params.custodian)) as boolean)) {
    throw new SettlenetError("NOT_CUSTODIAN", `institution ${params.custodian} is not a custodian of ${params.symbol} (settlenet custodian set)`, { institution: params.custodian });
  }
  const latest = (await contract.getFunction("reservesOf")(params.custodian)) as Attestation;
  if (latest.amount === params.amount && same(latest.statementHash, params.statementHash) && latest.sequence > 0n) {
    return unchanged(`the reserves of ${params.custodian} are attested at ${params.amount} ${params.symbol} minor units (statement ${params.statementHash})`);
  }
  const asOf = params.asOf ?? BigInt((await chain.provider.getBlock("latest"))?.timestamp ?? 0);
  return sendAs(
    actor,
    contract,
    "attestReserveStatement",
    [params.custodian, params.amount, asOf, latest.sequence + 1n, params.statementHash],
    `attested reserves of ${params.amount} ${params.symbol} minor units for ${params.custodian} (statement ${latest.sequence + 1n}, ${params.statementHash})`,
  );
}

export interface CustodianReserves {
  institution: string;
  name: string;
  reserves: string;
  outstanding: string;
  statementHash: string;
  attestedAt: string | null;
  /** When the reserve account held `reserves`, as the attestor states it. */
  asOf: string | null;
  sequence: string;
  attestor: string | null;
  /** Reserves cover what the custodian has outstanding. */
  covered: boolean;
}

/** Every custodian of `symbol` with its attested reserves and outstanding supply. */
export async function showReserves(chain: OperatorChain, symbol: string): Promise<{ token: string; address: string; totalSupply: string; custodians: CustodianReserves[] }> {
  const { entry, contract } = chain.token(symbol);
  const nodes = (await chain.registry.getFunction("nodes")()) as { account: string; name: string; regulator: boolean }[];
  const custodians: CustodianReserves[] = [];
  for (const node of nodes.filter((n) => !n.regulator)) {
    if (!((await contract.getFunction("isCustodian")(node.account)) as boolean)) continue;
    const [latest, outstanding, attestor] = (await Promise.all([
      contract.getFunction("reservesOf")(node.account),
      contract.getFunction("outstandingOf")(node.account),
      chain.registry.getFunction("reserveAttestorOf")(node.account),
    ])) as [Attestation, bigint, string];
    custodians.push({
      institution: node.account,
      name: node.name,
      reserves: latest.amount.toString(),
      outstanding: outstanding.toString(),
      statementHash: latest.statementHash === ZeroHash ? "" : latest.statementHash,
      attestedAt: latest.attestedAt > 0n ? new Date(Number(latest.attestedAt) * 1000).toISOString() : null,
      asOf: latest.sequence > 0n ? new Date(Number(latest.asOf) * 1000).toISOString() : null,
      sequence: latest.sequence.toString(),
      attestor: attestor === ZeroAddress ? null : attestor,
      covered: latest.amount >= outstanding,
    });
  }
  return { token: symbol, address: entry.address, totalSupply: ((await contract.getFunction("totalSupply")()) as bigint).toString(), custodians };
}

/** Runs `settlenet reserves attestor|attest|show …`. */
export async function reservesCommand(args: string[]): Promise<void> {
  const [command, ...rest] = args;
  const usage = `usage: settlenet reserves attestor --institution <a> --attestor <a|none> | attest --institution <a> --amount <minor units> (--statement-hash 0x… | --statement-file <file>) [--token CNY] | show [--token CNY]; with ${CHAIN_USAGE}`;
  const values = parse(
    rest,
    { ...CHAIN_OPTIONS, institution: { type: "string" }, attestor: { type: "string" }, amount: { type: "string" }, "statement-hash": { type: "string" }, "statement-file": { type: "string" }, token: { type: "string" } },
    usage,
  );
  if (command === "attestor") {
    const p = validate(z.strictObject({ institution: address, attestor: z.union([address, z.literal("none")]) }), { institution: values.institution, attestor: values.attestor });
    const attestor = p.attestor === "none" ? ZeroAddress : p.attestor;
    return withContext(values, usage, async (ctx) => printResult(await setReserveAttestor(ctx.chain, ctx.actor, { institution: p.institution, attestor }), ctx.json));
  }
  if (command === "attest") {
    const p = validate(z.strictObject({ institution: address, amount: minorUnits, "statement-hash": bytes32.optional(), "statement-file": z.string().min(1).optional(), token: tokenSymbol }), {
      institution: values.institution,
      amount: values.amount,
      "statement-hash": values["statement-hash"],
      "statement-file": values["statement-file"],
      token: values.token,
    });
    if ((p["statement-hash"] === undefined) === (p["statement-file"] === undefined)) throw new SettlenetError("USAGE", `give one of --statement-hash, --statement-file; ${usage}`);
    const statementHash = p["statement-hash"] ?? keccak256(await readFile(p["statement-file"] ?? "").catch((error: unknown) => {
      throw new SettlenetError("FILE_UNREADABLE", `cannot read ${p["statement-file"]}: ${(error as Error).message}`);
    }));
    return withContext(values, usage, async (ctx) => printResult(await attestReserves(ctx.chain, ctx.actor, { symbol: p.token, custodian: p.institution, amount: p.amount, statementHash }), ctx.json));
  }
  if (command === "show") {
    const p = validate(z.strictObject({ token: tokenSymbol }), { token: values.token });
    return withContext(
      values,
      usage,
      async (ctx) => {
        const shown = await showReserves(ctx.chain, p.token);
        if (ctx.json) {
          process.stdout.write(`${JSON.stringify(shown)}\n`);
          return;
        }
        process.stdout.write(`${shown.token} at ${shown.address}: total supply ${shown.totalSupply} minor units\n`);
        if (shown.custodians.length === 0) process.stdout.write("  no custodian\n");
        for (const c of shown.custodians) {
          process.stdout.write(`  ${c.institution} (${c.name}): reserves ${c.reserves}, outstanding ${c.outstanding}${c.covered ? "" : " NOT COVERED"}, attested ${c.asOf ? `as of ${c.asOf} (statement ${c.sequence} by ${c.attestor ?? "?"})` : "never"}${c.statementHash ? ` (statement ${c.statementHash})` : ""}\n`);
        }
      },
      false,
    );
  }
  throw new SettlenetError("USAGE", usage);
}
