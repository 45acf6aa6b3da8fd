import { mkdtemp, mkdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { expect } from "chai";
import { z } from "zod";

import { loadConfig, parseConfig, type ConfigSpec } from "../../core/config.js";
import { refusal, refusalOf } from "../helpers/errors.js";

const schema = z.strictObject({ port: z.number().int().min(0), dataDir: z.string().min(1), name: z.string().default("sample") });
const spec: ConfigSpec<typeof schema> = {
  label: "sample",
  schema,
  resolvePaths: (config, at) => ({ ...config, dataDir: at(config.dataDir) }),
};

describe("configuration files", function () {
  let dir: string;
  before(async function () {
    dir = await mkdtemp(join(tmpdir(), "settlenet-core-config-"));
  });
  after(async function () {
    await rm(dir, { recursive: true, force: true });
  });

  it("reads a file, fills defaults and resolves relative paths against the file's folder", async function () {
    await mkdir(join(dir, "etc"), { recursive: true });
    const path = join(dir, "etc", "sample.json");
    await writeFile(path, JSON.stringify({ port: 7000, dataDir: "../data" }));
    const config = await loadConfig(spec, path);
    expect(config).to.deep.equal({ port: 7000, dataDir: join(dir, "data"), name: "sample" });
    expect(parseConfig(spec, { port: 1, dataDir: "/abs" }, "/srv").dataDir).to.equal("/abs");
  });

  it("refuses a file that does not match with one CONFIG_INVALID naming the file and every bad field", async function () {
    const path = join(dir, "bad.json");
    await writeFile(path, JSON.stringify({ port: -1, dataDir: "", extra: true }));
    const error = await refusalOf(loadConfig(spec, path));
    expect(error.code).to.equal("CONFIG_INVALID");
    expect(error.meta["path"]).to.equal(path);
    expect(error.meta["fields"]).to.have.members(["port", "dataDir", ""]);
    expect(error.message).to.include(path).and.include("port:").and.include("dataDir:");
    // Without a file only the fields are named.
    const parsed = refusal(() => parseConfig(spec, { port: "1", dataDir: "d" }, "/"));
    expect(parsed.meta).to.deep.equal({ fields: ["port"] });
  });

  it("refuses a missing file and one that is not JSON with CONFIG_UNREADABLE naming the file", async function () {
    const path = join(dir, "broken.json");
    await writeFile(path, "{ not json");
    for (const file of [path, join(dir, "missing.json")]) {
      const error = await refusalOf(loadConfig(spec, file));
      expect(error.code).to.equal("CONFIG_UNREADABLE");
      expect(error.meta).to.deep.equal({ path: file });
    }
  });
});
