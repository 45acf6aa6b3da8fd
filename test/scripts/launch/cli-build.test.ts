/**
 * The settlenet CLI's build (scripts/lib/launch/cli-build.ts): reused while its sources are unchanged,
 * keyed by their contents, and behaving as the sources do when run (its modules still resolve paths
 * from where their source files are).
 */
import { execFile } from "node:child_process";
import { readFile, readdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";

import { expect } from "chai";

import { CLI_BUILD_DIR, settlenetCliEntry } from "../../../scripts/lib/launch/cli-build.js";
import { PROJECT_ROOT } from "../../../scripts/lib/launch/part.js";

const execFileAsync = promisify(execFile);

describe("launcher: the settlenet CLI built once and reused", function () {
  this.timeout(120_000);

  it("reuses the build while no source changed, named by the hash of every source file it holds", async function () {
    const entry = settlenetCliEntry();
    expect(settlenetCliEntry()).to.equal(entry);
    const manifest = JSON.parse(await readFile(join(CLI_BUILD_DIR, "current.json"), "utf8")) as { hash: string; inputs: string[] };
    expect(entry).to.equal(join(CLI_BUILD_DIR, manifest.hash, "settlenet.js"));
    // Every process's sources and the recipe are in it, so an edit to any of them makes the next launch rebuild.
    expect(manifest.inputs).to.include.members(["scripts/lib/launch/cli-build.ts", "scripts/settlenet.ts", "node/cli.ts", "gateway/cli.ts", "bank-sim/cli.ts", "core/protocol/artifacts.ts"]);
  });

  it("runs as the sources do: one-line coded errors, and contract artifacts found in the tree", async function () {
    const usage = await execFileAsync(process.execPath, [settlenetCliEntry()], { cwd: PROJECT_ROOT }).catch((error: { code: number; stderr: string }) => error);
    expect((usage as { code: number }).code).to.equal(1);
    expect((usage as { stderr: string }).stderr).to.match(/^settlenet: USAGE: /);
    // No module of the build resolves paths from the build's own folder: each import.meta is its
    // source file's (contract artifacts, console/dist and the signature worker are found in the tree).
    const folder = dirname(settlenetCliEntry());
    const chunks = (await readdir(folder)).filter((name) => name.endsWith(".js"));
    expect(chunks.length).to.be.greaterThan(1);
    for (const chunk of chunks) expect(await readFile(join(folder, chunk), "utf8"), chunk).to.not.contain("import.meta");
    const artifacts = pathToFileURL(join(PROJECT_ROOT, "core", "protocol", "artifacts.ts")).href;
    expect((await Promise.all(chunks.map((chunk) => readFile(join(folder, chunk), "utf8")))).some((text) => text.includes(JSON.stringify(artifacts)))).to.equal(true);
  });
});
