/**
 * `settlenet gateway …` and the gateway's reports (dispatched from scripts/settlenet.ts):
 *   gateway start --config <file>
 *   gateway merchant add --config <file> --id <id> [--name <name>] (--private-key-env <VAR> | --generate-key)
 *   gateway merchant list|suspend|reactivate --config <file> [--merchant <id>]
 *   gateway keys create|rotate|revoke|list --config <file> --merchant <id> [--overlap <seconds>] [--key <key id>]
 *   gateway admin credential add --config <file> --id <id>
 *   gateway audit verify|list --config <file>
 *   gateway user create-owner --config <file> --merchant <id> --email <e> [--password-file <file>]
 *   gateway totp --secret-file <file>   (the current code of a TOTP secret, for the local demo)
 *   report reconcile …   (cli/reconcile-report.ts: the dropped-order repairs)
 *   report threeway …    (cli/threeway-report.ts: gateway vs chain vs bank)
 * Admin commands open the gateway database directly when the gateway is stopped (LevelDB allows one
 * process); while it runs (STORAGE_LOCKED) they go through its admin API with an admin credential
 * (`--admin-token-file` or SETTLENET_GATEWAY_ADMIN_TOKEN). Either way the change lands in the audit
 * log. They print JSON; a new key's secret, a new admin token, an owner's one-time invitation link
 * and TOTP enrolment URI are printed once, only here.
 */
import { readFile } from "node:fs/promises";
import { userInfo } from "node:os";
import { parseArgs } from "node:util";

import { Wallet } from "ethers";
import { pino } from "pino";
import { z } from "zod";

import { SettlenetError } from "../core/errors.js";
import { serverUrl } from "../core/http/tls.js";
import { stopOnSignal } from "../core/lifecycle.js";
import { loadGatewayConfig, type GatewayConfig } from "./config.js";
import { issueAdminCredential } from "./domain/admin-credentials.js";
import { LOCAL_ADMIN, addMerchant, createApiKey, listApiKeys, revokeApiKey, rotateApiKeys, setMerchantStatus, type AdminModules } from "./domain/merchants.js";
import { secretBoxFromEnv } from "./domain/secrets.js";
import { base32Decode, totpCode } from "../core/auth/totp.js";
import { createOwner, emailSchema, passwordSchema } from "./domain/users.js";
import { gatewayDbDir, startGateway } from "./server.js";
import { openGatewayStorage, type GatewayStorage } from "./storage/db.js";

export const GATEWAY_USAGE = [
  "settlenet gateway start --config <file>",
  "settlenet gateway merchant add --config <file> --id <id> [--name <name>] (--private-key-env <VAR> | --generate-key)",
  "settlenet gateway merchant list|suspend|reactivate --config <file> [--merchant <id>]",
  "settlenet gateway keys create|rotate|revoke|list --config <file> --merchant <id> [--overlap <seconds>] [--key <key id>]",
  "settlenet gateway admin credential add --config <file> --id <id>",
  "settlenet gateway audit verify|list --config <file>",
  "settlenet gateway user create-owner --config <file> --merchant <id> --email <e> [--password-file <file>]",
  "settlenet gateway totp --secret-file <file>",
  "(while the gateway runs: --admin-token-file <file> or SETTLENET_GATEWAY_ADMIN_TOKEN)",
].join("\n       ");

/** The environment variable an admin token may be given in. */
export const ADMIN_TOKEN_ENV = "SETTLENET_GATEWAY_ADMIN_TOKEN";
const DEFAULT_OVERLAP_SECONDS = 86_400;

function usage(): SettlenetError {
  return new SettlenetError("USAGE", `usage: ${GATEWAY_USAGE}`);
}

/** One admin command, run either on the database (gateway stopped) or through the admin API (gateway running). */
interface AdminCommand {
  offline(storage: GatewayStorage, modules: AdminModules): Promise<unknown>;
  /** Method, path under /admin/v1 and body; absent if the command needs the database (merchant add). */
  online?: { method: "GET" | "POST"; path: string; body?: unknown; then?: (answer: Record<string, unknown>) => unknown };
}

