/**
 * Merchants and their API keys. Key layouts: keyspaces.ts. Admin changes take the audit action that
 * describes them: its log entry is written in the same synced batch as the change.
 *
 * Every signed request reads its API key and its merchant, so both repositories keep the records they
 * have read in memory (frozen, so a caller cannot change the cached copy). Only this process can
 * hold the database and every change goes through these repositories, which drop the cached record
 * when they commit a change to it: the cache never answers anything the database would not.
 */
import type { AuditAction, AuditLog } from "../../core/audit/log.js";
import { SettlenetError } from "../../core/errors.js";
import type { ApiKeyRecord, MerchantRecord } from "../domain/records.js";
import { SEP, prefixRange, type StorageContext, type Sublevel, type WriteOp } from "./keyspaces.js";

/** Records read by id, kept until a change to them is committed through the repository. */
class RecordCache<T extends object> {
  private readonly records = new Map<string, Readonly<T>>();
  /** Bumped by every change: a read that began before a change must not cache what it read. */
  private version = 0;

  constructor(
    private readonly ctx: StorageContext,
    private readonly sublevel: Sublevel,
  ) {}

  async get(id: string): Promise<Readonly<T> | undefined> {
    const cached = this.records.get(id);
    if (cached) return cached;
    const version = this.version;
    const record = await this.ctx.read(async () => (await this.sublevel.get(id)) as T | undefined);
    if (record === undefined) return undefined;
    const frozen = deepFreeze(record);
    if (version === this.version) this.records.set(id, frozen);
    return frozen;
  }

  /** Forgets `ids` (call when committing a change to them). */
  changed(ids: string[]): void {
    this.version += 1;
    for (const id of ids) this.records.delete(id);
  }
}

function deepFreeze<T extends object>(value: T): Readonly<T> {
  for (const child of Object.values(value)) if (typeof child === "object" && child !== null) deepFreeze(child as object);
  return Object.freeze(value);
}

/** Merchants by id, unique by on-chain address. */
export class LevelMerchantRepository {
  private readonly cache: RecordCache<MerchantRecord>;

  constructor(
    private readonly ctx: StorageContext,
    private readonly audit: AuditLog,
  ) {
    this.cache = new RecordCache(ctx, ctx.spaces.merchants);
  }

  /** The merchant (a frozen record, shared by every caller). */
  get(id: string): Promise<Readonly<MerchantRecord> | undefined> {
    return this.cache.get(id);
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
      this.cache.changed([record.id]);
    });
  }

  /** Changes a merchant's status (suspension is immediate for every key). */
  setStatus(id: string, status: MerchantRecord["status"], audit?: AuditAction): Promise<MerchantRecord> {
    return this.ctx.write(async () => {
      const current = (await this.ctx.spaces.merchants.get(id)) as MerchantRecord | undefined;
      if (!current) throw new SettlenetError("MERCHANT_NOT_FOUND", `no merchant ${id}`, { merchantId: id });
      const next = { ...current, status };
      await this.ctx.commit([{ type: "put", sublevel: this.ctx.spaces.merchants, key: id, value: next }, ...(audit ? (await this.audit.prepare(audit)).writes : [])]);
      this.cache.changed([id]);
      return next;
    });
  }
}

/** API keys by key id, indexed by merchant. */
export class LevelApiKeyRepository {
  private readonly cache: RecordCache<ApiKeyRecord>;

  constructor(
    private readonly ctx: StorageContext,
    private readonly audit: AuditLog,
  ) {
    this.cache = new RecordCache(ctx, ctx.spaces.apiKeys);
  }

  /** The key (a frozen record, shared by every caller). */
  get(keyId: string): Promise<Readonly<ApiKeyRecord> | undefined> {
    return this.cache.get(keyId);
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
      this.cache.changed([record.keyId, ...retired.map((k) => k.keyId)]);
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
      this.cache.changed([keyId]);
      return next;
    });
  }
}
