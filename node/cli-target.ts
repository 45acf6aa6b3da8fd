/**
 * How a node's CLI commands reach it: over its API while it runs (`--node <url>`, or the address in
 * `--config`), and, given its config, through its database once it is stopped (LevelDB is not locked then).
 */
import { SettlenetError } from "../core/errors.js";

export interface NodeTarget {
  apiUrl: string;
  /** Known when the command was given the node's config. */
  dataDir?: string;
}

/** The node named by `--node` and/or `--config` (one of them is required; the caller says USAGE). */
export async function nodeTarget(values: { config?: string | undefined; node?: string | undefined }, usage: string): Promise<NodeTarget> {
  if (values.config) {
    const { loadNodeConfig } = await import("./config.js");
    const config = await loadNodeConfig(values.config);
    const scheme = config.api.tls ? "https" : "http";
    return { apiUrl: values.node ?? `${scheme}://${config.api.host}:${config.api.port}`, dataDir: config.dataDir };
  }
  if (!values.node) throw new SettlenetError("USAGE", usage);
  return { apiUrl: values.node };
}

/** True if the node refused the connection (it is not running), so its database may be read directly. */
export function nodeRefused(error: unknown): boolean {
  if (!(error instanceof SettlenetError) || error.code !== "NODE_UNAVAILABLE") return false;
  // The transport's error is the client's cause (undici's own error carries the code; a fetch
  // failure carries it one cause further).
  const failure = error.cause as { code?: string; cause?: { code?: string } } | undefined;
  return (failure?.code ?? failure?.cause?.code) === "ECONNREFUSED";
}
