/**
 * The settlenet CLI compiled once into JavaScript, reused by every process a launcher starts. Under tsx
 * each process transformed and loaded the TypeScript tree on its own (about a second of CPU a process);
 * the build is an esbuild bundle (packages stay external, loaded from node_modules) in
 * `cache/settlenet-cli/<hash>/`, keyed by the contents of every source file it was built from, so any
 * edit makes the next launch rebuild it.
 */
import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
/** Where builds are kept (hardhat's cache folder: ignored by git, emptied by `hardhat clean`). */
export const CLI_BUILD_DIR = join(PROJECT_ROOT, "cache", "settlenet-cli");
const CLI_SOURCE = join(PROJECT_ROOT, "scripts", "settlenet.ts");
/** This file, which says how the CLI is built: every build's key covers it. */
const RECIPE = relative(PROJECT_ROOT, fileURLToPath(import.meta.url));
const MANIFEST = join(CLI_BUILD_DIR, "current.json");
/** Builds kept besides the current one: a process started from an older build may still load its chunks. */
const KEPT_BUILDS = 4;

interface Manifest {
  hash: string;
  /** Every source file of the build, relative to the project root. */
  inputs: string[];
}

/** The hash of `files`' names and contents (undefined if one is gone). */
function hashInputs(files: string[]): string | undefined {
  const hash = createHash("sha256");
  for (const file of files) {
    let content: Buffer;
    try {
      content = readFileSync(join(PROJECT_ROOT, file));
    } catch {
      return undefined;
    }
    hash.update(file).update("\0").update(content).update("\0");
  }
  return hash.digest("hex").slice(0, 20);
}

function readManifest(): Manifest | undefined {
  try {
    return JSON.parse(readFileSync(MANIFEST, "utf8")) as Manifest;
  } catch {
    return undefined;
  }
}

/** The built entry point if the current build matches the sources. */
function currentEntry(): string | undefined {
  const manifest = readManifest();
  if (!manifest?.inputs.includes(RECIPE)) return undefined;
  const entry = join(CLI_BUILD_DIR, manifest.hash, "settlenet.js");
  return hashInputs(manifest.inputs) === manifest.hash && existsSync(entry) ? entry : undefined;
}

let memo: string | undefined;

/**
 * The JavaScript entry point of the settlenet CLI, built first if the sources changed since the last
 * build (synchronously, in a child process: the launcher's spawn is synchronous).
 */
export function settlenetCliEntry(): string {
  if (memo && currentEntry() === memo) return memo;
  let entry = currentEntry();
  if (!entry) {
    const run = spawnSync(process.execPath, ["--import", "tsx", join(PROJECT_ROOT, "scripts", "lib", "launch", "build-cli.ts")], { cwd: PROJECT_ROOT, encoding: "utf8" });
    entry = currentEntry();
    if (run.status !== 0 || !entry) throw new Error(`building the settlenet CLI failed (exit ${run.status}): ${run.stderr || run.error?.message || ""}`);
  }
  memo = entry;
  return entry;
}

/** Builds the CLI into a new folder named by its sources' hash and makes it the current build. */
export async function buildCli(): Promise<string> {
  const esbuild = await loadEsbuild();
  mkdirSync(CLI_BUILD_DIR, { recursive: true });
  const staging = join(CLI_BUILD_DIR, `.build-${process.pid}-${randomBytes(4).toString("hex")}`);
  const result = await esbuild.build({
    entryPoints: { settlenet: CLI_SOURCE },
    outdir: staging,
    bundle: true,
    // Chunks per command, loaded on demand as the dispatcher's dynamic imports were.
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node20",
    packages: "external",
    sourcemap: "linked",
    metafile: true,
    logLevel: "warning",
    plugins: [sourceLocations],
  });
  // The recipe is part of the key too: a change to how the CLI is built rebuilds it.
  const inputs = [...new Set([RECIPE, ...Object.keys(result.metafile.inputs).map((input) => relative(PROJECT_ROOT, resolve(PROJECT_ROOT, input)))])].sort();
  const hash = hashInputs(inputs);
  if (!hash) throw new Error("a source file vanished while the settlenet CLI was built");
  const target = join(CLI_BUILD_DIR, hash);
  if (existsSync(target)) rmSync(staging, { recursive: true, force: true });
  else renameSync(staging, target);
  const manifestTmp = `${MANIFEST}.${process.pid}`;
  writeFileSync(manifestTmp, JSON.stringify({ hash, inputs } satisfies Manifest));
  renameSync(manifestTmp, MANIFEST);
  pruneBuilds(hash);
  return join(target, "settlenet.js");
}

/** Removes all but the newest builds (and staging folders of builds that died). */
function pruneBuilds(current: string): void {
  const builds = readdirSync(CLI_BUILD_DIR, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && entry.name !== current)
    .map((entry) => ({ path: join(CLI_BUILD_DIR, entry.name), mtimeMs: statSync(join(CLI_BUILD_DIR, entry.name)).mtimeMs, staging: entry.name.startsWith(".build-") }))
    .sort((a, b) => b.mtimeMs - a.mtimeMs);
  const hour = 3_600_000;
  const stale = [...builds.filter((b) => !b.staging).slice(KEPT_BUILDS), ...builds.filter((b) => b.staging && Date.now() - b.mtimeMs > hour)];
  for (const build of stale) rmSync(build.path, { recursive: true, force: true });
}

/**
 * Keeps each module's `import.meta.url` its source file's URL, so paths resolved from it (contract
 * artifacts, the console's files, the signature worker's script) stay where they are in the tree.
 */
const sourceLocations = {
  name: "settlenet-source-locations",
  setup(build: { onLoad(options: { filter: RegExp }, callback: (args: { path: string }) => Promise<{ contents: string; loader: "ts" } | undefined>): void }) {
    build.onLoad({ filter: /\.ts$/ }, async (args) => {
      if (args.path.includes("/node_modules/")) return undefined;
      const source = await readFile(args.path, "utf8");
      const url = pathToFileURL(args.path).href;
      const contents = source
        .replaceAll("import.meta.url", JSON.stringify(url))
        .replaceAll("import.meta.dirname", JSON.stringify(dirname(args.path)))
        .replaceAll("import.meta.filename", JSON.stringify(args.path));
      return { contents, loader: "ts" };
    });
  },
};

interface Esbuild {
  build(options: Record<string, unknown>): Promise<{ metafile: { inputs: Record<string, unknown> } }>;
}

/** esbuild as tsx (a development dependency) depends on it: the same compiler that ran the sources. */
async function loadEsbuild(): Promise<Esbuild> {
  const fromTsx = createRequire(createRequire(join(PROJECT_ROOT, "package.json")).resolve("tsx/package.json"));
  return (await import(pathToFileURL(fromTsx.resolve("esbuild")).href)) as Esbuild;
}
