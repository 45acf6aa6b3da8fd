/**
 * Configuration files of every process (node, gateway, bank simulator): JSON read from disk, parsed
 * by the process's zod schema, relative paths resolved against the file's folder. A file that cannot
 * be read is CONFIG_UNREADABLE; one that does not match the schema is CONFIG_INVALID naming the file
 * and every bad field, so an operator fixes it in one go.
 */
import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";

import type { z } from "zod";

import { SettlenetError } from "./errors.js";

/** What a process's configuration is: its schema, and which of its fields are paths. */
export interface ConfigSpec<S extends z.ZodType> {
  /** Names the process in messages: "node", "gateway", "bank". */
  label: string;
  schema: S;
  /** The parsed config with its relative paths resolved by `at` (absent: no path fields). */
  resolvePaths?: (config: z.output<S>, at: (path: string) => string) => z.output<S>;
}

/** Parses a config object; relative paths resolve against `baseDir`. `file` (if any) is named in the error. */
export function parseConfig<S extends z.ZodType>(spec: ConfigSpec<S>, raw: unknown, baseDir: string, file?: string): z.output<S> {
  const result = spec.schema.safeParse(raw);
  if (!result.success) {
    const fields = result.error.issues.map((issue) => `${issue.path.join(".") || "(root)"}: ${issue.message}`);
    throw new SettlenetError("CONFIG_INVALID", `invalid ${spec.label} configuration${file ? ` ${file}` : ""}: ${fields.join("; ")}`, {
      ...(file ? { path: file } : {}),
      fields: result.error.issues.map((issue) => issue.path.join(".")),
    });
  }
  return spec.resolvePaths ? spec.resolvePaths(result.data, (path) => resolve(baseDir, path)) : result.data;
}

/** Reads and validates a config file; relative paths resolve against the file's folder. */
export async function loadConfig<S extends z.ZodType>(spec: ConfigSpec<S>, path: string): Promise<z.output<S>> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, "utf8"));
  } catch (error) {
    throw new SettlenetError("CONFIG_UNREADABLE", `cannot read ${spec.label} configuration ${path}: ${(error as Error).message}`, { path });
  }
  return parseConfig(spec, raw, dirname(resolve(path)), path);
}
