/**
 * Node backup and restore. A backup is a consistent LevelDB snapshot (taken while the node runs)
 * written as newline-delimited JSON:
 *
 *   {"format":"settlenet-node-backup","version":1,"createdAtMs":…,"keyspaces":[…],"indexerCursor":…}
 *   {"s":<keyspace>,"k":<key>,"v":<stored JSON text>,"c":<sha256 of the record>}   one per record
 *   {"end":true,"records":N,"contentSha256":…,"fileSha256":…}
 *
 * `c` guards each record; `fileSha256` covers every byte before the trailer line; `contentSha256` is
 * the storage checksum (NodeStorage.checksum) of the snapshot, which the restored database must
 * reproduce. Restore refuses a non-empty target and any file that fails a check, before writing.
 */
import { createHash, type Hash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { Writable } from "node:stream";

import { z } from "zod";

import { SettlenetError } from "../../core/errors.js";
import { openStorage, type NodeStorage, type SnapshotRecord } from "../storage/db.js";
import { KEYSPACES } from "../storage/keyspaces.js";
import { isKeyspace, writeSnapshot } from "../storage/snapshot.js";

export const BACKUP_FORMAT = "settlenet-node-backup";
export const BACKUP_VERSION = 1;

const headerSchema = z.strictObject({
  format: z.literal(BACKUP_FORMAT),
  version: z.literal(BACKUP_VERSION),
  createdAtMs: z.number().int().nonnegative(),
  keyspaces: z.array(z.string()),
  indexerCursor: z.number().int().nullable(),
});
const recordSchema = z.strictObject({ s: z.string(), k: z.string(), v: z.string(), c: z.string().regex(/^[0-9a-f]{64}$/) });
const trailerSchema = z.strictObject({
  end: z.literal(true),
  records: z.number().int().nonnegative(),
  contentSha256: z.string().regex(/^[0-9a-f]{64}$/),
  fileSha256: z.string().regex(/^[0-9a-f]{64}$/),
});

export type BackupHeader = z.infer<typeof headerSchema>;
export type BackupTrailer = z.infer<typeof trailerSchema>;

/** Checksum of one record (length prefixes keep the fields' boundaries unambiguous). */
export function recordChecksum(keyspace: string, key: string, value: string): string {
  return createHash("sha256").update(`${keyspace}\n${Buffer.byteLength(key)}:${key}${Buffer.byteLength(value)}:${value}`).digest("hex");
}

/**
 * Follows NodeStorage.checksum over records arriving keyspace by keyspace in key order: every
 * keyspace name (empty ones included) then its records.
 */
class ContentHash {
  private readonly hash: Hash = createHash("sha256");
  private next = 0;

  add(record: SnapshotRecord): void {
    this.reach(KEYSPACES.indexOf(record.keyspace));
    this.hash.update(`${Buffer.byteLength(record.key)}:${record.key}${Buffer.byteLength(record.value)}:${record.value}\n`);
  }

  digest(): string {
    this.reach(KEYSPACES.length - 1);
    return this.hash.digest("hex");
  }

  private reach(index: number): void {
    if (index < this.next - 1) throw new SettlenetError("BACKUP_CORRUPT", "records are not in keyspace order", {});
    while (this.next <= index) this.hash.update(`${KEYSPACES[this.next++]}\n`);
  }
}

/** Writes `text` to `out`, waiting for it to drain when its buffer is full. */
async function write(out: Writable, text: string): Promise<void> {
  if (out.destroyed) throw new SettlenetError("BACKUP_ABORTED", "the backup destination was closed", {});
  if (!out.write(text)) {
    await new Promise<void>((resolve, reject) => {
      const done = (error?: Error) => {
        out.off("drain", done);
        out.off("close", closed);
        if (error) reject(error);
        else resolve();
      };
      const closed = () => done(new SettlenetError("BACKUP_ABORTED", "the backup destination was closed", {}));
      out.on("drain", done);
      out.on("close", closed);
    });
  }
}

/** Writes a backup of `storage` (one snapshot, taken now) to `out`; does not end `out`. Returns the trailer. */
export async function writeBackup(storage: NodeStorage, out: Writable): Promise<BackupTrailer> {
  const file = createHash("sha256");
  const content = new ContentHash();
  let records = 0;
  const line = async (value: unknown) => {
    const text = `${JSON.stringify(value)}\n`;
    file.update(text);
    await write(out, text);
  };
  const header: BackupHeader = { format: BACKUP_FORMAT, version: BACKUP_VERSION, createdAtMs: Date.now(), keyspaces: [...KEYSPACES], indexerCursor: (await storage.getCursor()) ?? null };
  await line(header);
  await storage.exportSnapshot(async (record) => {
    content.add(record);
    records += 1;
    await line({ s: record.keyspace, k: record.key, v: record.value, c: recordChecksum(record.keyspace, record.key, record.value) });
  });
  const trailer: BackupTrailer = { end: true, records, contentSha256: content.digest(), fileSha256: file.digest("hex") };
  await write(out, `${JSON.stringify(trailer)}\n`);
  return trailer;
}

const corrupt = (message: string, meta: Record<string, unknown> = {}) => new SettlenetError("BACKUP_CORRUPT", message, meta);

function parseLine<T>(schema: z.ZodType<T>, text: string, lineNumber: number): T {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw corrupt(`line ${lineNumber} is not JSON`, { line: lineNumber });
  }
  const result = schema.safeParse(raw);
  if (!result.success) throw corrupt(`line ${lineNumber} is not a valid backup line`, { line: lineNumber });
  return result.data;
}

