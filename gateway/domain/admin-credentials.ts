/**
 * Admin credentials of the gateway's admin API (key management, merchant suspension, the audit log):
 * bearer tokens `<id>.<secret>`, of which the gateway keeps only a SHA-256 of the secret, in a JSON
 * file of its own (mode 0600) rather than its database, so one can be added while the gateway runs
 * (the CLI writes the file; the gateway reads it again when it changes) and none is a merchant's API key.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { existsSync, statSync, readFileSync } from "node:fs";
import { rename, writeFile } from "node:fs/promises";

import { z } from "zod";

import { SettlenetError } from "../../core/errors.js";
import type { AdminActor } from "./merchants.js";

const idSchema = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, "credential id: 1-64 of a-z 0-9 _ -, starting with a letter or digit");

const fileSchema = z.strictObject({
  credentials: z.array(z.strictObject({ id: idSchema, sha256: z.string().regex(/^[0-9a-f]{64}$/), createdAt: z.string() })),
});
type CredentialsFile = z.infer<typeof fileSchema>;

const digest = (secret: string) => createHash("sha256").update(secret, "utf8").digest();

function readCredentials(file: string): CredentialsFile {
  if (!existsSync(file)) return { credentials: [] };
  const parsed = fileSchema.safeParse(JSON.parse(readFileSync(file, "utf8")));
  if (!parsed.success) throw new SettlenetError("ADMIN_CREDENTIALS_INVALID", `${file} is not an admin credentials file`, { file });
  return parsed.data;
}

/** Adds a credential to `file` (created 0600) and returns its token, which is shown only now. */
export async function issueAdminCredential(file: string, id: string): Promise<{ id: string; token: string }> {
  const parsedId = idSchema.safeParse(id);
  if (!parsedId.success) throw new SettlenetError("MALFORMED", parsedId.error.issues.map((i) => i.message).join("; "), { field: "id" });
  const current = readCredentials(file);
  if (current.credentials.some((c) => c.id === id)) throw new SettlenetError("ADMIN_CREDENTIAL_EXISTS", `admin credential ${id} already exists`, { id });
  const secret = randomBytes(32).toString("base64url");
  const next: CredentialsFile = { credentials: [...current.credentials, { id, sha256: digest(secret).toString("hex"), createdAt: new Date().toISOString() }] };
  await writeFile(`${file}.tmp`, JSON.stringify(next, null, 2), { mode: 0o600 });
  await rename(`${file}.tmp`, file);
  return { id, token: `${id}.${secret}` };
}

/** Checks bearer tokens against the credentials file (read again whenever it changes). */
export class AdminCredentials {
  private loadedMtimeMs = -1;
  private byId = new Map<string, Buffer>();

  constructor(private readonly file: string | undefined) {}

  /** The admin a token belongs to, or undefined: unknown id and wrong secret are not told apart. */
  verify(token: string | undefined): AdminActor | undefined {
    if (!this.file || token === undefined) return undefined;
    this.reload(this.file);
    const dot = token.indexOf(".");
    const id = dot > 0 ? token.slice(0, dot) : "";
    const given = digest(dot > 0 ? token.slice(dot + 1) : token);
    const expected = this.byId.get(id);
    // Compared in constant time against a dummy for unknown ids too.
    const ok = timingSafeEqual(given, expected ?? Buffer.alloc(32)) && expected !== undefined;
    return ok ? { actor: `admin:${id}`, role: "admin" } : undefined;
  }

  private reload(file: string): void {
    const mtimeMs = existsSync(file) ? statSync(file).mtimeMs : 0;
    if (mtimeMs === this.loadedMtimeMs) return;
    this.byId = new Map(readCredentials(file).credentials.map((c) => [c.id, Buffer.from(c.sha256, "hex")]));
    this.loadedMtimeMs = mtimeMs;
  }
}
