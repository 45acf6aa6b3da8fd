/**
 * Cursor pages over a LevelDB index: a cursor is the last index key of the page before, base64url, so a
 * page continues from it whatever was written since. Index keys end with the record's id after the last
 * separator.
 */
import { SettlenetError } from "../errors.js";
import type { Page } from "../records.js";
import type { Sublevel } from "./level.js";

export function keyCursor(key: string): string {
  return Buffer.from(key, "utf8").toString("base64url");
}

/**
 * The index key a cursor stands for; refused with `code` (the node's `INVALID_CURSOR`, the gateway's
 * `MALFORMED`) unless it decodes to a key of this list.
 */
export function cursorKey(cursor: string, belongs: (key: string) => boolean, code: string): string {
  const key = /^[A-Za-z0-9_-]+$/.test(cursor) ? Buffer.from(cursor, "base64url").toString("utf8") : "";
  if (key === "" || !belongs(key)) throw new SettlenetError(code, "the cursor does not belong to this list", {});
  return key;
}

export interface IndexRange {
  gt?: string;
  gte?: string;
  lt?: string;
  reverse: boolean;
}

/** One page of records through an index; one key past the page is read to know whether another follows. */
export async function indexPage<T>(index: Sublevel, records: Sublevel, range: IndexRange, limit: number, separator: string): Promise<Page<T>> {
  const keys = await index.keys({ ...range, limit: limit + 1 }).all();
  const page = keys.slice(0, limit);
  const ids = page.map((key) => key.slice(key.lastIndexOf(separator) + 1));
  const found = ids.length === 0 ? [] : ((await records.getMany(ids)) as (T | undefined)[]);
  const items = found.filter((record): record is T => record !== undefined);
  const last = page.at(-1);
  return keys.length > limit && last !== undefined ? { items, next: keyCursor(last) } : { items };
}

/** One page of the values of a keyspace read in key order (or reversed). */
export async function entryPage<T>(space: Sublevel, range: IndexRange, limit: number): Promise<Page<T>> {
  const entries = await space.iterator({ ...range, limit: limit + 1 }).all();
  const page = entries.slice(0, limit);
  const items = page.map(([, value]) => value as T);
  const last = page.at(-1);
  return entries.length > limit && last !== undefined ? { items, next: keyCursor(last[0]) } : { items };
}
