/**
 * `npm start -- --chain-url <url>` on an independent chain with real block times (anvil: a block
 * every second, chain id 4242, only its 10 default accounts funded): the launcher deploys, onboards
 * through the operator commands' code and funds every key from the governance key; `npm run demo`
 * then runs its test-size scenario on that network and every check holds. A second network started
 * with `--deployment` onboards into the first one's contracts instead of deploying.
 * Part of `npm run test:anvil` only (skipped otherwise: it needs anvil and about two minutes).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { copyFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { expect } from "chai";

import { startAnvil, type AnvilChain } from "../../scripts/lib/launch/anvil.js";
import { freePortRange } from "../../scripts/lib/launch/ports.js";
import { PROJECT_ROOT, readNetworkState } from "../../scripts/lib/network.js";
import { ON_ANVIL } from "../helpers/chain.js";

interface Run {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exited: Promise<number | null>;
}

function run(script: string, args: string[]): Run {
  const child = spawn(process.execPath, ["--import", "tsx", join(PROJECT_ROOT, "scripts", script), ...args], { cwd: PROJECT_ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout?.on("data", (chunk: Buffer) => (out += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (err += chunk.toString()));
  const exited = new Promise<number | null>((resolveExit) => child.once("exit", (code) => resolveExit(code)));
  return { child, out: () => out, err: () => err, exited };
}

async function waitForBanner(launcher: Run): Promise<void> {
  while (!launcher.out().includes("Settlenet is running")) {
    if (launcher.child.exitCode !== null) throw new Error(`the launcher exited ${launcher.child.exitCode}: ${launcher.out()} ${launcher.err()}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}


async function stop(launcher: Run | undefined): Promise<number | null | undefined> {
  if (!launcher) return undefined;
  if (launcher.child.exitCode === null) launcher.child.kill("SIGINT");
  return launcher.exited;
}

describe("npm start -- --chain-url: the network on anvil with 1 s blocks, npm run demo on it", function () {
  this.timeout(600_000);
  let anvil: AnvilChain | undefined;
  let dir: string;
  let launcher: Run | undefined;

  before(async function () {
    if (!ON_ANVIL) this.skip(); // npm run test:anvil
    anvil = await startAnvil({ blockTime: 1, chainId: 4242, accounts: 10 });
    dir = await mkdtemp(join(tmpdir(), "settlenet-anvil-start-"));
  });
  after(async function () {
    await stop(launcher);
    await anvil?.close();
    if (dir && !process.env["SETTLENET_KEEP_E2E"]) await rm(dir, { recursive: true, force: true });
  });

  it("deploys and onboards on the chain, funding every key from the governance key; the demo's checks all hold", async function () {
    const url = anvil?.url ?? "";
    launcher = run("start.ts", ["--dir", join(dir, "first"), "--base-port", String(await freePortRange(22)), "--chain-url", url, "--payers", "4"]);
    await waitForBanner(launcher);
    expect(launcher.out()).to.include(`using the chain at ${url} (chain id 4242)`);
    expect(launcher.out()).to.include("operators' keys funded from the governance key");
    expect(launcher.out()).to.include(`chain JSON-RPC      ${url}   (chain id 4242)`);
    const state = await readNetworkState(join(dir, "first"));
    expect(state).to.include({ chainId: "4242", chainUrl: url });

    const demo = run("demo.ts", ["--dir", join(dir, "first"), "--size", "test"]);
    const code = await demo.exited;
    expect(code, `${demo.out()}\n${demo.err()}`).to.equal(0);
    expect(demo.out()).to.include("Using the network running from");
    expect(demo.out()).to.include("Every check held.");
    expect(await stop(launcher)).to.equal(0);
  });

  it("onboards a new network into an existing deployment (--deployment) instead of deploying", async function () {
    const url = anvil?.url ?? "";
    await copyFile(join(dir, "first", "deployment.json"), join(dir, "existing-deployment.json"));
    launcher = run("start.ts", ["--dir", join(dir, "second"), "--base-port", String(await freePortRange(22)), "--chain-url", url, "--deployment", join(dir, "existing-deployment.json"), "--payers", "4"]);
    await waitForBanner(launcher);
    expect(launcher.out()).to.include("deployment reused");
    expect(launcher.out()).to.not.include("contracts deployed");
    const [first, second] = await Promise.all([readNetworkState(join(dir, "first")), readNetworkState(join(dir, "second"))]);
    expect(second?.nodes.map((n) => n.peerId)).to.not.deep.equal(first?.nodes.map((n) => n.peerId));
    expect(await stop(launcher)).to.equal(0);
  });
});
