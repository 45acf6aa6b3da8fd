/**
 * Profiles of bundled code name the TypeScript it came from: a small program is bundled with esbuild
 * (linked source maps, as the settlenet CLI is), run under `node --cpu-prof`, and its hot function
 * must be attributed to its source file and line, not to the bundle.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

import { expect } from "chai";

import { summarizeProfile, withSourcePositions, type CpuProfile } from "../../bench/lib/profile.js";
import { SourceMaps, decodeMappings } from "../../bench/lib/source-map.js";
import { projectRoot } from "../../bench/lib/paths.js";

/** A profile node: `functionName` at `url` (line 1), calling `children`. */
const frame = (id: number, functionName: string, url: string, children: number[] = []) => ({ id, callFrame: { functionName, url, lineNumber: 0, columnNumber: 0 }, children });

/** The summary of `nodes` sampled at `samples` (node ids) 1 ms apart, project root /p/; the last sample counts 0. */
function summarizeEveryMillisecond(nodes: CpuProfile["nodes"], samples: number[]) {
  const timeDeltas = samples.map((_, i) => (i === 0 ? 0 : 1_000));
  const endUs = samples.length * 1_000;
  return summarizeProfile({ nodes, startTime: 0, endTime: endUs, samples, timeDeltas }, { fromUs: 0, toUs: endUs, projectRoot: "/p/" });
}

interface Esbuild {
  build(options: Record<string, unknown>): Promise<unknown>;
}

async function esbuild(): Promise<Esbuild> {
  const fromTsx = createRequire(createRequire(join(projectRoot, "package.json")).resolve("tsx/package.json"));
  return (await import(pathToFileURL(fromTsx.resolve("esbuild")).href)) as Esbuild;
}

