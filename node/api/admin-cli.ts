/**
 * Operators' commands on a node's API credentials and audit log:
 *   settlenet node credentials create --role <gateway|regulator|operator|arbiter|metrics> --name <name> (--config <node.json> | --file <credentials file>)
 *     prints the token once (it is stored only hashed); works while the node runs (it reloads the file).
 *   settlenet node credentials list (--config | --file)        ids, names, roles, states; never secrets
 *   settlenet node credentials revoke <id or name> (--config | --file)   refused from the node's next request on
 *   settlenet node user create --email <e> --role <regulator|operator|arbiter> --password-file <file> (--config <node.json> | --node-dir <dir>)
 *     a person who signs in to the API (POST /v1/session); prints the TOTP enrolment URI once.
 *   settlenet node user list | remove|disable|enable <id or e-mail> (--config | --node-dir)
 *     the users live in the node's database: while the node runs (LevelDB locks it) the commands go
 *     through its API (the address in the config, or --node <url>) with the operator token in
 *     SETTLENET_NODE_TOKEN, else straight to the database.
 *   settlenet node audit verify (--config <node.json> | --node <api url>)
 *     walks the node's audit log (its database if the node is stopped, else GET /v1/admin/audit with the
 *     operator or regulator token in SETTLENET_NODE_TOKEN); exits non-zero naming the first broken entry.
 */
import { readFile } from "node:fs/promises";
import { userInfo } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";

import { NODE_TOKEN_ENV, nodeApiRoleSchema, nodeUserRoleSchema, tokenFromEnv, type NodeUserRole } from "../../core/api/auth.js";
import { NodeApiClient } from "../../core/api/client.js";
import { AuditChainWalk, type AuditVerification } from "../../core/audit/log.js";
import { SettlenetError } from "../../core/errors.js";
import { nodeRefused, nodeTarget } from "../cli-target.js";
import { openStorage } from "../storage/db.js";
import { createCredential, readCredentials, revokeCredential } from "./credentials.js";
import { createUser, loadOrCreateUserSecrets, removeUser, setUserDisabled, userView } from "./users.js";

export const ADMIN_USAGE =
  "usage: settlenet node credentials create --role <gateway|regulator|operator|arbiter|metrics> --name <name> | list | revoke <id|name>  (--config <node.json> | --file <credentials file>);  settlenet node audit verify (--config <node.json> | --node <api url>)";

export const USER_USAGE =
  "usage: settlenet node user create --email <e> --role <regulator|operator|arbiter> --password-file <file> | list | remove|disable|enable <id|e-mail>  (--config <node.json> | --node-dir <dir holding node.json>) [--node <api url> while it runs]";

/** Who runs a command, as the audit log names them. */
const localActor = () => `cli:${userInfo().username}`;

async function credentialsFile(values: { config?: string | undefined; file?: string | undefined }): Promise<string> {
  if (values.config) {
    const { loadNodeConfig, credentialsFileOf } = await import("../config.js");
    return credentialsFileOf(await loadNodeConfig(values.config));
  }
  if (values.file) return values.file;
  throw new SettlenetError("USAGE", ADMIN_USAGE);
}

