/**
 * `settlenet reserves …`: a custodian records its reserves at the bank (what caps its minting), and
 * anyone reads every custodian's reserves against what it has outstanding.
 *   settlenet reserves attest --amount <minor units> (--statement-hash 0x… | --statement-file <file>) [--token CNY]   (custodian key)
 *   settlenet reserves show [--token CNY]                                                                             (no key)
 */
import { readFile } from "node:fs/promises";

import { ZeroHash, keccak256 } from "ethers";
import { z } from "zod";

import { SettlenetError } from "../../core/errors.js";
import { CHAIN_OPTIONS, CHAIN_USAGE, minorUnits, parse, printResult, validate, withContext } from "./args.js";
import { sendAs, unchanged, type ActionResult, type Actor, type OperatorChain } from "./chain.js";
import { tokenSymbol } from "./custodian.js";
import { institutionOf } from "./registry.js";

const bytes32 = z.string().regex(/^0x[0-9a-fA-F]{64}$/, "expected 32 bytes as 0x-prefixed hex");

interface Attestation {
  amount: bigint;
  statementHash: string;
  attestedAt: bigint;
}

/** Records the reserves of the custodian whose key `actor` is; done if its latest attestation is this one. */
export async function attestReserves(chain: OperatorChain, actor: Actor, params: { symbol: string; amount: bigint; statementHash: string }): Promise<ActionResult> {
  const { contract } = chain.token(params.symbol);
  const institution = await institutionOf(chain, actor);
  if (!((await contract.getFunction("isCustodian")(institution)) as boolean)) {
    throw new SettlenetError("NOT_CUSTODIAN", `institution ${institution} is not a custodian of ${params.symbol} (settlenet custodian set)`, { institution });
  }
  const latest = (await contract.getFunction("reservesOf")(institution)) as Attestation;
  if (latest.amount === params.amount && latest.statementHash.toLowerCase() === params.statementHash.toLowerCase() && latest.attestedAt > 0n) {
    return unchanged(`custodian ${institution} attested ${params.amount} ${params.symbol} minor units (statement ${params.statementHash})`);
  }
  return sendAs(actor, contract, "attestReserves", [params.amount, params.statementHash], `custodian ${institution} attested reserves of ${params.amount} ${params.symbol} minor units (statement ${params.statementHash})`);
}

export interface CustodianReserves {
  institution: string;
  name: string;
  reserves: string;
  outstanding: string;
  statementHash: string;
  attestedAt: string | null;
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
    const [latest, outstanding] = (await Promise.all([contract.getFunction("reservesOf")(node.account), contract.getFunction("outstandingOf")(node.account)])) as [Attestation, bigint];
    custodians.push({
      institution: node.account,
      name: node.name,
      reserves: latest.amount.toString(),
      outstanding: outstanding.toString(),
      statementHash: latest.statementHash === ZeroHash ? "" : latest.statementHash,
      attestedAt: latest.attestedAt > 0n ? new Date(Number(latest.attestedAt) * 1000).toISOString() : null,
      covered: latest.amount >= outstanding,
    });
  }
  return { token: symbol, address: entry.address, totalSupply: ((await contract.getFunction("totalSupply")()) as bigint).toString(), custodians };
}

/** Runs `settlenet reserves attest|show …`. */
export async function reservesCommand(args: string[]): Promise<void> {
  const [command, ...rest] = args;
  const usage = `usage: settlenet reserves attest --amount <minor units> (--statement-hash 0x… | --statement-file <file>) [--token CNY] | show [--token CNY]; with ${CHAIN_USAGE}`;
  const values = parse(rest, { ...CHAIN_OPTIONS, amount: { type: "string" }, "statement-hash": { type: "string" }, "statement-file": { type: "string" }, token: { type: "string" } }, usage);
  if (command === "attest") {
    const p = validate(z.strictObject({ amount: minorUnits, "statement-hash": bytes32.optional(), "statement-file": z.string().min(1).optional(), token: tokenSymbol }), {
      amount: values.amount,
      "statement-hash": values["statement-hash"],
      "statement-file": values["statement-file"],
      token: values.token,
    });
    if ((p["statement-hash"] === undefined) === (p["statement-file"] === undefined)) throw new SettlenetError("USAGE", `give one of --statement-hash, --statement-file; ${usage}`);
    const statementHash = p["statement-hash"] ?? keccak256(await readFile(p["statement-file"] ?? "").catch((error: unknown) => {
      throw new SettlenetError("FILE_UNREADABLE", `cannot read ${p["statement-file"]}: ${(error as Error).message}`);
    }));
    return withContext(values, usage, async (ctx) => printResult(await attestReserves(ctx.chain, ctx.actor, { symbol: p.token, amount: p.amount, statementHash }), ctx.json));
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
          process.stdout.write(`  ${c.institution} (${c.name}): reserves ${c.reserves}, outstanding ${c.outstanding}${c.covered ? "" : " NOT COVERED"}, attested ${c.attestedAt ?? "never"}${c.statementHash ? ` (statement ${c.statementHash})` : ""}\n`);
        }
      },
      false,
    );
  }
  throw new SettlenetError("USAGE", usage);
}
