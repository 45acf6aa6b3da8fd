/** Paths of the project the benchmarks run from. */
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const CLI = join(projectRoot, "scripts", "settlenet.ts");
