/**
 * A fault a running network must survive (node issue, "done means"): a backlog of thousands of
 * operations that the relaying node works through slower than it accepted them; the others leave it
 * alone while it makes progress (its lease, renewed every 250 ms, lapses after 2 s without one), and
 * take over when it is killed halfway. Real node processes, a real local chain, real LevelDB.
 * Exactly-once is judged from the relay transactions themselves (test/helpers/exactly-once.ts).
 * `npm test` runs this file alone, after the others: another file's load on the CPU can stall a lease
 * renewal past the failover timeout, which is what this test says does not happen while A works.
 */
import { expect } from "chai";
import { getAddress } from "ethers";

import { duplicatesCounted, expectExactlyOnce, nextBlock } from "../helpers/exactly-once.js";
import { expectHeld, nodeNamed, paidEvents, submitAll, waitAllPaid, waitConnected, waitReportedExecuted } from "../helpers/faults.js";
import { launchNetwork, waitFor, type NodeHandle, type TestNetwork } from "../helpers/network.js";
import { signedPays } from "../helpers/operations.js";

describe("fault: a backlog of 2,000 operations, relayed slower than accepted, and its relaying node killed halfway", function () {
  // The waits below carry the deadlines (a machine shared with CPU hogs relays the backlog slowly): the
  // test's own budget is their sum, not a tighter wall-clock limit of its own.
  this.timeout(900_000);
  const BATCH = 10;
  const IN_FLIGHT = 1;
  let net: TestNetwork;

  before(async function () {
    const relay = { failoverTimeoutMs: 2_000, leaseRenewMs: 250 };
    net = await launchNetwork({
      institutions: 3,
      payers: 8,
      payerFunds: 100_000_000n,
      config: { relay },
      // A relays 10 operations per transaction, one transaction at a time, and admits everything.
      nodeConfig: { "institution-0": { relay: { ...relay, batchSize: BATCH, maxInFlightBatches: IN_FLIGHT, batchIntervalMs: 20, maxLagMs: 3_600_000, maxQueueGas: 1_000_000_000_000 } } },
    });
    await waitConnected(net);
  });
  after(async function () {
    await net?.stop();
  });

  it("leaves the backlog to A while A makes progress, takes over the rest once A is killed, and executes every operation exactly once", async function () {
    const s = net.scenario;
    const [a, b, c] = ["institution-0", "institution-1", "institution-2"].map((name) => nodeNamed(net, name)) as [NodeHandle, NodeHandle, NodeHandle];
    const pays = await signedPays(s, 2_000, 1_000);
    const ids = pays.map((p) => p.paymentId);
    const others = s.institutions.slice(1).map((w) => getAddress(w.address));
    const nonces = await Promise.all(others.map((address) => s.chain.provider.getTransactionCount(address)));
    const fromBlock = await nextBlock(s);

    const started = Date.now();
    for (let i = 0; i < pays.length; i += 500) await submitAll(a, pays.slice(i, i + 500));
    const acceptedMs = Date.now() - started;
    // Half of it on-chain: by then the backlog has lasted many failover timeouts.
    await waitFor("A to relay half of the backlog", async () => {
      const paid = await paidEvents(s);
      return ids.filter((id) => paid.has(id.toLowerCase())).length >= 1_000;
    }, 240_000, 250);
    const halfMs = Date.now() - started;
    expect(halfMs - acceptedMs, "the backlog outlasted the failover timeout several times").to.be.greaterThan(3 * 2_000);
    expect(await Promise.all(others.map((address) => s.chain.provider.getTransactionCount(address))), "B and C sent nothing while A made progress").to.deep.equal(nonces);

    await a.stop("SIGKILL");
    const killedAt = Date.now();
    const paid = await waitAllPaid(s, ids, 240_000);
    const takeoverMs = Date.now() - killedAt;
    await expectHeld(s, ids);
    const senders = new Set<string>();
    for (const hash of new Set([...paid.values()].flat().map((e) => e.txHash))) senders.add(getAddress((await s.chain.provider.getTransaction(hash))?.from ?? ""));
    expect([...senders].filter((from) => others.includes(from)), "B or C took over").to.not.have.length(0);
    // Within the failover, an item is relayed twice only if a transaction of A's reached the chain after B or
    // C checked it had none pending: at most A's batches in flight. On one chain node that is none.
    const duplicates = (await duplicatesCounted(b)) + (await duplicatesCounted(c));
    expect(duplicates).to.be.at.most(BATCH * IN_FLIGHT);

    await a.start();
    await waitReportedExecuted(a, ids, 120_000);
    for (const node of [b, c]) await waitReportedExecuted(node, ids, 120_000);
    await expectHeld(s, ids);
    // The chain's own count of items relayed twice, under the same bound as the nodes' counter.
    const onChain = await expectExactlyOnce(s, net.nodes, ids, { fromBlock, maxDuplicates: BATCH * IN_FLIGHT });
    console.log(`      2,000 operations accepted in ${acceptedMs} ms; half relayed by A after ${halfMs} ms; the rest ${takeoverMs} ms after the kill; ${onChain.duplicates} duplicate items on-chain (${duplicates} counted by the nodes)`);
  });
});