/** Runs one `settlenet gateway` command (`args`: the words after `gateway`), or `report reconcile|threeway …`. */
export async function gatewayCommand(args: string[], out: (line: string) => void = (line) => process.stdout.write(`${line}\n`)): Promise<void> {
  const [first, second] = args;
  if (first === "report" && second === "reconcile") {
    const { reconcileReportCommand } = await import("./cli/reconcile-report.js");
    return reconcileReportCommand(args.slice(2));
  }
  if (first === "report" && second === "threeway") {
    const { threeWayReportCommand } = await import("./cli/threeway-report.js");
    return threeWayReportCommand(args.slice(2));
  }
  if (first === "start") return start(args.slice(1));
  if (first === "totp") return printTotp(args.slice(1), out);
  if (first !== "merchant" && first !== "keys" && first !== "admin" && first !== "audit" && first !== "user") throw usage();
  const rest = first === "admin" ? args.slice(3) : args.slice(2);
  const { values } = parseArgs({
    args: rest,
    options: {
      config: { type: "string", short: "c" },
      id: { type: "string" },
      name: { type: "string" },
      "private-key-env": { type: "string" },
      "generate-key": { type: "boolean" },
      merchant: { type: "string" },
      key: { type: "string" },
      overlap: { type: "string" },
      "admin-token-file": { type: "string" },
      email: { type: "string" },
      "password-file": { type: "string" },
    },
    strict: true,
  });
  if (!values.config) throw usage();
  const config = await loadGatewayConfig(values.config);
  const print = (value: unknown) => out(JSON.stringify(value, null, 2));

  if (first === "admin") {
    if (second !== "credential" || args[2] !== "add" || !values.id) throw usage();
    if (!config.admin) throw new SettlenetError("ADMIN_NOT_CONFIGURED", "the gateway config has no admin.credentialsFile", {});
    return print(await issueAdminCredential(config.admin.credentialsFile, values.id));
  }

  const command = first === "user" ? await userCommand(second, values, config) : adminCommand(first, second, values);
  let storage: GatewayStorage;
  try {
    storage = await openGatewayStorage(gatewayDbDir(config));
  } catch (error) {
    if (!(error instanceof SettlenetError && error.code === "STORAGE_LOCKED") || !command.online) throw error;
    const answer = await viaAdminApi(config, command.online, values["admin-token-file"]);
    return print(command.online.then ? command.online.then(answer as Record<string, unknown>) : answer);
  }
  try {
    const by = { actor: `local:${userInfo().username}`, role: "admin" };
    return print(await command.offline(storage, { storage, secrets: secretBoxFromEnv(config.masterKeyEnv), by }));
  } finally {
    await storage.close();
  }
}

function adminCommand(first: string | undefined, second: string | undefined, values: Record<string, string | boolean | undefined>): AdminCommand {
  const str = (name: string) => (typeof values[name] === "string" ? (values[name] as string) : undefined);
  if (first === "audit") {
    if (second === "verify") return { offline: (storage) => storage.audit.verify(), online: { method: "GET", path: "/audit/verify" } };
    if (second === "list") return { offline: async (storage) => (await storage.audit.list({ limit: 10_000 })).entries, online: { method: "GET", path: "/audit?limit=500" } };
    throw usage();
  }
  if (first === "merchant" && second === "add") {
    const id = str("id");
    if (!id) throw usage();
    return {
      offline: (_storage, modules) => {
        let privateKey: string;
        if (values["generate-key"]) {
          privateKey = Wallet.createRandom().privateKey;
        } else {
          const env = str("private-key-env");
          const value = env ? process.env[env] : undefined;
          if (!env || !value) throw new SettlenetError("USAGE", "give --generate-key, or --private-key-env naming a variable that holds the merchant's private key");
          privateKey = value;
        }
        const name = str("name");
        return addMerchant({ id, ...(name ? { name } : {}), privateKey }, modules);
      },
    };
  }
  if (first === "merchant" && second === "list") {
    return { offline: async (storage) => (await storage.merchants.list()).map((m) => ({ id: m.id, name: m.name, address: m.address, status: m.status })), online: { method: "GET", path: "/merchants" } };
  }
  const merchantId = str("merchant");
  if (!merchantId) throw usage();
  const m = encodeURIComponent(merchantId);
  const known = async (storage: GatewayStorage) => {
    if (!(await storage.merchants.get(merchantId))) throw new SettlenetError("MERCHANT_NOT_FOUND", `no merchant ${merchantId}`, { merchantId });
  };
  if (first === "merchant" && (second === "suspend" || second === "reactivate")) {
    return { offline: (_storage, modules) => setMerchantStatus(merchantId, second === "suspend" ? "suspended" : "active", modules), online: { method: "POST", path: `/merchants/${m}/${second}` } };
  }
  if (first !== "keys") throw usage();
  switch (second) {
    case "create":
      return {
        offline: async (storage, modules) => {
          await known(storage);
          const { retired: _none, ...key } = await createApiKey(merchantId, modules);
          return key;
        },
        online: { method: "POST", path: `/merchants/${m}/keys` },
      };
    case "rotate": {
      const overlap = str("overlap") === undefined ? DEFAULT_OVERLAP_SECONDS : Number(str("overlap"));
      return {
        offline: async (storage, modules) => {
          await known(storage);
          return rotateApiKeys(merchantId, overlap, modules);
        },
        online: { method: "POST", path: `/merchants/${m}/keys/rotate`, body: { overlapSeconds: overlap } },
      };
    }
    case "revoke": {
      const keyId = str("key");
      if (!keyId) throw usage();
      return { offline: (_storage, modules) => revokeApiKey(merchantId, keyId, modules), online: { method: "POST", path: `/merchants/${m}/keys/${encodeURIComponent(keyId)}/revoke` } };
    }
    case "list":
      return {
        offline: async (storage, modules) => {
          await known(storage);
          return listApiKeys(merchantId, modules);
        },
        online: { method: "GET", path: `/merchants/${m}/keys` },
      };
    default:
      throw usage();
  }
}

