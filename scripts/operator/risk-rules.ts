/**
 * `settlenet risk-rules …`: governance signs a versioned risk-rules document (per-KYC-level limits
 * and the payment thresholds; core/protocol/risk-rules.ts) and an operator submits it to any node,
 * which applies it and gossips it to every other node.
 *   settlenet risk-rules sign --rules <rules.json> --version <n> --out <signed.json> --deployment <file> --key <governance keystore> [--password-env <VAR>]
 *   settlenet risk-rules submit --node <api url> --file <signed.json>     (operator credential in SETTLENET_NODE_TOKEN)
 *   settlenet risk-rules show --node <api url>                             (operator or regulator credential)
 * Signing needs no chain (the deployment file names the chain id and the registry); the node checks
 * on the chain that the signer is governance.
 */
import { existsSync } from "node:fs";
import { readFile, rename, writeFile } from "node:fs/promises";

import { z } from "zod";

import { tokenFromEnv } from "../../core/api/auth.js";
import { NodeApiClient, type NodeApiError } from "../../core/api/client.js";
import { SettlenetError } from "../../core/errors.js";
import { readDeployment } from "../../core/protocol/deployment.js";
import { riskRulesDomain, riskRulesSigner, riskRulesWire, rulesHash, signRiskRules, signedRiskRules, type SignedRiskRules } from "../../core/protocol/risk-rules.js";
import { loadKey, parse, printResult, validate } from "./args.js";
import { unchanged, type ActionResult } from "../../core/operator/chain.js";

const USAGE =
  "usage: settlenet risk-rules sign --rules <rules.json> --version <n> --out <signed.json> --deployment <file> --key <governance keystore> [--password-env <VAR>] | " +
  "submit --node <api url> --file <signed.json> | show --node <api url>; node credential in SETTLENET_NODE_TOKEN; [--json]";

const nodeUrl = z.url({ protocol: /^https?$/ });

async function readJson(file: string, what: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(file, "utf8"));
  } catch (error) {
    throw new SettlenetError("FILE_UNREADABLE", `cannot read ${what} ${file}: ${(error as Error).message}`, { file });
  }
}

/** Validates `value` with `schema`; RISK_RULES_INVALID names the file and each bad field. */
function parseFile<S extends z.ZodType>(schema: S, value: unknown, file: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const fields = result.error.issues.map((issue) => `${issue.path.join(".") || "(root)"}: ${issue.message}`);
  throw new SettlenetError("RISK_RULES_INVALID", `${file}: ${fields.join("; ")}`, { file, fields: result.error.issues.map((i) => i.path.join(".")) });
}

/** Signs the rules in `rulesFile` as `version`; done if `out` already holds exactly that signed document. */
export async function signRiskRulesFile(params: { rulesFile: string; version: number; out: string; deploymentFile: string; key: string; passwordEnv: string }): Promise<ActionResult> {
  const rules = parseFile(riskRulesWire, await readJson(params.rulesFile, "rules file"), params.rulesFile);
  const deployment = await readDeployment(params.deploymentFile).catch((error: unknown) => {
    throw new SettlenetError("DEPLOYMENT_UNREADABLE", `cannot use deployment file ${params.deploymentFile}: ${(error as Error).message.split("\n")[0]}`, { deploymentFile: params.deploymentFile });
  });
  const domain = riskRulesDomain(BigInt(deployment.chainId), deployment.contracts.registry);
  const wallet = await loadKey(params.key, params.passwordEnv);
  const summary = `risk rules version ${params.version} (rules ${rulesHash(rules)}) signed by ${wallet.address} in ${params.out}`;
  if (existsSync(params.out)) {
    const existing = signedRiskRules.safeParse(await readJson(params.out, "signed document"));
    const same =
      existing.success &&
      existing.data.document.version === params.version &&
      rulesHash(existing.data.document.rules) === rulesHash(rules) &&
      riskRulesSigner(existing.data, domain) === wallet.address;
    if (same) return unchanged(summary);
    throw new SettlenetError("FILE_EXISTS", `${params.out} exists and holds another document; choose another --out`, { file: params.out });
  }
  const signed = await signRiskRules(wallet, { version: params.version, rules }, domain);
  await writeFile(`${params.out}.tmp`, `${JSON.stringify(signed, null, 2)}\n`);
  await rename(`${params.out}.tmp`, params.out);
  return { changed: true, summary };
}

/** Submits a signed document; done if the node already applies exactly it. */
export async function submitRiskRules(node: NodeApiClient, signed: SignedRiskRules): Promise<ActionResult> {
  const hash = rulesHash(signed.document.rules);
  const summary = `node applies risk rules version ${signed.document.version} (rules ${hash})`;
  try {
    await node.putRiskRules(signed);
    return { changed: true, summary };
  } catch (error) {
    if ((error as NodeApiError).code !== "RISK_RULES_STALE") throw error;
    const applied = await node.riskRules();
    if (applied.version === signed.document.version && applied.rulesHash === hash) return unchanged(summary);
    throw error;
  }
}

/** Runs `settlenet risk-rules <command> …`. */
export async function riskRulesCommand(args: string[]): Promise<void> {
  const [command, ...rest] = args;
  const values = parse(
    rest,
    {
      rules: { type: "string" },
      version: { type: "string" },
      out: { type: "string" },
      deployment: { type: "string" },
      key: { type: "string" },
      "password-env": { type: "string" },
      node: { type: "string" },
      file: { type: "string" },
      json: { type: "boolean" },
    },
    USAGE,
  );
  const { json: _json, ...own } = values;
  const json = values.json === true;
  if (command === "sign") {
    const p = validate(
      z.strictObject({
        rules: z.string().min(1),
        version: z.coerce.number<string>().int().positive().max(Number.MAX_SAFE_INTEGER),
        out: z.string().min(1),
        deployment: z.string().min(1),
        key: z.string().min(1),
        "password-env": z.string().min(1).default("SETTLENET_KEY_PASSWORD"),
      }),
      own,
    );
    const result = await signRiskRulesFile({ rulesFile: p.rules, version: p.version, out: p.out, deploymentFile: p.deployment, key: p.key, passwordEnv: p["password-env"] });
    return printResult(result, json);
  }
  if (command === "submit" || command === "show") {
    const p = validate(z.strictObject({ node: nodeUrl, file: command === "submit" ? z.string().min(1) : z.undefined().optional() }), own);
    const token = tokenFromEnv();
    if (!token) throw new SettlenetError("USAGE", `set SETTLENET_NODE_TOKEN to the node credential (operator role to submit); ${USAGE}`);
    const node = new NodeApiClient({ baseUrl: p.node, timeoutMs: 30_000, credentials: token });
    if (command === "show") {
      const view = await node.riskRules();
      process.stdout.write(json ? `${JSON.stringify(view)}\n` : `risk rules version ${view.version} (${view.source}${view.signer ? `, signed by ${view.signer}` : ""}${view.rulesHash ? `, rules ${view.rulesHash}` : ""})\n${JSON.stringify(view.signed?.document.rules ?? null, null, 2)}\n`);
      return;
    }
    const file = p.file ?? "";
    const signed = parseFile(signedRiskRules, await readJson(file, "signed document"), file);
    return printResult(await submitRiskRules(node, signed), json);
  }
  throw new SettlenetError("USAGE", USAGE);
}
