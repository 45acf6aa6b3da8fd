/**
 * Merchant administration (what the admin API and CLI do) and access to the secrets the gateway holds
 * for merchants: their on-chain signing keys and their API key secrets, both sealed under the master
 * key. Every change lands in the gateway's audit log with who made it, in the change's own batch.
 */
import { randomBytes } from "node:crypto";

import { Wallet } from "ethers";
import { z } from "zod";

import type { AuditAction } from "../../core/audit/log.js";
import { SettlenetError } from "../../core/errors.js";
import type { SecretBox } from "./secrets.js";
import type { GatewayStorage } from "../storage/db.js";
import type { ApiKeyRecord, MerchantRecord } from "./records.js";

export const merchantIdSchema = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, "merchant id: 1-64 of a-z 0-9 _ -, starting with a letter or digit");
const privateKeySchema = z.string().regex(/^(0x)?[0-9a-fA-F]{64}$/, "expected a 32-byte private key as hex");

const merchantContext = (id: string) => `merchant:${id}`;
const apiKeyContext = (keyId: string) => `apiKey:${keyId}`;

/** Who performs an admin action, as authenticated (the admin API's credential id, or the local operator). */
export interface AdminActor {
  actor: string;
  role: string;
}

/** The actor of actions taken with direct access to the database (provisioning, the CLI while the gateway is stopped). */
export const LOCAL_ADMIN: AdminActor = { actor: "local", role: "admin" };

export interface AdminModules {
  storage: GatewayStorage;
  secrets: SecretBox;
  now?: () => number;
  /** Recorded in the audit log (LOCAL_ADMIN if absent). */
  by?: AdminActor;
}

const auditOf = (modules: AdminModules, action: string, target: string, details?: AuditAction["details"]): AuditAction => ({
  ...(modules.by ?? LOCAL_ADMIN),
  action,
  target,
  ...(details ? { details } : {}),
});

/** A newly created API key: the secret is shown this once and stored only encrypted. */
export interface IssuedApiKey {
  merchantId: string;
  keyId: string;
  secret: string;
  createdAt: string;
}

function parseOrThrow<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const result = schema.safeParse(value);
  if (!result.success) throw new SettlenetError("MALFORMED", `${what}: ${result.error.issues.map((i) => i.message).join("; ")}`, { field: what });
  return result.data;
}

/** Adds a merchant with its on-chain signing key (the address must be registered on-chain separately). */
export async function addMerchant(
  input: { id: string; name?: string; privateKey: string },
  modules: AdminModules,
): Promise<{ id: string; name: string; address: string }> {
  const id = parseOrThrow(merchantIdSchema, input.id, "merchant id");
  const privateKey = parseOrThrow(privateKeySchema, input.privateKey, "private key");
  const wallet = new Wallet(privateKey.startsWith("0x") ? privateKey : `0x${privateKey}`);
  const record: MerchantRecord = {
    id,
    name: input.name ?? id,
    address: wallet.address,
    signingKey: modules.secrets.seal(wallet.privateKey, merchantContext(id)),
    status: "active",
    createdAtMs: (modules.now ?? Date.now)(),
  };
  await modules.storage.merchants.create(record, auditOf(modules, "merchant.add", id, { address: record.address }));
  return { id, name: record.name, address: record.address };
}

/** Creates an API key for `merchantId`. With `rotateOverlapSeconds`, the merchant's other keys stay valid only that long. */
export async function createApiKey(merchantId: string, modules: AdminModules, rotateOverlapSeconds?: number): Promise<IssuedApiKey & { retired: { keyId: string; expiresAt: string }[] }> {
  const now = (modules.now ?? Date.now)();
  const keyId = `key_${randomBytes(16).toString("hex")}`;
  const secret = `sk_${randomBytes(32).toString("base64url")}`;
  const record: ApiKeyRecord = { keyId, merchantId, secret: modules.secrets.seal(secret, apiKeyContext(keyId)), createdAtMs: now };
  const audit = auditOf(modules, rotateOverlapSeconds === undefined ? "apiKey.create" : "apiKey.rotate", merchantId, {
    keyId,
    ...(rotateOverlapSeconds === undefined ? {} : { overlapSeconds: rotateOverlapSeconds }),
  });
  const retired = await modules.storage.apiKeys.create(record, rotateOverlapSeconds === undefined ? undefined : now + rotateOverlapSeconds * 1000, audit);
  return {
    merchantId,
    keyId,
    secret,
    createdAt: new Date(now).toISOString(),
    retired: retired.map((k) => ({ keyId: k.keyId, expiresAt: new Date(k.expiresAtMs ?? now).toISOString() })),
  };
}

/** Rotation: a new key, and every other valid key of the merchant expires after the overlap window. */
export function rotateApiKeys(merchantId: string, overlapSeconds: number, modules: AdminModules) {
  if (!Number.isInteger(overlapSeconds) || overlapSeconds < 0) throw new SettlenetError("MALFORMED", "overlap must be a non-negative number of seconds", { field: "overlap" });
  return createApiKey(merchantId, modules, overlapSeconds);
}

/** Revokes a key immediately. */
export async function revokeApiKey(merchantId: string, keyId: string, modules: AdminModules): Promise<{ keyId: string; revokedAt: string }> {
  const record = await modules.storage.apiKeys.revoke(merchantId, keyId, (modules.now ?? Date.now)(), auditOf(modules, "apiKey.revoke", merchantId, { keyId }));
  return { keyId, revokedAt: new Date(record.revokedAtMs ?? 0).toISOString() };
}

/** Suspends a merchant (every key refused at once) or reactivates it. */
export async function setMerchantStatus(merchantId: string, status: MerchantRecord["status"], modules: AdminModules): Promise<{ id: string; status: MerchantRecord["status"] }> {
  const next = await modules.storage.merchants.setStatus(merchantId, status, auditOf(modules, status === "active" ? "merchant.reactivate" : "merchant.suspend", merchantId));
  return { id: next.id, status: next.status };
}

/** The merchant's keys without secrets. */
export async function listApiKeys(merchantId: string, modules: Pick<AdminModules, "storage">) {
  const keys = await modules.storage.apiKeys.listByMerchant(merchantId);
  return keys.map((k) => ({
    keyId: k.keyId,
    createdAt: new Date(k.createdAtMs).toISOString(),
    ...(k.expiresAtMs !== undefined ? { expiresAt: new Date(k.expiresAtMs).toISOString() } : {}),
    ...(k.revokedAtMs !== undefined ? { revokedAt: new Date(k.revokedAtMs).toISOString() } : {}),
  }));
}

/** The merchant's on-chain signing wallet, decrypted for one use. */
export function merchantWallet(merchant: MerchantRecord, secrets: SecretBox): Wallet {
  return new Wallet(secrets.open(merchant.signingKey, merchantContext(merchant.id)));
}

/** The HMAC secret of an API key. */
export function apiKeySecret(key: ApiKeyRecord, secrets: SecretBox): string {
  return secrets.open(key.secret, apiKeyContext(key.keyId));
}
