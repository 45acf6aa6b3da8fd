/**
 * Faults a running network must survive (node issue, "done means"): the relaying node killed with
 * SIGKILL right after it accepted 200 operations, and while it relays them; and the chain RPC cut off
 * in the middle of a stream of operations, until every node has seen the others' leases lapse. Real node processes, a real local chain, real
 * LevelDB. Exactly-once is judged from the relay transactions themselves (test/helpers/exactly-once.ts),
 * not from PaymentPaid events, which the escrow cannot repeat whatever the nodes do. (The backlog
 * relayed slower than accepted, whose lease races another test file's load can decide, is
 * test/e2e/relay-backlog.test.ts, which `npm test` runs alone.)
 */
import { expect } from "chai";
import { getAddress, ZeroAddress } from "ethers";
import { readFile, writeFile } from "node:fs/promises";

import type { NodeConfigInput } from "../../node/config.js";
import type { EscrowOperationInput } from "../../core/operations/index.js";
import { duplicatesCounted, expectExactlyOnce, nextBlock, reportedBy, takeoversDeferred } from "../helpers/exactly-once.js";
import { expectHeld, nodeNamed, paidEvents, submitAll, waitAllPaid, waitConnected, waitReportedExecuted } from "../helpers/faults.js";
import { getJson, launchNetwork, waitFor, type NodeHandle, type TestNetwork } from "../helpers/network.js";
import { signedPays } from "../helpers/operations.js";

/**
 * The relay settings of every node: failover after 3 s; admission control would refuse new work once
 * the chain is out of reach for longer than its bound (5 s by default): the outage test's point is that
 * nothing accepted during a whole outage is lost, so the bound is above it.
 */
const RELAY = { batchIntervalMs: 100, failoverTimeoutMs: 3_000, maxLagMs: 60_000 };

/** Restarts `node` with `relay` as its relay settings. */
async function restartWithRelay(net: TestNetwork, node: NodeHandle, relay: NonNullable<NodeConfigInput["relay"]>): Promise<void> {
  const config = JSON.parse(await readFile(node.configFile, "utf8")) as NodeConfigInput;
  await writeFile(node.configFile, JSON.stringify({ ...config, relay }));
  await node.stop("SIGTERM");
  await node.start();
  await waitConnected(net);
}