/** `settlenet node credentials …`; prints JSON lines. */
export async function credentialsCommand(args: string[], print: (line: string) => void = (line) => process.stdout.write(`${line}\n`)): Promise<void> {
  const [command, ...rest] = args;
  const { values, positionals } = parseArgs({
    args: rest,
    options: { config: { type: "string", short: "c" }, file: { type: "string" }, role: { type: "string" }, name: { type: "string" } },
    allowPositionals: true,
    strict: true,
  });
  const file = await credentialsFile(values);
  if (command === "create") {
    const role = nodeApiRoleSchema.safeParse(values.role);
    if (!role.success || !values.name) throw new SettlenetError("USAGE", ADMIN_USAGE);
    const { record, token } = await createCredential(file, { role: role.data, name: values.name, by: localActor() });
    print(JSON.stringify({ id: record.id, name: record.name, role: record.role, token, note: "shown once: the node keeps only its hash" }));
    return;
  }
  if (command === "list") {
    for (const c of await readCredentials(file)) {
      print(JSON.stringify({ id: c.id, name: c.name, role: c.role, state: c.revokedAtMs === undefined ? "active" : "revoked", createdAtMs: c.createdAtMs, createdBy: c.createdBy, ...(c.revokedAtMs === undefined ? {} : { revokedAtMs: c.revokedAtMs, revokedBy: c.revokedBy }) }));
    }
    return;
  }
  if (command === "revoke") {
    const [target] = positionals;
    if (!target) throw new SettlenetError("USAGE", ADMIN_USAGE);
    const revoked = await revokeCredential(file, { idOrName: target, by: localActor() });
    print(JSON.stringify({ id: revoked.id, name: revoked.name, role: revoked.role, state: "revoked" }));
    return;
  }
  throw new SettlenetError("USAGE", ADMIN_USAGE);
}

/** Walks every page of a running node's audit log, checking it here (the node's own verdict is not taken on trust). */
export async function verifyAuditLogOf(node: NodeApiClient): Promise<AuditVerification> {
  const walk = new AuditChainWalk();
  const entries: unknown[] = [];
  let after: number | undefined;
  let head: { seq: number; hash: string } | undefined;
  for (;;) {
    const page = await node.auditLog({ ...(after === undefined ? {} : { after }), limit: 1_000 });
    entries.push(...page.entries);
    head = page.head;
    if (page.next === undefined) break;
    after = page.next;
  }
  if (!head) throw new SettlenetError("INTERNAL", "no audit log page");
  // Entries appended after the last page's head was read are not covered by it.
  for (const entry of entries) {
    if ((entry as { seq: number }).seq > head.seq) break;
    const broken = walk.next(entry);
    if (broken) return broken;
  }
  return walk.end(head);
}

/** `settlenet node audit verify`: prints the outcome; AUDIT_LOG_BROKEN (non-zero exit) naming the entry if the chain breaks. */
export async function auditCommand(args: string[], print: (line: string) => void = (line) => process.stdout.write(`${line}\n`)): Promise<void> {
  const [command, ...rest] = args;
  const { values } = parseArgs({ args: rest, options: { config: { type: "string", short: "c" }, node: { type: "string" } }, strict: true });
  if (command !== "verify" || (!values.config && !values.node)) throw new SettlenetError("USAGE", ADMIN_USAGE);
  const { apiUrl, dataDir } = await nodeTarget(values, ADMIN_USAGE);
  let result: AuditVerification;
  let source = "api";
  try {
    result = await verifyAuditLogOf(new NodeApiClient({ baseUrl: apiUrl, credentials: tokenFromEnv() }));
  } catch (error) {
    // A stopped node: its database is not locked, walk it directly.
    if (!nodeRefused(error) || !dataDir) throw error;
    const storage = await openStorage(join(dataDir, "db"));
    try {
      result = await storage.audit.verify();
    } finally {
      await storage.close();
    }
    source = "database";
  }
  print(JSON.stringify({ source, ...result }));
  if (!result.ok) throw new SettlenetError("AUDIT_LOG_BROKEN", `audit log broken at entry ${result.brokenAt}: ${result.reason}`, { brokenAt: result.brokenAt });
}

/**
 * `settlenet node user …`; prints JSON lines. Against the node's database when the node is stopped;
 * while it runs (LevelDB locked) through its API with the operator credential in SETTLENET_NODE_TOKEN.
 */
