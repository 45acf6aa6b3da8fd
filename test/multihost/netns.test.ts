/**
 * Multi-host: three institution nodes and a regulator node, each in its own network namespace with an
 * address of its own (a veth pair into a bridge the test creates, as root, and removes afterwards), so
 * they reach each other only over libp2p on those addresses and the chain only over its JSON-RPC on
 * the bridge's address; nothing binds 127.0.0.1 across namespaces. They converge: every node connects to
 * every other, and an operation submitted to one is stored, executed once and reported executed by all.
 * Then the whole network of `npm start` (gateway and bank simulator in this namespace, talking to the
 * nodes over the bridge) runs the demo scenario at its test size with the nodes placed the same way
 * (chain time moved on to the deadlines it waits for, as in test/e2e/start.test.ts).
 * `npm run test:multihost` (root only; skipped, with the reason printed, when namespaces are refused).
 */
import { execFile } from "node:child_process";
import { randomBytes, randomInt } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

import { expect } from "chai";

import { startNetwork } from "../../scripts/lib/network.js";
import { SCENARIO_SIZES, runScenario } from "../../scripts/lib/scenario.js";
import { startChain } from "../helpers/chain.js";
import { submitAndWaitEverywhere } from "../helpers/faults.js";
import { launchNetwork, peersOf, waitFor, type TestNetwork } from "../helpers/network.js";
import { signedPay, termsFor } from "../helpers/operations.js";

const run = promisify(execFile);
const NAMES = ["institution-0", "institution-1", "institution-2", "regulator"];

async function ip(...args: string[]): Promise<void> {
  await run("ip", args);
}

describe("multi-host: nodes in separate network namespaces, connected over libp2p and the chain's RPC only", function () {
  this.timeout(600_000);
  const tag = randomBytes(2).toString("hex");
  // A /24 of its own per run, so that parallel runs on one machine do not meet.
  const subnet = `10.${200 + randomInt(50)}.${randomInt(250)}`;
  const bridge = `snb${tag}`;
  const namespaces = NAMES.map((_, i) => `settlenet-${tag}-${i}`);
  const hostOf = (i: number) => `${subnet}.${10 + i}`;
  const cleanup: (() => Promise<void>)[] = [];
  let net: TestNetwork | undefined;

  before(async function () {
    // Its own suite (root, namespaces): not part of npm test.
    if (process.env["SETTLENET_TEST_MULTIHOST"] !== "1") this.skip();
    const uid = process.getuid?.();
    if (uid !== 0) {
      process.stderr.write(`      skipped: not root (uid ${uid}); creating network namespaces needs root\n`);
      this.skip();
    }
    try {
      await ip("netns", "add", namespaces[0] ?? "");
    } catch (error) {
      process.stderr.write(`      skipped: \`ip netns add\` refused: ${((error as { stderr?: string }).stderr ?? (error as Error).message).trim()}\n`);
      this.skip();
    }
    cleanup.push(() => ip("netns", "del", namespaces[0] ?? ""));
    await ip("link", "add", bridge, "type", "bridge");
    cleanup.push(() => ip("link", "del", bridge));
    await ip("addr", "add", `${subnet}.1/24`, "dev", bridge);
    await ip("link", "set", bridge, "up");
    for (const [i, ns] of namespaces.entries()) {
      if (i > 0) {
        await ip("netns", "add", ns);
        cleanup.push(() => ip("netns", "del", ns));
      }
      // Deleting the namespace deletes its end of the pair, and with it the pair.
      await ip("link", "add", `snh${tag}${i}`, "type", "veth", "peer", "name", `snn${tag}${i}`);
      await ip("link", "set", `snn${tag}${i}`, "netns", ns);
      await ip("link", "set", `snh${tag}${i}`, "master", bridge, "up");
      await ip("-n", ns, "addr", "add", `${hostOf(i)}/24`, "dev", `snn${tag}${i}`);
      await ip("-n", ns, "link", "set", `snn${tag}${i}`, "up");
      await ip("-n", ns, "link", "set", "lo", "up");
    }
    // The chain answers on the bridge's address only: the namespaces' one way to it.
    const chain = await startChain({ host: `${subnet}.1` });
    net = await launchNetwork({
      chain,
      institutions: 3,
      regulator: true,
      payers: 2,
      placement: Object.fromEntries(NAMES.map((name, i) => [name, { host: hostOf(i), netns: namespaces[i] ?? "" }])),
    });
  });

  after(async function () {
    await net?.stop();
    for (const undo of cleanup.reverse()) await undo().catch((error: unknown) => process.stderr.write(`cleanup: ${(error as Error).message}\n`));
  });

  it("runs each node in its own namespace, on its own address", async function () {
    if (!net) throw new Error("no network");
    for (const [i, node] of net.nodes.entries()) {
      expect(node.p2pAddr).to.match(new RegExp(`^/ip4/${hostOf(i).replaceAll(".", "\\.")}/tcp/`));
      const pid = node.process?.pid;
      const { stdout } = await run("ip", ["netns", "identify", String(pid)]);
      expect(stdout.trim(), node.name).to.equal(namespaces[i]);
    }
  });

  it("connects every node to every other registered node", async function () {
    if (!net) throw new Error("no network");
    for (const node of net.nodes) await waitFor(`${node.name} to see ${net.nodes.length - 1} peers`, async () => (await peersOf(node)).length === (net?.nodes.length ?? 0) - 1, 60_000);
  });

  it("stores an operation submitted to one node on all, executes it once and reports it executed everywhere", async function () {
    if (!net) throw new Error("no network");
    const s = net.scenario;
    const pay = await signedPay(s, await termsFor(s, 0, 0));
    const entry = net.nodes[1];
    if (!entry) throw new Error("no node");
    await submitAndWaitEverywhere(net.nodes, entry, pay, 60_000);
    expect(await s.contracts.escrow.queryFilter(s.contracts.escrow.filters.PaymentPaid(pay.paymentId))).to.have.length(1);
  });

  it("runs the demo scenario (test size) with the nodes in their namespaces, the gateway and bank outside", async function () {
    await net?.stop();
    net = undefined;
    const chain = await startChain({ host: `${subnet}.1` });
    const root = await mkdtemp(join(tmpdir(), "settlenet-netns-demo-"));
    try {
      const started = await startNetwork({
        root,
        chainUrl: chain.url,
        ports: "auto",
        payers: SCENARIO_SIZES.test.payers,
        logLevel: "warn",
        placement: NAMES.map((_, i) => ({ host: hostOf(i), netns: namespaces[i] ?? "" })),
        // The custodian's node reads the bank from its namespace: the bank listens on the bridge, as the chain does.
        bankHost: `${subnet}.1`,
      });
      try {
        expect(started.endpoints.nodes.map((n) => new URL(n.api).hostname)).to.deep.equal(NAMES.map((_, i) => hostOf(i)));
        const summary = await runScenario({ root, endpoints: started.endpoints, state: started.state, size: SCENARIO_SIZES.test, timeoutMs: 120_000, advanceChainTime: true });
        const failed = summary.checks.filter((c) => !c.ok);
        expect(failed, JSON.stringify(failed)).to.deep.equal([]);
        expect(summary.ok).to.equal(true);
      } finally {
        await started.stop();
      }
    } finally {
      await chain.close();
      if (!process.env["SETTLENET_KEEP_E2E"]) await rm(root, { recursive: true, force: true });
    }
  });
});