// One network for the three faults (a launch is about a tenth of this file's time): each test starts
// once every node reports the previous test's operations executed, and judges only its own operations
// and the blocks from its own start.
describe("faults on one network", function () {
  let net: TestNetwork;

  before(async function () {
    this.timeout(120_000);
    net = await launchNetwork({
      institutions: 3,
      regulator: true,
      payers: 8,
      payerFunds: 100_000_000n,
      rpcProxy: true,
      config: { relay: RELAY },
      // Node A would batch for ten minutes, and 200 pays fill none of its caps (an item of a pay is 736
      // bytes of calldata, so the default byte cap would fill at 163 and send at once): the kill certainly
      // lands before it relays anything.
      nodeConfig: { "institution-0": { relay: { ...RELAY, batchSize: 500, batchIntervalMs: 600_000, maxBatchBytes: 1_000_000 } } },
    });
    await waitConnected(net);
  });
  after(async function () {
    await net?.stop();
  });

  describe("fault: the relaying node is killed with SIGKILL right after accepting 200 operations", function () {
    this.timeout(120_000);

    it("executes all 200 exactly once through failover by the other institutions, and the restarted node reports them executed", async function () {
      const s = net.scenario;
      const a = nodeNamed(net, "institution-0");
      const pays = await signedPays(s, 200);
      const ids = pays.map((p) => p.paymentId);
      const fromBlock = await nextBlock(s);

      const started = Date.now();
      await submitAll(a, pays.slice(0, 100));
      await submitAll(a, pays.slice(100));
      await a.stop("SIGKILL");
      const killedAt = Date.now();

      const paid = await waitAllPaid(s, ids, 60_000);
      const failoverMs = Date.now() - killedAt;
      await expectHeld(s, ids);
      // Relayed by B and C only: node A never sent a transaction.
      const senders = new Set<string>();
      for (const hash of new Set([...paid.values()].flat().map((e) => e.txHash))) {
        const tx = await s.chain.provider.getTransaction(hash);
        senders.add(getAddress(tx?.from ?? ""));
      }
      const others = s.institutions.slice(1).map((w) => getAddress(w.address));
      expect([...senders].filter((from) => !others.includes(from))).to.deep.equal([]);

      await a.start();
      const ops = await waitReportedExecuted(a, ids);
      expect(ops.filter((op) => op.origin !== "api")).to.have.length(0);
      expect(ops.filter((op) => !others.includes(getAddress(op.execution?.relayer ?? ZeroAddress)))).to.have.length(0);
      await expectHeld(s, ids);
      for (const node of net.nodes.filter((n) => n !== a)) await waitReportedExecuted(node, ids);
      // A sent nothing before the kill (it was still batching), so no relay of A's can have raced the
      // failover, and restarting must not relay anything again: not one item may be relayed twice.
      await expectExactlyOnce(s, net.nodes, ids, { fromBlock, maxDuplicates: 0 });
      console.log(`      200 operations: failover took ${failoverMs} ms, whole scenario ${Date.now() - started} ms`);
    });

    it("executes all 200 exactly once when the kill lands while the node is relaying, and the restarted node reports them executed", async function () {
      const s = net.scenario;
      const a = nodeNamed(net, "institution-0");
      // Small batches sent at once, so that A relays while the test goes on.
      const BATCH = 20;
      const IN_FLIGHT = 4;
      await restartWithRelay(net, a, { ...RELAY, batchSize: BATCH, maxInFlightBatches: IN_FLIGHT, batchIntervalMs: 20 });
      const pays = await signedPays(s, 200, 200);
      const ids = pays.map((p) => p.paymentId);
      const fromBlock = await nextBlock(s);

      const started = Date.now();
      await submitAll(a, pays.slice(0, 100));
      // A is relaying: the kill lands with part of its work on-chain and the rest queued or in flight.
      await waitFor("node A to relay part of the first 100", async () => {
        const paid = await paidEvents(s);
        return ids.slice(0, 100).filter((id) => paid.has(id.toLowerCase())).length >= 20;
      }, 30_000, 50);
      await submitAll(a, pays.slice(100));
      await a.stop("SIGKILL");

      await waitAllPaid(s, ids, 60_000);
      const paidMs = Date.now() - started;
      await expectHeld(s, ids);
      await a.start();
      const ops = await waitReportedExecuted(a, ids);
      await expectHeld(s, ids);
      for (const node of net.nodes.filter((n) => n !== a)) await waitReportedExecuted(node, ids);
      const byA = ops.filter((op) => getAddress(op.execution?.relayer ?? ZeroAddress) === getAddress(s.institutions[0]?.address ?? "")).length;
      expect(byA).to.be.within(20, 199);
      // The others take over what they cannot see executed; an item is relayed twice only if one of A's
      // transactions was broadcast before the kill and mined after they checked it had none pending: at
      // most A's batches in flight.
      const { duplicates } = await expectExactlyOnce(s, net.nodes, ids, { fromBlock, maxDuplicates: BATCH * IN_FLIGHT });
      console.log(`      200 operations: ${byA} relayed by the killed node, ${200 - byA} through failover, ${duplicates} duplicate items; all paid ${paidMs} ms after the first submission`);
    });
  });

  describe("fault: the chain RPC is cut off during a stream of operations, longer than the failover timeout", function () {
    this.timeout(120_000);

    before(async function () {
      // Node A relays as the others do again (the kill tests changed its relay settings).
      await restartWithRelay(net, nodeNamed(net, "institution-0"), RELAY);
    });

    it("accepts operations while the chain is unreachable, loses none, and executes each exactly once after it returns", async function () {
      const s = net.scenario;
      const proxy = net.rpcProxy;
      if (!proxy) throw new Error("no rpc proxy");
      const institutions = net.nodes.filter((n) => n.role === "institution");
      const PER_POST = 5;
      const before = await signedPays(s, 30, 0);
      const during = await signedPays(s, 100, 30);
      const after = await signedPays(s, 30, 130);
      const fromBlock = await nextBlock(s);

      // A stream of small batch submissions, round-robin over the institution nodes.
      let post = 0;
      /** Streams `pays`; returns how many each node took. */
      const stream = async (pays: { op: EscrowOperationInput; paymentId: string }[], everyMs: number) => {
        const taken = new Map<NodeHandle, number>();
        for (let i = 0; i < pays.length; i += PER_POST) {
          const node = institutions[post++ % institutions.length];
          if (!node) throw new Error("no node");
          const part = pays.slice(i, i + PER_POST);
          await submitAll(node, part);
          taken.set(node, (taken.get(node) ?? 0) + part.length);
          await new Promise((r) => setTimeout(r, everyMs));
        }
        return taken;
      };

      await stream(before, 100);
      const deferredBefore = await Promise.all(institutions.map(takeoversDeferred));
      // The counters run since each node started: the kill tests before may have counted duplicates.
      const duplicatesBefore = await Promise.all(institutions.map(duplicatesCounted));
      await proxy.pause();
      const pausedAt = Date.now();
      const takenDuring = await stream(during, 300);
      // The outage is real: nodes cannot see the chain, and nothing submitted meanwhile executed.
      const health = await getJson<{ chain: { head: number | null } }>(`${institutions[0]?.apiUrl}/health`);
      expect(health.status).to.equal(503);
      expect(health.body.chain.head).to.equal(null);
      // Gossip does not need the chain: every node already holds every operation, waiting.
      for (const node of net.nodes) {
        const held = await waitFor(`${node.name} to store the operations submitted during the outage`, async () => {
          const ops = await reportedBy(node, during.map((p) => p.paymentId));
          return ops.every((op) => op !== undefined) ? ops : undefined;
        });
        expect(held.filter((op) => op?.status === "executed")).to.have.length(0);
      }
      // The outage lasts until every node has found the operations the others took due (their leases
      // lapsed by the clock: none of them makes progress) and left them, as many times at least.
      await waitFor("every node to find the others' operations due and leave them while the chain is down", async () => {
        const deferred = await Promise.all(institutions.map(takeoversDeferred));
        return institutions.every((node, i) => (deferred[i] ?? 0) - (deferredBefore[i] ?? 0) >= during.length - (takenDuring.get(node) ?? 0));
      }, 60_000);
      const paidDuring = await paidEvents(s);
      expect(during.filter((p) => paidDuring.has(p.paymentId.toLowerCase()))).to.have.length(0);
      await proxy.resume();
      const resumedAt = Date.now();
      await stream(after, 100);

      const all = [...before, ...during, ...after].map((p) => p.paymentId);
      await waitAllPaid(s, all, 60_000);
      const catchUpMs = Date.now() - resumedAt;
      await expectHeld(s, all);
      for (const node of net.nodes) await waitReportedExecuted(node, all);
      await expectHeld(s, all);
      // No node failed: the outage lapses nobody's lease, so no institution relays what another holds.
      // Every item relayed once, as the chain shows it and as the nodes' own counters do.
      await expectExactlyOnce(s, net.nodes, all, { fromBlock, maxDuplicates: 0 });
      const duplicates = await Promise.all(institutions.map(async (node, i) => (await duplicatesCounted(node)) - (duplicatesBefore[i] ?? 0)));
      expect(duplicates, "duplicate items counted by each institution during this test").to.deep.equal(institutions.map(() => 0));
      console.log(`      ${all.length} operations (${during.length} during a ${resumedAt - pausedAt} ms outage): all paid ${catchUpMs} ms after the RPC returned`);
    });
  });
});
