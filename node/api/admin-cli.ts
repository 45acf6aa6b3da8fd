/**
 * Operators' commands on a node's API credentials and audit log:
 *   settlenet node credentials create --role <gateway|regulator|operator|arbiter|metrics> --name <name> (--config <node.json> | --file <credentials file>)
 *     prints the token once (it is stored only hashed); works while the node runs (it reloads the file).
 *   settlenet node credentials list (--config | --file)        ids, names, roles, states; never secrets
 *   settlenet node credentials revoke <id or name> (--config | --file)   refused from the node's next request on
 *   settlenet node user create --email <e> --role <regulator|operator|arbiter> --password-file <file> (--config <node.json> | --node-dir <dir>)
 *     a person who signs in to the API (POST /v1/session); prints the TOTP enrolment URI once.
 *   settlenet node user list | remove <id or e-mail> (--config | --node-dir)
 *     the users live in the node's database, which LevelDB locks while the node runs: stop it first.
 *   settlenet node audit verify (--config <node.json> | --node <api url>)
 *     walks the node's audit log (its database if the node is stopped, else GET /v1/admin/audit with the
 *     operator or regulator token in SETTLENET_NODE_TOKEN); exits non-zero naming the first broken entry.
 */
import { readFile } from "node:fs/promises";
import { userInfo } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";

import { nodeApiRoleSchema, nodeUserRoleSchema, tokenFromEnv } from "../../core/api/auth.js";
import { NodeApiClient } from "../../core/api/client.js";
import { AuditChainWalk, type AuditVerification } from "../../core/audit/log.js";
import { SettlenetError } from "../../core/errors.js";
import { nodeRefused, nodeTarget } from "../cli-target.js";
import { openStorage } from "../storage/db.js";
import { createCredential, readCredentials, revokeCredential } from "./credentials.js";
import { createUser, loadOrCreateUserSecrets, removeUser, userView } from "./users.js";

export const ADMIN_USAGE =
  "usage: settlenet node credentials create --role <gateway|regulator|operator|arbiter|metrics> --name <name> | list | revoke <id|name>  (--config <node.json> | --file <credentials file>);  settlenet node audit verify (--config <node.json> | --node <api url>)";

export const USER_USAGE =
  "usage: settlenet node user create --email <e> --role <regulator|operator|arbiter> --password-file <file> | list | remove <id|e-mail>  (--config <node.json> | --node-dir <dir holding node.json>)";

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

/** `settlenet node user …` against the stopped node's database; prints JSON lines. */
export async function userCommand(args: string[], print: (line: string) => void = (line) => process.stdout.write(`${line}\n`)): Promise<void> {
  const [command, ...rest] = args;
  const { values, positionals } = parseArgs({
    args: rest,
    options: { config: { type: "string", short: "c" }, "node-dir": { type: "string" }, email: { type: "string" }, role: { type: "string" }, "password-file": { type: "string" } },
    allowPositionals: true,
    strict: true,
  });
  const configFile = values.config ?? (values["node-dir"] ? join(values["node-dir"], "node.json") : undefined);
  if (!configFile || !["create", "list", "remove"].includes(command ?? "")) throw new SettlenetError("USAGE", USER_USAGE);
  const { loadNodeConfig } = await import("../config.js");
  const config = await loadNodeConfig(configFile);
  let storage;
  try {
    storage = await openStorage(join(config.dataDir, "db"));
  } catch (error) {
    if (error instanceof SettlenetError && error.code === "STORAGE_LOCKED") {
      throw new SettlenetError("NODE_RUNNING", "the node's database is in use: stop the node, then manage its users", { dataDir: config.dataDir }, { cause: error });
    }
    throw error;
  }
  try {
    const by = localActor();
    if (command === "create") {
      const role = nodeUserRoleSchema.safeParse(values.role);
      const passwordFile = values["password-file"];
      if (!role.success || !values.email || !passwordFile) throw new SettlenetError("USAGE", USER_USAGE);
      const password = (await readFile(passwordFile, "utf8")).replace(/\r?\n$/, "");
      const secrets = await loadOrCreateUserSecrets(config.api.userSecretsKeyFile);
      const created = await createUser({ email: values.email, role: role.data, password }, by, { users: storage.users, secrets, now: Date.now });
      print(JSON.stringify({ ...created, note: "enrol the authenticator app from otpauthUri now: it is shown once" }));
      return;
    }
    if (command === "list") {
      for (const user of await storage.users.list()) print(JSON.stringify(userView(user)));
      return;
    }
    const [target] = positionals;
    if (!target) throw new SettlenetError("USAGE", USER_USAGE);
    print(JSON.stringify({ ...(await removeUser(target, by, { users: storage.users })), state: "removed" }));
  } finally {
    await storage.close();
  }
}