export async function userCommand(args: string[], print: (line: string) => void = (line) => process.stdout.write(`${line}\n`)): Promise<void> {
  const [command, ...rest] = args;
  const { values, positionals } = parseArgs({
    args: rest,
    options: { config: { type: "string", short: "c" }, "node-dir": { type: "string" }, node: { type: "string" }, email: { type: "string" }, role: { type: "string" }, "password-file": { type: "string" } },
    allowPositionals: true,
    strict: true,
  });
  const configFile = values.config ?? (values["node-dir"] ? join(values["node-dir"], "node.json") : undefined);
  if (!configFile || !USER_COMMANDS.includes(command ?? "")) throw new SettlenetError("USAGE", USER_USAGE);
  const [target] = positionals;
  if (command !== "create" && command !== "list" && !target) throw new SettlenetError("USAGE", USER_USAGE);
  const readCreation = async () => {
    const role = nodeUserRoleSchema.safeParse(values.role);
    const passwordFile = values["password-file"];
    if (!role.success || !values.email || !passwordFile) throw new SettlenetError("USAGE", USER_USAGE);
    return { email: values.email, role: role.data, password: (await readFile(passwordFile, "utf8")).replace(/\r?\n$/, "") };
  };
  const { loadNodeConfig } = await import("../config.js");
  const config = await loadNodeConfig(configFile);
  let storage;
  try {
    storage = await openStorage(join(config.dataDir, "db"));
  } catch (error) {
    if (!(error instanceof SettlenetError) || error.code !== "STORAGE_LOCKED") throw error;
    const token = tokenFromEnv();
    if (!token) {
      throw new SettlenetError("NODE_RUNNING", `the node's database is in use: set ${NODE_TOKEN_ENV} to an operator credential to manage its users through its API, or stop the node`, { dataDir: config.dataDir }, { cause: error });
    }
    const { apiUrl } = await nodeTarget({ config: configFile, node: values.node }, USER_USAGE);
    await userCommandOnline(command as UserCommand, target, readCreation, new NodeApiClient({ baseUrl: apiUrl, credentials: token }), print);
    return;
  }
  try {
    const by = localActor();
    if (command === "create") {
      const input = await readCreation();
      const secrets = await loadOrCreateUserSecrets(config.api.userSecretsKeyFile);
      const created = await createUser(input, by, { users: storage.users, secrets, now: Date.now });
      print(JSON.stringify({ ...created, note: ENROL_NOTE }));
      return;
    }
    if (command === "list") {
      for (const user of await storage.users.list()) print(JSON.stringify(userView(user)));
      return;
    }
    if (command === "remove") {
      print(JSON.stringify({ ...(await removeUser(target as string, by, { users: storage.users })), state: "removed" }));
      return;
    }
    const view = await setUserDisabled(target as string, command === "disable", by, { users: storage.users, now: Date.now });
    print(JSON.stringify({ ...view, state: view.disabledAtMs === undefined ? "enabled" : "disabled" }));
  } finally {
    await storage.close();
  }
}

const USER_COMMANDS = ["create", "list", "remove", "disable", "enable"];
type UserCommand = "create" | "list" | "remove" | "disable" | "enable";
const ENROL_NOTE = "enrol the authenticator app from otpauthUri now: it is shown once";

/** The same commands through a running node's API (the node records the credential as the actor). */
async function userCommandOnline(
  command: UserCommand,
  target: string | undefined,
  readCreation: () => Promise<{ email: string; role: NodeUserRole; password: string }>,
  node: NodeApiClient,
  print: (line: string) => void,
): Promise<void> {
  if (command === "create") {
    print(JSON.stringify({ ...(await node.createNodeUser(await readCreation())), note: ENROL_NOTE }));
    return;
  }
  const users = await node.nodeUsers();
  if (command === "list") {
    for (const user of users) print(JSON.stringify(user));
    return;
  }
  const named = users.find((u) => u.id === target || u.email === target?.toLowerCase());
  if (!named) throw new SettlenetError("NODE_USER_NOT_FOUND", `no user ${target}`, { user: target ?? "" });
  if (command === "remove") {
    await node.removeNodeUser(named.id);
    print(JSON.stringify({ ...named, state: "removed" }));
    return;
  }
  const view = await node.setNodeUserDisabled(named.id, command === "disable");
  print(JSON.stringify({ ...view, state: view.disabledAtMs === undefined ? "enabled" : "disabled" }));
}
