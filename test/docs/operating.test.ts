/**
 * docs/operating.md and the Grafana dashboard it ships (ops/grafana/settlenet-node.json) name only
 * metrics the node defines, and the operator commands the guide tells to run exist.
 */
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";

import { expect } from "chai";

import { PROJECT_ROOT } from "../helpers/cli.js";

function sources(dir: string): string {
  return readdirSync(join(PROJECT_ROOT, dir), { recursive: true, encoding: "utf8" })
    .filter((file) => file.endsWith(".ts"))
    .map((file) => readFileSync(join(PROJECT_ROOT, dir, file), "utf8"))
    .join("\n");
}

describe("operating guide (docs/operating.md) and Grafana dashboard", function () {
  const guide = readFileSync(join(PROJECT_ROOT, "docs", "operating.md"), "utf8");
  const dashboard = readFileSync(join(PROJECT_ROOT, "ops", "grafana", "settlenet-node.json"), "utf8");
  const defined = sources("node") + sources("core");

  it("names only metrics the node defines", function () {
    const named = new Set([...guide.matchAll(/settlenet_[a-z0-9_]+/g), ...dashboard.matchAll(/settlenet_[a-z0-9_]+/g)].map((m) => m[0]));
    expect(named.size).to.be.greaterThan(10);
    for (const metric of named) expect(defined, metric).to.include(`"${metric}"`);
  });

  it("is a Grafana dashboard over Prometheus with a panel per metric group", function () {
    const parsed = JSON.parse(dashboard) as { uid: string; panels: { targets: { expr: string }[] }[] };
    expect(parsed.uid).to.equal("settlenet-node");
    expect(parsed.panels.length).to.be.greaterThan(8);
    for (const panel of parsed.panels) expect(panel.targets.length).to.be.greaterThan(0);
  });

  it("tells to run operator commands that exist", function () {
    const dispatcher = readFileSync(join(PROJECT_ROOT, "scripts", "settlenet.ts"), "utf8");
    const groups = new Set([...guide.matchAll(/npm run settlenet -- ([a-z]+)/g)].map((m) => m[1] ?? ""));
    for (const group of groups) expect(dispatcher, group).to.match(new RegExp(`\\b${group}\\b`));
  });
});