/**
 * `user create-owner`: with --password-file, an enrolled owner (the otpauth:// URI printed once);
 * without, an invitation whose one-time link is printed once.
 */
async function userCommand(second: string | undefined, values: Record<string, string | boolean | undefined>, config: GatewayConfig): Promise<AdminCommand> {
  const merchantId = typeof values["merchant"] === "string" ? values["merchant"] : undefined;
  const email = typeof values["email"] === "string" ? values["email"] : undefined;
  if (second !== "create-owner" || !merchantId || !email) throw usage();
  const passwordFile = values["password-file"];
  const password = typeof passwordFile === "string" ? (await readFile(passwordFile, "utf8")).replace(/\r?\n$/, "") : undefined;
  const parsed = z.strictObject({ email: emailSchema, password: passwordSchema.optional() }).safeParse({ email, password });
  if (!parsed.success) throw new SettlenetError("MALFORMED", parsed.error.issues.map((i) => i.message).join("; "), {});
  const link = (shown: Record<string, unknown>) => {
    if (typeof shown["invitationToken"] !== "string") return shown;
    const host = config.host === "0.0.0.0" || config.host === "::" ? "127.0.0.1" : config.host;
    // In the fragment, so the token never reaches a server log or a Referer header.
    return { ...shown, link: `${serverUrl(host, config.port, config.tls !== undefined)}/dashboard/invite#token=${shown["invitationToken"]}` };
  };
  return {
    offline: async (storage, modules) => {
      const created = await createOwner(merchantId, parsed.data, modules.by ?? LOCAL_ADMIN, { storage, secrets: modules.secrets, now: Date.now }, { invitationTtlSeconds: config.dashboard.invitationTtlSeconds });
      const { totpSecret: _secret, ...shown } = "totpSecret" in created ? created : { ...created, totpSecret: undefined };
      return link(shown);
    },
    online: { method: "POST", path: `/merchants/${encodeURIComponent(merchantId)}/owners`, body: parsed.data, then: link },
  };
}

/** Prints the current code of the TOTP secret in a file (raw base32, or JSON with `totpSecret`). */
async function printTotp(args: string[], out: (line: string) => void): Promise<void> {
  const { values } = parseArgs({ args, options: { "secret-file": { type: "string" } }, strict: true });
  if (!values["secret-file"]) throw usage();
  const text = (await readFile(values["secret-file"], "utf8")).trim();
  const secret = text.startsWith("{") ? (JSON.parse(text) as { totpSecret?: unknown }).totpSecret : text;
  if (typeof secret !== "string" || !base32Decode(secret)) throw new SettlenetError("MALFORMED", `${values["secret-file"]} holds no base32 TOTP secret`, {});
  out(totpCode(secret, Date.now()));
}

/** Sends an admin command to the running gateway; a refusal is thrown with the gateway's code. */
async function viaAdminApi(config: GatewayConfig, call: NonNullable<AdminCommand["online"]>, tokenFile: string | undefined): Promise<unknown> {
  const token = tokenFile ? (await readFile(tokenFile, "utf8")).trim() : process.env[ADMIN_TOKEN_ENV];
  if (!token) {
    throw new SettlenetError("ADMIN_TOKEN_MISSING", `the gateway is running (its database is locked): give an admin credential with --admin-token-file or ${ADMIN_TOKEN_ENV}`, {});
  }
  const host = config.host === "0.0.0.0" || config.host === "::" ? "127.0.0.1" : config.host;
  // HTTPS when the gateway serves it (the CLI trusts a private CA through NODE_EXTRA_CA_CERTS, as every client here).
  const url = `${serverUrl(host, config.port, config.tls !== undefined)}/admin/v1${call.path}`;
  const response = await fetch(url, {
    method: call.method,
    headers: { authorization: `Bearer ${token}`, ...(call.body !== undefined ? { "content-type": "application/json" } : {}) },
    ...(call.body !== undefined ? { body: JSON.stringify(call.body) } : {}),
    signal: AbortSignal.timeout(15_000),
  });
  const body = (await response.json()) as { code?: string; title?: string; items?: unknown; entries?: unknown };
  if (!response.ok) throw new SettlenetError(body.code ?? "ADMIN_API_FAILED", `the gateway refused: ${body.title ?? response.status}`, { status: response.status });
  return body.items !== undefined && (call.path.startsWith("/audit?") || call.path.endsWith("/keys") || call.path === "/merchants") ? body.items : body;
}

async function start(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { config: { type: "string", short: "c" } }, strict: true });
  if (!values.config) throw usage();
  const config = await loadGatewayConfig(values.config);
  const logger = pino({ level: config.logLevel, base: { role: "gateway" } });
  const gateway = await startGateway(config, { logger });
  stopOnSignal(logger, () => gateway.stop());
}
