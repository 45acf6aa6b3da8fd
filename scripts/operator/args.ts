/**
 * Command-line plumbing of the operator commands: options parsed with node's parseArgs, values
 * validated with zod (an INVALID_ARGUMENT error names every bad option), the common options (--rpc,
 * --deployment, --key, --password-env, --json), keystore passwords from the environment or a prompt
 * that does not echo, and one output line per result.
 */
import { parseArgs, type ParseArgsConfig } from "node:util";

import type { Wallet} from "ethers";
import { type HDNodeWallet } from "ethers";
import { z } from "zod";

import { SettlenetError } from "../../core/errors.js";
import { loadOperatorWallet } from "../../core/keys.js";
import { readDeployment } from "../../core/protocol/deployment.js";
import { actorOf, describeResult, openChain, type ActionResult, type Actor, type OperatorChain } from "../../core/operator/chain.js";

export const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/, "expected a 0x-prefixed 20-byte address");
export const peerId = z.string().regex(/^[1-9A-HJ-NP-Za-km-z]{46,60}$/, "expected a libp2p peer id (base58, e.g. 12D3KooW…)");
/** A whole number of minor units as a decimal string. */
export const minorUnits = z.string().regex(/^\d{1,30}$/, "expected an amount in minor units (a whole number)").transform((s) => BigInt(s));
export const kycLevel = z.coerce.number().int().min(0).max(255);
export const feeBps = z.coerce.number().int().min(0).max(10_000);
export const name = z.string().min(1).max(100);

/** Options every chain command takes. */
export const CHAIN_OPTIONS = {
  rpc: { type: "string" },
  deployment: { type: "string" },
  key: { type: "string" },
  "password-env": { type: "string" },
  json: { type: "boolean" },
} as const satisfies ParseArgsConfig["options"];

export const CHAIN_USAGE = "--rpc <url> (or SETTLENET_RPC_URL) --deployment <file> (or SETTLENET_DEPLOYMENT) --key <keystore> [--password-env <VAR>, default SETTLENET_KEY_PASSWORD] [--json]";

/** Parses `args` against `options`; an unknown or malformed option is USAGE with `usage`. */
export function parse<const O extends NonNullable<ParseArgsConfig["options"]>>(args: string[], options: O, usage: string) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    throw new SettlenetError("USAGE", `${(error as Error).message}; ${usage}`);
  }
}

/** Validates option values with `schema`; INVALID_ARGUMENT names each bad option. */
export function validate<S extends z.ZodType>(schema: S, values: unknown): z.output<S> {
  const result = schema.safeParse(values);
  if (result.success) return result.data;
  const fields = result.error.issues.map((issue) => `--${issue.path.join(".") || "?"}: ${issue.message}`);
  throw new SettlenetError("INVALID_ARGUMENT", fields.join("; "), { fields: result.error.issues.map((issue) => issue.path.join(".")) });
}

/** Reads a password without echoing it (a TTY only). */
export async function promptPassword(question: string): Promise<string> {
  const input = process.stdin;
  if (!input.isTTY) throw new SettlenetError("KEY_PASSWORD_MISSING", `${question.trim()} needs a terminal; set the password in the environment instead`);
  process.stderr.write(question);
  input.setRawMode(true);
  input.resume();
  input.setEncoding("utf8");
  return new Promise((resolvePassword, reject) => {
    let typed = "";
    const done = (error?: Error) => {
      input.setRawMode(false);
      input.pause();
      input.off("data", onData);
      process.stderr.write("\n");
      if (error) reject(error);
      else resolvePassword(typed);
    };
    const onData = (chunk: string) => {
      for (const char of chunk) {
        if (char === "\r" || char === "\n") return done();
        if (char === "\u0003") return done(new SettlenetError("INTERRUPTED", "interrupted"));
        if (char === "\u007f" || char === "\b") typed = typed.slice(0, -1);
        else typed += char;
      }
    };
    input.on("data", onData);
  });
}

/** The password in environment variable `env`, or one typed at a prompt when it is unset. */
export async function passwordFrom(env: string, what: string): Promise<string> {
  const value = process.env[env];
  if (value !== undefined && value !== "") return value;
  if (!process.stdin.isTTY) throw new SettlenetError("KEY_PASSWORD_MISSING", `environment variable ${env} must hold the password of ${what} (or run the command in a terminal to be asked)`, { passwordEnv: env });
  return promptPassword(`password of ${what}: `);
}

/** Decrypts a keystore with the password from `passwordEnv` or a prompt. */
export async function loadKey(file: string, passwordEnv: string): Promise<Wallet | HDNodeWallet> {
  if (!process.env[passwordEnv] && process.stdin.isTTY) {
    const password = await promptPassword(`password of ${file}: `);
    process.env[passwordEnv] = password;
    try {
      return await loadOperatorWallet(file, passwordEnv);
    } finally {
      delete process.env[passwordEnv];
    }
  }
  return loadOperatorWallet(file, passwordEnv);
}

/** What a chain command runs with: the checked chain and the acting key. */
export interface CommandContext {
  chain: OperatorChain;
  actor: Actor;
  json: boolean;
  close(): void;
}

interface ChainValues {
  rpc?: string | undefined;
  deployment?: string | undefined;
  key?: string | undefined;
  "password-env"?: string | undefined;
  json?: boolean | undefined;
}

/** The chain and the acting key of a command; `needsKey` false for read-only commands. */
export async function commandContext(values: ChainValues, usage: string, needsKey = true): Promise<CommandContext & { actor: Actor | undefined }> {
  const rpc = values.rpc ?? process.env["SETTLENET_RPC_URL"];
  const deploymentFile = values.deployment ?? process.env["SETTLENET_DEPLOYMENT"];
  if (!rpc || !deploymentFile || (needsKey && !values.key)) throw new SettlenetError("USAGE", `missing ${[!rpc && "--rpc", !deploymentFile && "--deployment", needsKey && !values.key && "--key"].filter(Boolean).join(", ")}; ${usage}`);
  validate(z.strictObject({ rpc: z.url({ protocol: /^https?$/ }) }), { rpc });
  const deployment = await readDeployment(deploymentFile).catch((error: unknown) => {
    throw new SettlenetError("DEPLOYMENT_UNREADABLE", `cannot use deployment file ${deploymentFile}: ${(error as Error).message.split("\n")[0]}`, { deploymentFile }, { cause: error });
  });
  const wallet = values.key ? await loadKey(values.key, values["password-env"] ?? "SETTLENET_KEY_PASSWORD") : undefined;
  const chain = await openChain(rpc, deployment, deploymentFile);
  const actor = wallet ? await actorOf(wallet.connect(chain.provider)) : undefined;
  return { chain, actor: actor as Actor, json: values.json === true, close: () => chain.provider.destroy() };
}

/** Prints a result: one line, or a JSON object with --json. */
export function printResult(result: ActionResult, json: boolean, out: (line: string) => void = (line) => process.stdout.write(`${line}\n`)): void {
  out(json ? JSON.stringify(result) : describeResult(result));
}

/** Runs `work` with the command's context and closes it afterwards. */
export async function withContext<T>(values: ChainValues, usage: string, work: (ctx: CommandContext) => Promise<T>, needsKey = true): Promise<T> {
  const ctx = await commandContext(values, usage, needsKey);
  try {
    return await work(ctx);
  } finally {
    ctx.close();
  }
}
