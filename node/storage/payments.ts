/**
 * Payment repository: the indexer's payment records (`payments`) and their time-ordered indexes by
 * merchant, payer, institution and time. Lists run newest first with an opaque cursor (base64url of
 * the last index key returned). Key layouts: keyspaces.ts.
 */
import { SettlenetError } from "../../core/errors.js";
import { cursorKey, indexPage } from "../../core/storage/pages.js";
import type { PaymentRepository } from "../services.js";
import type { ListOptions, Page, PaymentRecord } from "../../core/records.js";
import type { StorageContext, Sublevel, WriteOp } from "./keyspaces.js";
import type { Keyspace } from "./keyspaces.js";
import { SEP, pad } from "./keyspaces.js";

type Spaces = Readonly<Record<Keyspace, Sublevel>>;
type IndexSpace = "byMerchant" | "byPayer" | "byInstitution" | "byTime";

/** Largest page a list returns, whatever `limit` asks for. */
export const MAX_PAGE_SIZE = 500;
const TIME_WIDTH = 12;
const MAX_TIME = 10 ** TIME_WIDTH - 1;
/** Sorts just above SEP: the exclusive end of "every key with this prefix". */
const AFTER_SEP = String.fromCharCode(SEP.charCodeAt(0) + 1);

const time = (seconds: number) => pad(seconds, TIME_WIDTH);

/** Index entries of a payment record (its paidAt never changes, so neither do they). */
export function paymentIndexKeys(record: PaymentRecord): { space: IndexSpace; key: string }[] {
  const id = record.paymentId.toLowerCase();
  const at = time(record.paidAt);
  const keys: { space: IndexSpace; key: string }[] = [
    { space: "byMerchant", key: `${record.merchant.toLowerCase()}${SEP}${at}${SEP}${id}` },
    { space: "byPayer", key: `${record.payer.toLowerCase()}${SEP}${at}${SEP}${id}` },
    { space: "byTime", key: `${at}${SEP}${id}` },
  ];
  const institutions = new Set([record.payerInstitution, record.merchantInstitution].filter((i) => i !== "").map((i) => i.toLowerCase()));
  for (const institution of institutions) keys.push({ space: "byInstitution", key: `${institution}${SEP}${at}${SEP}${id}` });
  return keys;
}

/**
 * Writes that store a payment record; its index entries only when it is new (a rewritten record keeps
 * the entries it was first indexed under, so lists never show it twice).
 */
export function paymentRecordWrites(spaces: Spaces, record: PaymentRecord, exists: boolean): WriteOp[] {
  const writes: WriteOp[] = [{ type: "put", sublevel: spaces.payments, key: record.paymentId.toLowerCase(), value: record }];
  if (!exists) for (const { space, key } of paymentIndexKeys(record)) writes.push({ type: "put", sublevel: spaces[space], key, value: "" });
  return writes;
}

function checkTime(name: string, value: number | undefined): void {
  if (value !== undefined && (!Number.isInteger(value) || value < 0 || value > MAX_TIME)) {
    throw new SettlenetError("INVALID_ARGUMENT", `${name} must be unix seconds`, { [name]: value });
  }
}

/** A cursor of one list: an index key of that list's prefix. */
function decodeCursor(cursor: string, prefix: string): string {
  const shape = new RegExp(`^\\d{${TIME_WIDTH}}${SEP}0x[0-9a-f]{64}$`);
  return cursorKey(cursor, (key) => key.startsWith(prefix) && shape.test(key.slice(prefix.length)), "INVALID_CURSOR");
}

/** PaymentRepository on LevelDB. */
export class LevelPaymentRepository implements PaymentRepository {
  constructor(private readonly ctx: StorageContext) {}

  get(paymentId: string): Promise<PaymentRecord | undefined> {
    return this.ctx.read(async () => (await this.ctx.spaces.payments.get(paymentId.toLowerCase())) as PaymentRecord | undefined);
  }

  listByMerchant(merchant: string, options: ListOptions): Promise<Page<PaymentRecord>> {
    return this.list("byMerchant", `${merchant.toLowerCase()}${SEP}`, options);
  }

  listByPayer(payer: string, options: ListOptions): Promise<Page<PaymentRecord>> {
    return this.list("byPayer", `${payer.toLowerCase()}${SEP}`, options);
  }

  /** Payments whose payer or merchant belongs to `institution`. */
  listByInstitution(institution: string, options: ListOptions): Promise<Page<PaymentRecord>> {
    return this.list("byInstitution", `${institution.toLowerCase()}${SEP}`, options);
  }

  listByTime(options: ListOptions): Promise<Page<PaymentRecord>> {
    return this.list("byTime", "", options);
  }

  /** Newest first within [from, to], continuing below the cursor's key. */
  private list(space: IndexSpace, prefix: string, options: ListOptions): Promise<Page<PaymentRecord>> {
    return this.ctx.read(async () => {
      const { limit, cursor, from, to } = options;
      if (!Number.isInteger(limit) || limit < 1) throw new SettlenetError("INVALID_ARGUMENT", "limit must be a positive integer", { limit });
      checkTime("from", from);
      checkTime("to", to);
      const size = Math.min(limit, MAX_PAGE_SIZE);
      const gte = `${prefix}${time(from ?? 0)}`;
      let lt = `${prefix}${time(to ?? MAX_TIME)}${AFTER_SEP}`;
      if (cursor !== undefined) {
        const after = decodeCursor(cursor, prefix);
        if (after < lt) lt = after;
      }
      if (gte >= lt) return { items: [] };
      return indexPage<PaymentRecord>(this.ctx.spaces[space], this.ctx.spaces.payments, { gte, lt, reverse: true }, size, SEP);
    });
  }
}
