/**
 * `settlenet keys …` and `settlenet node id`: operator keystores (encrypted ethers JSON keystores; the
 * password comes from an environment variable or is asked for without echo) and what a node's
 * operator registers: its address and its libp2p peer id, known before any registration.
 *   settlenet keys create --out <file> [--password-env <VAR>] [--import-env <VAR holding a private key>]
 *   settlenet keys address --key <file>
 *   settlenet node id --config <node.json>     (creates the peer key if the node has none yet)
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";

import { Wallet, getAddress } from "ethers";
import { z } from "zod";

import { SettlenetError } from "../../core/errors.js";
import { writeOperatorKeystore } from "../../core/keys.js";
import { parse, promptPassword, validate } from "./args.js";
import { unchanged, type ActionResult } from "../../core/operator/chain.js";

const print = (line: string) => process.stdout.write(`${line}\n`);

/** The address a keystore file is for (read from the file, no password needed). */
export async function keystoreAddress(file: string): Promise<string> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, "utf8"));
  } catch (error) {
    throw new SettlenetError("KEY_FILE_UNREADABLE", `cannot read key file ${file}: ${(error as Error).message}`, { file });
  }
  const parsed = z.object({ address: z.string().regex(/^(0x)?[0-9a-fA-F]{40}$/) }).safeParse(json);
  if (!parsed.success) throw new SettlenetError("KEY_FILE_INVALID", `${file} is not an ethers JSON keystore (no address)`, { file });
  return getAddress(parsed.data.address.startsWith("0x") ? parsed.data.address : `0x${parsed.data.address}`);
}

/**
 * Writes a new keystore at `out` (a fresh random key, or `privateKey`); done if `out` already holds
 * that key (or, without `privateKey`, any key: an existing keystore is never overwritten).
 */
export async function createKeystore(params: { out: string; password: string; privateKey?: string | undefined; fast?: boolean }): Promise<ActionResult & { address: string }> {
  const wanted = params.privateKey ? new Wallet(params.privateKey).address : undefined;
  if (existsSync(params.out)) {
    const existing = await keystoreAddress(params.out);
    if (wanted && wanted !== existing) throw new SettlenetError("KEYSTORE_EXISTS", `${params.out} holds the key of ${existing}, not ${wanted}; choose another file`, { file: params.out, address: existing });
    return { ...unchanged(`${params.out} holds the key of ${existing}`), address: existing };
  }
  const key = params.privateKey ?? Wallet.createRandom().privateKey;
  const address = await writeOperatorKeystore(params.out, key, params.password, params.fast ?? false);
  return { changed: true, summary: `wrote ${params.out}: the encrypted key of ${address}`, address };
}

/** The password for a new keystore: from `env`, or typed twice at a prompt. */
async function newPassword(env: string): Promise<string> {
  const value = process.env[env];
  if (value) return value;
  if (!process.stdin.isTTY) throw new SettlenetError("KEY_PASSWORD_MISSING", `environment variable ${env} must hold the new keystore's password (or run in a terminal to be asked)`, { passwordEnv: env });
  const first = await promptPassword("new keystore password: ");
  if (first.length < 8) throw new SettlenetError("KEY_PASSWORD_WEAK", "the password must have at least 8 characters");
  if ((await promptPassword("repeat the password: ")) !== first) throw new SettlenetError("KEY_PASSWORD_MISMATCH", "the two passwords differ");
  return first;
}

/** Runs `settlenet keys create|address …`. */
export async function keysCommand(args: string[]): Promise<void> {
  const [command, ...rest] = args;
  const usage = "usage: settlenet keys create --out <file> [--password-env <VAR>] [--import-env <VAR>] [--json] | keys address --key <file>";
  const values = parse(rest, { out: { type: "string" }, "password-env": { type: "string" }, "import-env": { type: "string" }, key: { type: "string" }, json: { type: "boolean" } }, usage);
  if (command === "create") {
    const p = validate(z.strictObject({ out: z.string().min(1), "password-env": z.string().min(1).default("SETTLENET_KEY_PASSWORD"), "import-env": z.string().min(1).optional() }), {
      out: values.out,
      "password-env": values["password-env"],
      "import-env": values["import-env"],
    });
    let privateKey: string | undefined;
    if (p["import-env"]) {
      privateKey = process.env[p["import-env"]];
      const valid = privateKey !== undefined && /^(0x)?[0-9a-fA-F]{64}$/.test(privateKey);
      if (!valid) throw new SettlenetError("INVALID_ARGUMENT", `environment variable ${p["import-env"]} must hold a private key (32 bytes in hex)`, { env: p["import-env"] });
      if (!privateKey?.startsWith("0x")) privateKey = `0x${privateKey}`;
    }
    const password = existsSync(p.out) ? "" : await newPassword(p["password-env"]);
    const result = await createKeystore({ out: p.out, password, privateKey });
    print(values.json ? JSON.stringify(result) : result.changed ? `${result.summary}` : `${result.summary}: already exists, nothing changed`);
    return;
  }
  if (command === "address") {
    if (!values.key) throw new SettlenetError("USAGE", usage);
    print(await keystoreAddress(values.key));
    return;
  }
  throw new SettlenetError("USAGE", usage);
}

/** What `settlenet node id` prints. */
export interface NodeIdentity {
  role: "institution" | "regulator";
  address: string;
  peerId: string;
  peerKeyFile: string;
  /** True if this command created the peer key. */
  peerKeyCreated: boolean;
}

/** The node's operator address (from its keystore) and peer id (its peer key, created if missing). */
export async function nodeIdentity(configFile: string): Promise<NodeIdentity> {
  const { loadNodeConfig } = await import("../../node/config.js");
  const { loadOrCreatePeerKey, peerIdOf } = await import("../../node/p2p/keys.js");
  const config = await loadNodeConfig(configFile);
  const address = await keystoreAddress(config.keyFile);
  const existed = existsSync(config.peerKeyFile);
  const peerId = peerIdOf(await loadOrCreatePeerKey(config.peerKeyFile));
  return { role: config.role, address, peerId, peerKeyFile: config.peerKeyFile, peerKeyCreated: !existed };
}

/** Runs `settlenet node id --config <file>`. */
export async function nodeIdCommand(args: string[]): Promise<void> {
  const usage = "usage: settlenet node id --config <node.json> [--json]";
  const values = parse(args, { config: { type: "string", short: "c" }, json: { type: "boolean" } }, usage);
  if (!values.config) throw new SettlenetError("USAGE", usage);
  const id = await nodeIdentity(values.config);
  if (values.json) {
    print(JSON.stringify(id));
    return;
  }
  print(`role      ${id.role}`);
  print(`address   ${id.address}`);
  print(`peer id   ${id.peerId}${id.peerKeyCreated ? `   (new peer key written to ${id.peerKeyFile})` : ""}`);
  print(`register  settlenet ${id.role} register --address ${id.address} --peer-id ${id.peerId} --name <name>   (governance key)`);
}
