/**
 * The node API's credentials: a JSON file (mode 0600, beside the node's config by default) listing
 * each credential's public id, name, role and the SHA-256 of its secret, never the secret itself.
 * `settlenet node credentials create|list|revoke` edits it, running node or not: the node looks at the
 * file's identity (inode, size, mtime) before authenticating a request (with one stat started after
 * the request arrived, shared by the requests that arrive while another is in flight) and reloads it
 * when it changed, so a revocation holds from the next request on. Every rewrite is a new file renamed
 * over the old one. A file that cannot be read or parsed authenticates nobody (fail closed).
 */
import { randomBytes } from "node:crypto";
import { open, readFile, rename, stat } from "node:fs/promises";
import { dirname } from "node:path";

import { z } from "zod";

import { nodeApiRoleSchema, newToken, parseToken, secretMatches, type NodeApiRole } from "../../core/api/auth.js";
import { SettlenetError } from "../../core/errors.js";

export const credentialRecordSchema = z.strictObject({
  id: z.string().regex(/^[0-9a-f]{16}$/),
  name: z.string().min(1).max(128),
  role: nodeApiRoleSchema,
  secretSha256: z.string().regex(/^[0-9a-f]{64}$/),
  createdAtMs: z.number().int().nonnegative(),
  createdBy: z.string(),
  revokedAtMs: z.number().int().nonnegative().optional(),
  revokedBy: z.string().optional(),
});
export type CredentialRecord = z.infer<typeof credentialRecordSchema>;

const fileSchema = z.strictObject({ version: z.literal(1), credentials: z.array(credentialRecordSchema) });

/** The caller a request was authenticated as: a bearer credential, or a signed-in user (node/api/users.ts). */
export interface Principal {
  kind: "credential" | "user";
  /** The credential's id or the user's id. */
  id: string;
  /** The credential's name or the user's e-mail address. */
  name: string;
  role: NodeApiRole;
}

/** How the audit log names a principal. */
export const actorOf = (principal: Principal) => `${principal.kind}:${principal.id}:${principal.name}`;

/** Reads the file; [] if it does not exist. */
export async function readCredentials(file: string): Promise<CredentialRecord[]> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
  const parsed = fileSchema.safeParse(JSON.parse(text));
  if (!parsed.success) throw new SettlenetError("CREDENTIALS_FILE_INVALID", `${file} is not a credentials file`, { file });
  return parsed.data.credentials;
}

/** Replaces the file with `credentials` (a new 0600 file, synced, renamed over the old one). */
async function writeCredentials(file: string, credentials: CredentialRecord[]): Promise<void> {
  const temp = `${file}.${randomBytes(4).toString("hex")}.tmp`;
  const handle = await open(temp, "wx", 0o600);
  try {
    await handle.writeFile(`${JSON.stringify({ version: 1, credentials }, null, 2)}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, file);
  const dir = await open(dirname(file), "r");
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/** Issues a credential: stores its hash and returns the token (the only time it exists in full). */
export async function createCredential(file: string, options: { role: NodeApiRole; name: string; by: string; nowMs?: number }): Promise<{ record: CredentialRecord; token: string }> {
  const credentials = await readCredentials(file);
  if (credentials.some((c) => c.name === options.name && c.revokedAtMs === undefined)) {
    throw new SettlenetError("CREDENTIAL_EXISTS", `a credential named ${options.name} exists; revoke it first or pick another name`, { name: options.name });
  }
  const { id, token, secretSha256 } = newToken();
  const record: CredentialRecord = { id, name: options.name, role: options.role, secretSha256, createdAtMs: options.nowMs ?? Date.now(), createdBy: options.by };
  await writeCredentials(file, [...credentials, record]);
  return { record, token };
}

/** Revokes a credential by id or name (CREDENTIAL_NOT_FOUND if none is active). */
export async function revokeCredential(file: string, options: { idOrName: string; by: string; nowMs?: number }): Promise<CredentialRecord> {
  const credentials = await readCredentials(file);
  const index = credentials.findIndex((c) => c.revokedAtMs === undefined && (c.id === options.idOrName || c.name === options.idOrName));
  const current = credentials[index];
  if (!current) throw new SettlenetError("CREDENTIAL_NOT_FOUND", `no active credential ${options.idOrName}`, { credential: options.idOrName });
  const revoked: CredentialRecord = { ...current, revokedAtMs: options.nowMs ?? Date.now(), revokedBy: options.by };
  credentials[index] = revoked;
  await writeCredentials(file, credentials);
  return revoked;
}

/** Authenticates bearer tokens against the credentials file, reloading it whenever it changes. */
export class CredentialVerifier {
  private byId = new Map<string, CredentialRecord>();
  private identity: string | undefined;
  private loading: Promise<void> | undefined;
  /** The stat in flight, and the one queued to start after it (see `freshIdentity`). */
  private looking: Promise<string> | undefined;
  private nextLook: Promise<string> | undefined;

  constructor(
    private readonly file: string,
    private readonly modules: { onError?: (error: unknown) => void; onLoad?: (credentials: CredentialRecord[]) => Promise<void> | void } = {},
  ) {}

  /** The principal of an `Authorization` header value, or undefined (missing, malformed, unknown, revoked, wrong secret). */
  async authenticate(header: string | undefined): Promise<Principal | undefined> {
    await this.refresh();
    const match = header === undefined ? null : /^Bearer ([^\s]+)$/.exec(header);
    const parsed = match ? parseToken(match[1] as string) : undefined;
    if (!parsed) return undefined;
    const record = this.byId.get(parsed.id);
    // Hash and compare even for an unknown id, so timing does not tell known ids from unknown ones.
    const matches = secretMatches(parsed.secret, record?.secretSha256 ?? "0".repeat(64));
    if (!record || !matches || record.revokedAtMs !== undefined) return undefined;
    return { kind: "credential", id: record.id, name: record.name, role: record.role };
  }

  /** Reloads the file if it changed since the call began (a look started after it; see `freshIdentity`). */
  async refresh(): Promise<void> {
    const identity = await this.freshIdentity();
    // Concurrent requests share one reload.
    while (this.loading) await this.loading;
    if (identity === this.identity) return;
    this.loading = this.load(identity).finally(() => (this.loading = undefined));
    await this.loading;
  }

  /**
   * The file's identity from a stat started after this call: the one in flight if none is, else the
   * next one, which starts when the one in flight ends and is shared by every call made meanwhile. So a
   * change made before a request arrived is always seen, and a burst of concurrent requests costs two
   * stats, not one each.
   */
  private freshIdentity(): Promise<string> {
    if (this.looking === undefined) return this.look();
    const current = this.looking;
    this.nextLook ??= current.then(() => {
      this.nextLook = undefined;
      return this.look();
    });
    return this.nextLook;
  }

  private look(): Promise<string> {
    const look = this.identityOf();
    this.looking = look;
    void look.then(() => {
      if (this.looking === look) this.looking = undefined;
    });
    return look;
  }

  private async identityOf(): Promise<string> {
    try {
      const s = await stat(this.file, { bigint: true });
      return `${s.ino}:${s.size}:${s.mtimeNs}`;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return "absent";
      return `error:${(error as Error).message}`;
    }
  }

  private async load(identity: string): Promise<void> {
    try {
      const credentials = await readCredentials(this.file);
      this.byId = new Map(credentials.map((c) => [c.id, c]));
      this.identity = identity;
      await this.modules.onLoad?.(credentials);
    } catch (error) {
      this.byId = new Map();
      this.identity = identity;
      this.modules.onError?.(error);
    }
  }
}
