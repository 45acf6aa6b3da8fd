/**
 * Merchants and their API keys. Key layouts: keyspaces.ts. Admin changes take the audit action that
 * describes them: its log entry is written in the same synced batch as the change.
 */
import type { AuditAction, AuditLog } from "../../core/audit/log.js";
import { SettlenetError } from "../../core/errors.js";
import type { ApiKeyRecord, MerchantRecord } from "../domain/records.js";
import { SEP, prefixRange, type StorageContext, type WriteOp } from "./keyspaces.js";

/** Merchants by id, unique by on-chain address. */
export class LevelMerchantRepository {
  constructor(
    private readonly ctx: StorageContext,
    private readonly audit: AuditLog,
  ) {}

  get(id: string): Promise<MerchantRecord | undefined> {
    return this.ctx.read(async () => (await this.ctx.spaces.merchants.get(id)) as MerchantRecord | undefined);
  }

  list(): Promise<MerchantRecord[]> {
    return this.ctx.read(async () => (await this.ctx.spaces.merchants.values().all()) as MerchantRecord[]);
  }

  /** Adds a merchant; MERCHANT_EXISTS if the id or the on-chain address is taken. */
  create(record: MerchantRecord, audit?: AuditAction): Promise<void> {
    const { merchants, merchantsByAddr } = this.ctx.spaces;
    const addressKey = record.address.toLowerCase();
    return this.ctx.write(async () => {
      if (await merchants.has(record.id)) throw new SettlenetError("MERCHANT_EXISTS", `merchant ${record.id} already exists`, { merchantId: record.id });
      const owner = await merchantsByAddr.get(addressKey);
      if (owner !== undefined) {
        throw new SettlenetError("MERCHANT_EXISTS", `address ${record.address} already belongs to merchant ${String(owner)}`, { merchantId: owner, address: record.address });
      }
      await this.ctx.commit([
        { type: "put", sublevel: merchants, key: record.id, value: record },
        { type: "put", sublevel: merchantsByAddr, key: addressKey, value: record.id },
        ...(audit ? (await this.audit.prepare(audit)).writes : []),
      ]);
    });
  }

  /** Changes a merchant's status (suspension is immediate for every key). */
  setStatus(id: string, status: MerchantRecord["status"], audit?: AuditAction): Promise<MerchantRecord> {
    return this.ctx.write(async () => {
      const current = (await this.ctx.spaces.merchants.get(id)) as MerchantRecord | undefined;
      if (!current) throw new SettlenetError("MERCHANT_NOT_FOUND", `no merchant ${id}`, { merchantId: id });
      const next = { ...current, status };
      await this.ctx.commit([{ type: "put", sublevel: this.ctx.spaces.merchants, key: id, value: next }, ...(audit ? (await this.audit.prepare(audit)).writes : [])]);
      return next;
    });
  }
}

/** API keys by key id, indexed by merchant. */
export class LevelApiKeyRepository {
  constructor(
    private readonly ctx: StorageContext,
    private readonly audit: AuditLog,
  ) {}

  get(keyId: string): Promise<ApiKeyRecord | undefined> {
    return this.ctx.read(async () => (await this.ctx.spaces.apiKeys.get(keyId)) as ApiKeyRecord | undefined);
  }

  listByMerchant(merchantId: string): Promise<ApiKeyRecord[]> {
    return this.ctx.read(async () => {
      const ids = await this.ctx.spaces.apiKeysByMerchant.keys(prefixRange(`${merchantId}${SEP}`)).all();
      const keys = await this.ctx.spaces.apiKeys.getMany(ids.map((k) => k.slice(merchantId.length + 1)));
      return keys.filter((k): k is ApiKeyRecord => k !== undefined);
    });
  }

  /**
   * Adds `record`; with `retireOthersAtMs`, every other unexpired, unrevoked key of the merchant
   * stays valid only until then (rotation). One batch, so a crash never leaves two half-rotated sets.
   */
  create(record: ApiKeyRecord, retireOthersAtMs?: number, audit?: AuditAction): Promise<ApiKeyRecord[]> {
    const { apiKeys, apiKeysByMerchant, merchants } = this.ctx.spaces;
    return this.ctx.write(async () => {
      if (!(await merchants.has(record.merchantId))) {
        throw new SettlenetError("MERCHANT_NOT_FOUND", `no merchant ${record.merchantId}`, { merchantId: record.merchantId });
      }
      const writes: WriteOp[] = [
        { type: "put", sublevel: apiKeys, key: record.keyId, value: record },
        { type: "put", sublevel: apiKeysByMerchant, key: `${record.merchantId}${SEP}${record.keyId}`, value: "" },
      ];
      const retired: ApiKeyRecord[] = [];
      if (retireOthersAtMs !== undefined) {
        const ids = await apiKeysByMerchant.keys(prefixRange(`${record.merchantId}${SEP}`)).all();
        const others = (await apiKeys.getMany(ids.map((k) => k.slice(record.merchantId.length + 1)))) as (ApiKeyRecord | undefined)[];
        for (const other of others) {
          if (!other || other.revokedAtMs !== undefined) continue;
          if (other.expiresAtMs !== undefined && other.expiresAtMs <= retireOthersAtMs) continue;
          const next = { ...other, expiresAtMs: retireOthersAtMs };
          retired.push(next);
          writes.push({ type: "put", sublevel: apiKeys, key: other.keyId, value: next });
        }
      }
      if (audit) writes.push(...(await this.audit.prepare({ ...audit, details: { ...audit.details, retired: retired.map((k) => k.keyId) } })).writes);
      await this.ctx.commit(writes);
      return retired;
    });
  }

  /** Revokes a key at once. KEY_NOT_FOUND unless it belongs to `merchantId`. */
  revoke(merchantId: string, keyId: string, atMs: number, audit?: AuditAction): Promise<ApiKeyRecord> {
    return this.ctx.write(async () => {
      const current = (await this.ctx.spaces.apiKeys.get(keyId)) as ApiKeyRecord | undefined;
      if (!current || current.merchantId !== merchantId) throw new SettlenetError("KEY_NOT_FOUND", `merchant ${merchantId} has no key ${keyId}`, { merchantId, keyId });
      if (current.revokedAtMs !== undefined) return current;
      const next = { ...current, revokedAtMs: atMs };
      await this.ctx.commit([{ type: "put", sublevel: this.ctx.spaces.apiKeys, key: keyId, value: next }, ...(audit ? (await this.audit.prepare(audit)).writes : [])]);
      return next;
    });
  }
}