/**
 * The records of a backup file, checking everything as it goes: header, each record's checksum and
 * keyspace order, then at the end the record count and both whole-file checksums (so a consumer that
 * writes records must discard its work if iteration throws). Sets `into.header` / `into.trailer`.
 * BACKUP_CORRUPT, BACKUP_INCOMPATIBLE (another format version or keyspaces this version does not
 * know), BACKUP_UNREADABLE.
 */
export async function* backupRecords(path: string, into: { header?: BackupHeader; trailer?: BackupTrailer } = {}): AsyncGenerator<SnapshotRecord> {
  const stream = createReadStream(path, { encoding: "utf8" });
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  const file = createHash("sha256");
  const content = new ContentHash();
  let header: BackupHeader | undefined;
  let trailer: BackupTrailer | undefined;
  let records = 0;
  let lineNumber = 0;
  try {
    for await (const text of lines) {
      lineNumber += 1;
      if (trailer) throw corrupt("data after the end of the backup", { line: lineNumber });
      if (!header) {
        const raw = safeJson(text);
        if (typeof raw === "object" && raw !== null && (raw as { format?: unknown }).format === BACKUP_FORMAT && (raw as { version?: unknown }).version !== BACKUP_VERSION) {
          throw new SettlenetError("BACKUP_INCOMPATIBLE", `backup format version ${String((raw as { version?: unknown }).version)} is not ${BACKUP_VERSION}`, {});
        }
        header = parseLine(headerSchema, text, lineNumber);
        const unknown = header.keyspaces.filter((name) => !isKeyspace(name));
        if (unknown.length > 0) throw new SettlenetError("BACKUP_INCOMPATIBLE", `the backup has keyspaces this node does not know: ${unknown.join(", ")}`, { keyspaces: unknown });
        file.update(`${text}\n`);
        continue;
      }
      if (text.startsWith('{"end"')) {
        trailer = parseLine(trailerSchema, text, lineNumber);
        continue;
      }
      const record = parseLine(recordSchema, text, lineNumber);
      if (recordChecksum(record.s, record.k, record.v) !== record.c) throw corrupt(`record on line ${lineNumber} fails its checksum`, { line: lineNumber, keyspace: record.s });
      if (!isKeyspace(record.s)) throw new SettlenetError("BACKUP_INCOMPATIBLE", `unknown keyspace ${record.s}`, { keyspace: record.s, line: lineNumber });
      file.update(`${text}\n`);
      const snapshotRecord: SnapshotRecord = { keyspace: record.s, key: record.k, value: record.v };
      content.add(snapshotRecord);
      records += 1;
      yield snapshotRecord;
    }
  } catch (error) {
    if (error instanceof SettlenetError) throw error;
    throw new SettlenetError("BACKUP_UNREADABLE", `cannot read backup ${path}: ${(error as Error).message}`, { path }, { cause: error });
  } finally {
    lines.close();
    stream.destroy();
  }
  if (!header) throw corrupt("the backup is empty");
  if (!trailer) throw corrupt("the backup is truncated (no end line)");
  if (trailer.records !== records) throw corrupt(`the backup holds ${records} records, its end line says ${trailer.records}`, { records, expected: trailer.records });
  if (file.digest("hex") !== trailer.fileSha256) throw corrupt("the backup fails its file checksum");
  if (content.digest() !== trailer.contentSha256) throw corrupt("the backup fails its content checksum");
  into.header = header;
  into.trailer = trailer;
}

/** Checks a whole backup file (see backupRecords); returns its header and trailer. */
export async function verifyBackup(path: string): Promise<{ header: BackupHeader; trailer: BackupTrailer }> {
  const into: { header?: BackupHeader; trailer?: BackupTrailer } = {};
  for await (const record of backupRecords(path, into)) void record;
  if (!into.header || !into.trailer) throw corrupt("the backup is incomplete");
  return { header: into.header, trailer: into.trailer };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** True if `dir` does not exist or is an empty directory. */
async function isFresh(dir: string): Promise<boolean> {
  try {
    return (await readdir(dir)).length === 0;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return true;
    if ((error as NodeJS.ErrnoException).code === "ENOTDIR") return false;
    throw error;
  }
}

export interface RestoreResult {
  records: number;
  contentSha256: string;
  indexerCursor: number | null;
  /** The restored database (what a node with dataDir `dataDir` opens). */
  dbDir: string;
}

/**
 * Restores a backup into the fresh node data directory `dataDir` (its database goes in `db/`, as the
 * node expects). Refuses a non-empty directory (RESTORE_TARGET_NOT_EMPTY) and a corrupted or
 * incompatible file (nothing is written then); checks the restored database against the backup's
 * content checksum (RESTORE_FAILED, and the directory is removed again).
 */
export async function restoreBackup(path: string, dataDir: string): Promise<RestoreResult> {
  if (!(await isFresh(dataDir))) throw new SettlenetError("RESTORE_TARGET_NOT_EMPTY", `${dataDir} is not empty; restore only into a fresh directory`, { dataDir });
  // Check the whole file first, so a corrupted backup leaves nothing behind.
  const { header, trailer } = await verifyBackup(path);
  const dbDir = join(dataDir, "db");
  await mkdir(dataDir, { recursive: true });
  try {
    // The records are checked once more as they are written (the file could change in between).
    const written = await writeSnapshot(dbDir, backupRecords(path));
    const storage = await openStorage(dbDir);
    let checksum: string;
    try {
      checksum = await storage.checksum();
    } finally {
      await storage.close();
    }
    if (checksum !== trailer.contentSha256 || written !== trailer.records) {
      throw new SettlenetError("RESTORE_FAILED", "the restored database does not match the backup's checksum", { expected: trailer.contentSha256, actual: checksum });
    }
    return { records: written, contentSha256: checksum, indexerCursor: header.indexerCursor, dbDir };
  } catch (error) {
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
}