describe("bench/profile: source-mapped profiles", function () {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "settlenet-profile-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("decodes VLQ mappings with deltas across lines and negative values", () => {
    // Line 0: column 0 → source 0 line 0 column 0; column 4 → source 0 line 2 column 3.
    // Line 1: column 2 → source 1 line 1 column 0 (source +1, line −1, column −3).
    expect(decodeMappings("AAAA,IAEG;ECDH")).to.deep.equal([
      [
        [0, 0, 0, 0],
        [4, 0, 2, 3],
      ],
      [[2, 1, 1, 0]],
    ]);
    expect(() => decodeMappings("A!AA")).to.throw(/invalid base64 VLQ/);
  });

  it("attributes a bundled program's hot function to its TypeScript source and line", async () => {
    const source = join(dir, "src");
    const hotFile = join(source, "hot.ts");
    writeFileSync(join(dir, "package.json"), "{}");
    mkdirSync(source, { recursive: true });
    writeFileSync(
      hotFile,
      [
        "// padding so the function's line differs from the bundle's",
        "export const unused = 1;",
        "",
        "export function spinOnHashes(rounds: number): number {",
        "  let x = 0;",
        "  for (let i = 0; i < rounds; i++) x = (Math.imul(x, 1103515245) + 12345 + i) | 0;",
        "  return x;",
        "}",
      ].join("\n"),
    );
    writeFileSync(join(source, "main.ts"), 'import { spinOnHashes } from "./hot.js";\nlet total = 0;\nfor (let r = 0; r < 40; r++) total ^= spinOnHashes(5_000_000);\nconsole.log(total);\n');
    const out = join(dir, "out");
    await (await esbuild()).build({ entryPoints: [join(source, "main.ts")], outdir: out, bundle: true, format: "esm", platform: "node", sourcemap: "linked", logLevel: "error" });
    const profiles = join(dir, "profiles");
    const run = spawnSync(process.execPath, ["--cpu-prof", "--cpu-prof-dir", profiles, join(out, "main.js")], { encoding: "utf8" });
    expect(run.status, run.stderr).to.equal(0);
    const [file] = readdirSync(profiles);
    const raw = JSON.parse(readFileSync(join(profiles, file as string), "utf8")) as CpuProfile;

    const root = `${dir}/`;
    const everything = { fromUs: raw.startTime, toUs: raw.endTime, projectRoot: root };
    // Unmapped, the time lands on the bundle.
    const bundled = summarizeProfile(raw, everything);
    expect(bundled.byFunction[0]?.[0]).to.match(/^spinOnHashes out\/main\.js:\d+$/);
    // Mapped, on the source: the function starts on line 4 of hot.ts.
    const maps = new SourceMaps();
    const mapped = summarizeProfile(
      withSourcePositions(raw, (position) => maps.resolve(position)),
      everything,
    );
    const [top, us] = mapped.byFunction[0] as [string, number];
    expect(top).to.equal("spinOnHashes src/hot.ts:4");
    expect(us).to.be.greaterThan(mapped.busyUs / 2);
    expect(mapped.byModule[0]?.[0]).to.equal("src/hot.ts");
    expect(mapped.byProjectFunction[0]?.[0]).to.equal("spinOnHashes src/hot.ts:4");
  });

  it("charges a sample followed by a long gap (the thread off a core) one sampling interval, not the gap", () => {
    // 1 ms sampling: "steady" is sampled 100 times in a row, then "resumed" once before a 300 ms gap.
    const frame = (id: number, functionName: string) => ({ id, callFrame: { functionName, url: "file:///p/src/a.ts", lineNumber: 0, columnNumber: 0 } });
    const samples = [...Array.from({ length: 100 }, () => 2), 3, 2];
    const timeDeltas = [0, ...Array.from({ length: 100 }, () => 1_000), 300_000];
    const profile: CpuProfile = { nodes: [{ ...frame(1, "(root)"), children: [2, 3] }, frame(2, "steady"), frame(3, "resumed")], startTime: 0, endTime: 401_000, samples, timeDeltas };
    const summary = summarizeProfile(profile, { fromUs: 0, toUs: 401_000, projectRoot: "/p/" });
    const self = new Map(summary.byFunction);
    expect(self.get("resumed src/a.ts:1")).to.equal(1_000);
    expect(self.get("steady src/a.ts:1")).to.equal(100_000);
  });

  it("gives each project function its inclusive time, library frames below it included, once per sample however deep it recurses", () => {
    // route → handler → lib (node_modules) → handler (recursion); route → other. 1 ms sampling.
    const nodes = [
      frame(1, "(root)", "", [2]),
      frame(2, "route", "file:///p/src/routes.ts", [3, 6]),
      frame(3, "handler", "file:///p/src/handler.ts", [4]),
      frame(4, "parse", "file:///p/node_modules/lib/index.js", [5]),
      frame(5, "handler", "file:///p/src/handler.ts"),
      frame(6, "other", "file:///p/src/other.ts"),
    ];
    // 3 samples in the recursive handler, 2 in the library under the first handler, 2 in other (the last
    // sample has no interval after it, so it counts 0).
    const summary = summarizeEveryMillisecond(nodes, [5, 5, 5, 4, 4, 6, 6]);
    const inclusive = new Map(summary.byProjectInclusive);
    expect(inclusive.get("route src/routes.ts:1")).to.equal(6_000);
    expect(inclusive.get("handler src/handler.ts:1")).to.equal(5_000);
    expect(inclusive.get("other src/other.ts:1")).to.equal(1_000);
    expect(inclusive.has("parse lib/index.js:1")).to.equal(false);
    expect(summary.byProjectInclusive[0]?.[0]).to.equal("route src/routes.ts:1");
  });

  it("charges each sample to the outermost project function on its stack, or to the library its stack starts in", () => {
    // step → (library) → apply: the step owns it; a library callback → handler: the handler owns it;
    // the collector alone: no project frame. 1 ms sampling.
    const nodes = [
      frame(1, "(root)", "", [2, 5, 7]),
      frame(2, "step", "file:///p/src/indexer.ts", [3]),
      frame(3, "batch", "file:///p/node_modules/db/index.js", [4]),
      frame(4, "apply", "file:///p/src/storage.ts"),
      frame(5, "emit", "file:///p/node_modules/net/index.js", [6]),
      frame(6, "handler", "file:///p/src/handler.ts"),
      frame(7, "(garbage collector)", ""),
    ];
    const summary = summarizeEveryMillisecond(nodes, [4, 4, 3, 6, 6, 7, 7]);
    const roots = new Map(summary.byProjectRoot);
    expect(roots.get("step src/indexer.ts:1")).to.equal(3_000);
    expect(roots.get("handler src/handler.ts:1")).to.equal(2_000);
    expect(roots.get("(no project frame) (garbage collector)")).to.equal(1_000);
    expect(roots.has("apply src/storage.ts:1")).to.equal(false);
    expect(summary.byProjectRoot[0]?.[0]).to.equal("step src/indexer.ts:1");
  });
});
