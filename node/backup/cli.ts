/**
 * `settlenet node backup|restore`:
 *   settlenet node backup --out <file> (--config <node.json> | --node <api url>)
 *     from the running node's admin API (an operator token in SETTLENET_NODE_TOKEN); with --config and
 *     the node stopped, from its database directly (whoever can read the stopped node's files has the
 *     data anyway; a download from the running node is recorded in its audit log).
 *     Written to <file>.partial, checked, then renamed; an existing <file> is refused (BACKUP_EXISTS).
 *   settlenet node restore --from <file> --data <dir>
 *     into a fresh data directory; refuses a non-empty one and a corrupted file.
 */
import { createWriteStream } from "node:fs";
import { access, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { finished } from "node:stream/promises";
import { parseArgs } from "node:util";
import type { ReadableStream as WebReadableStream } from "node:stream/web";

import { tokenFromEnv } from "../../core/api/auth.js";
import { NodeApiClient } from "../../core/api/client.js";
import { SettlenetError } from "../../core/errors.js";
import { nodeRefused, nodeTarget } from "../cli-target.js";
import { openStorage } from "../storage/db.js";
import { restoreBackup, verifyBackup, writeBackup } from "./backup.js";

export const NODE_DATA_USAGE =
  "usage: settlenet node backup --out <file> (--config <node.json> | --node <api url>) | settlenet node restore --from <file> --data <dir>";

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

async function downloadBackup(apiUrl: string, partial: string): Promise<void> {
  const backup = await new NodeApiClient({ baseUrl: apiUrl, credentials: tokenFromEnv() }).backup();
  const file = createWriteStream(partial, { flags: "wx" });
  Readable.fromWeb(backup as WebReadableStream).pipe(file);
  await finished(file);
}

/** Runs `settlenet node backup|restore` with the arguments after the command; prints a JSON summary. */
export async function nodeDataCommand(command: "backup" | "restore", args: string[], print: (line: string) => void = (line) => process.stdout.write(`${line}\n`)): Promise<void> {
  if (command === "restore") {
    const { values } = parseArgs({ args, options: { from: { type: "string" }, data: { type: "string" } }, strict: true });
    if (!values.from || !values.data) throw new SettlenetError("USAGE", NODE_DATA_USAGE);
    const result = await restoreBackup(values.from, values.data);
    print(JSON.stringify({ restored: values.data, ...result }));
    return;
  }
  const { values } = parseArgs({ args, options: { out: { type: "string", short: "o" }, config: { type: "string", short: "c" }, node: { type: "string" } }, strict: true });
  if (!values.out || (!values.config && !values.node)) throw new SettlenetError("USAGE", NODE_DATA_USAGE);
  if (await exists(values.out)) throw new SettlenetError("BACKUP_EXISTS", `${values.out} exists; choose another file`, { out: values.out });
  const partial = `${values.out}.partial`;
  await rm(partial, { force: true });
  try {
    const { apiUrl, dataDir } = await nodeTarget(values, NODE_DATA_USAGE);
    let source = "api";
    try {
      await downloadBackup(apiUrl, partial);
    } catch (error) {
      // A stopped node: read its database directly (it is not locked then).
      if (!nodeRefused(error) || !dataDir) throw error;
      await rm(partial, { force: true });
      const storage = await openStorage(join(dataDir, "db"));
      try {
        const file = createWriteStream(partial, { flags: "wx" });
        await writeBackup(storage, file);
        file.end();
        await finished(file);
      } finally {
        await storage.close();
      }
      source = "database";
    }
    const { trailer } = await verifyBackup(partial);
    await rename(partial, values.out);
    print(JSON.stringify({ out: values.out, source, records: trailer.records, contentSha256: trailer.contentSha256 }));
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  }
}
