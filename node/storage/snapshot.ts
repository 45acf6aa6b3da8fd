/**
 * Writes raw records (from a backup) into a fresh node database: values are stored as the exact JSON
 * text they were exported as, so the restored database hashes the same as the one backed up.
 */
import { SettlenetError } from "../../core/errors.js";
import type { SnapshotRecord } from "./keyspaces.js";
import { KEYSPACES, type StateKeyspace } from "./keyspaces.js";
import { openLevelStore } from "../../core/storage/level.js";

const BATCH = 1_000;

/** True if `name` is one of this version's keyspaces. */
export function isKeyspace(name: string): name is StateKeyspace {
  return (KEYSPACES as readonly string[]).includes(name);
}

/** Creates the database in `dir` from `records` (synced batches); the caller checks `dir` is fresh. */
export async function writeSnapshot(dir: string, records: AsyncIterable<SnapshotRecord>): Promise<number> {
  const { db, raw, close } = await openLevelStore(dir, KEYSPACES, { label: "restored node" });
  let count = 0;
  try {
    let batch = db.batch();
    for await (const record of records) {
      if (!isKeyspace(record.keyspace)) throw new SettlenetError("BACKUP_INCOMPATIBLE", `unknown keyspace ${String(record.keyspace)}`, { keyspace: record.keyspace });
      batch.put(record.key, record.value, { sublevel: raw[record.keyspace], keyEncoding: "utf8", valueEncoding: "utf8" });
      count += 1;
      if (batch.length >= BATCH) {
        await batch.write({ sync: true });
        batch = db.batch();
      }
    }
    await batch.write({ sync: true });
  } finally {
    await close();
  }
  return count;
}
