/**
 * Failover by lease, observed through relayers on a real chain (RelayFixture) whose lease messages
 * are delivered to each other as the lease topic would: a holder that keeps making progress is left
 * alone however long its backlog takes; once its lease lapses, the first institution in its failover
 * order takes its operations over and claims them, so the next one leaves them alone; an operation
 * nobody claimed is relayed after the failover timeout; nothing is taken over before the index has
 * caught up with the chain, nor while the chain cannot be read; and the node's own API operations are
 * not held up behind a takeover backlog. An idle holder renews rarely, and promptly once it has work.
 */
import { randomBytes } from "node:crypto";

import { expect } from "chai";
import { AbiCoder, JsonRpcProvider, Network, Wallet, hexlify, keccak256, toBeHex } from "ethers";

import { failoverPosition } from "../../../core/chain/failover.js";
import type { StoredOperation } from "../../../core/records.js";
import { LeaseBoard, type LeaseBody } from "../../../node/relay/lease.js";
import { LeaseFailover, type Backlog } from "../../../node/relay/scheduler.js";
import type { BatchRelayer, RelayProgress } from "../../../node/relay/relayer.js";
import type { Storage } from "../../../node/services.js";
import type { LocalChain, Scenario } from "../../helpers/chain.js";
import { FAILED_TOPIC, RelayFixture, Status, waitFor } from "../../helpers/relay.js";
import { startTcpProxy } from "../../../scripts/lib/tcp-proxy.js";

describe("failover by lease", function () {
  this.timeout(90_000);

  let f: RelayFixture;
  let chain: LocalChain;
  let s: Scenario;

  RelayFixture.forSuite({ institutions: 3, payers: 4 }, (started) => {
    f = started;
    ({ chain, s } = f);
  });

  const storage = () => f.storage();
  const relayer = (...args: Parameters<RelayFixture["relayer"]>) => f.relayer(...args);
  const institution = (i: number) => f.institution(i);
  const logsSince = (...args: Parameters<RelayFixture["logsSince"]>) => f.logsSince(...args);
  const nonceOf = (i: number) => chain.provider.getTransactionCount(institution(i).address);

  /** `count` signed pays, as the API node stores them and as the gossip nodes do. */
  async function pays(count: number): Promise<{ api: StoredOperation[]; gossip: StoredOperation[] }> {
    const api: StoredOperation[] = [];
    for (let i = 0; i < count; i++) {
      const payer = f.payer(i);
      api.push(f.stored(await f.pay(payer, await f.terms(payer, 1_000n)), "api"));
    }
    return { api, gossip: api.map((op) => ({ ...op, origin: "gossip" as const })) };
  }

  /** Stand-in for the nodes' indexers: what one storage shows executed, the other relayers are told is settled. */
  function shareSettlements(nodes: { st: Storage; r: BatchRelayer }[], ops: StoredOperation[]): Map<string, number> {
    const executedAt = new Map<string, number>();
    const timer = setInterval(() => {
      void (async () => {
        for (const op of ops) {
          if (executedAt.has(op.id)) continue;
          const stored = await Promise.all(nodes.map(({ st }) => st.operations.get(op.id)));
          if (!stored.some((record) => record?.status === "executed")) continue;
          executedAt.set(op.id, Date.now());
          for (const { r } of nodes) r.settled([op.id]);
        }
      })();
    }, 20);
    f.onCleanup(async () => clearInterval(timer));
    return executedAt;
  }

  /** Position of institution `i` in the failover order of `holder` among `among`, from the rule itself: ascending keccak256(abi.encode(bytes32 holder, institution)). */
  function turnOf(holder: string, i: number, among: number[]): number {
    const coder = AbiCoder.defaultAbiCoder();
    const sorted = among
      .map((j) => ({ j, key: BigInt(keccak256(coder.encode(["bytes32", "address"], [toBeHex(BigInt(holder), 32), institution(j).address]))) }))
      .sort((a, b) => (a.key < b.key ? -1 : 1));
    return sorted.findIndex((entry) => entry.j === i);
  }

  it("leaves a backlog to its holder while the holder keeps renewing its lease, however much longer than the failover timeout it takes", async function () {
    const failoverTimeoutMs = 300;
    const stA = await storage();
    const stB = await storage();
    // A relays one operation per transaction, one transaction at a time: a backlog of seconds.
    const rA = relayer(0, stA, { batchSize: 1, maxInFlightBatches: 1, batchIntervalMs: 10, leaseRenewMs: 100, failoverTimeoutMs });
    const rB = relayer(1, stB, { leaseRenewMs: 100, failoverTimeoutMs });
    f.linkLeases([rA, rB]);
    const fromBlock = (await chain.provider.getBlockNumber()) + 1;
    const nonceB = await nonceOf(1);
    await rA.start();
    await rB.start();
    const { api, gossip } = await pays(60);
    await stA.operations.putAccepted(api);
    await stB.operations.putAccepted(gossip);
    const started = Date.now();
    rA.enqueue(api);
    rB.enqueue(gossip);
    const executedAt = shareSettlements([{ st: stA, r: rA }, { st: stB, r: rB }], api);

    await waitFor("the backlog relayed", () => executedAt.size === api.length, 60_000);
    const tookMs = Math.max(...executedAt.values()) - started;
    expect(tookMs, "the backlog must outlast the failover timeout for this test to mean anything").to.be.greaterThan(3 * failoverTimeoutMs);
    expect(await nonceOf(1), "B sent nothing").to.equal(nonceB);
    for (const op of api) expect((await stA.operations.get(op.id))?.execution?.relayer).to.equal(institution(0).address);
    expect(await logsSince(fromBlock, FAILED_TOPIC), "no item was sent twice").to.have.length(0);
  });

  it("leaves a holder's backlog alone when its lease messages stop arriving but its key keeps mining transactions", async function () {
    const failoverTimeoutMs = 300;
    const stA = await storage();
    const stB = await storage();
    const rA = relayer(0, stA, { batchSize: 1, maxInFlightBatches: 1, batchIntervalMs: 10, leaseRenewMs: 100, failoverTimeoutMs });
    const rB = relayer(1, stB, { leaseRenewMs: 100, failoverTimeoutMs });
    // A's claims reach B; after that, none of its messages do (a congested link).
    let claimsDelivered = false;
    f.linkLeases([rA, rB], (from, data) => {
      if (from !== rA) return true;
      if (claimsDelivered) return false;
      claimsDelivered = JSON.parse(JSON.parse(new TextDecoder().decode(data)).body).claims !== "";
      return true;
    });
    const fromBlock = (await chain.provider.getBlockNumber()) + 1;
    const nonceB = await nonceOf(1);
    await rA.start();
    await rB.start();
    const { api, gossip } = await pays(60);
    await stA.operations.putAccepted(api);
    await stB.operations.putAccepted(gossip);
    const started = Date.now();
    rA.enqueue(api);
    rB.enqueue(gossip);
    const executedAt = shareSettlements([{ st: stA, r: rA }, { st: stB, r: rB }], api);

    await waitFor("the backlog relayed", () => executedAt.size === api.length, 60_000);
    expect(Math.max(...executedAt.values()) - started, "the backlog must outlast the failover timeout").to.be.greaterThan(3 * failoverTimeoutMs);
    expect(claimsDelivered).to.equal(true);
    expect(await nonceOf(1), "B sent nothing").to.equal(nonceB);
    expect(await logsSince(fromBlock, FAILED_TOPIC), "no item was sent twice").to.have.length(0);
  });

  it("takes over a lapsed holder's operations: the first institution in its failover order, which claims them, and no other", async function () {
    const failoverTimeoutMs = 500;
    const nodes = [0, 1, 2].map(async (i) => ({ i, st: await storage() }));
    const [a, b, c] = await Promise.all(nodes);
    if (!a || !b || !c) throw new Error("no storage");
    // A holds its operations in a batch that never fills: it claims them, then it is gone.
    const rA = relayer(0, a.st, { batchSize: 500, batchIntervalMs: 600_000, leaseRenewMs: 100, failoverTimeoutMs });
    const rB = relayer(1, b.st, { leaseRenewMs: 100, failoverTimeoutMs });
    const rC = relayer(2, c.st, { leaseRenewMs: 100, failoverTimeoutMs });
    let claimed: () => void = () => undefined;
    const claimsHeard = new Promise<void>((resolve) => (claimed = resolve));
    f.linkLeases([rA, rB, rC], (from, data) => {
      if (from === rA && JSON.parse(JSON.parse(new TextDecoder().decode(data)).body).claims !== "") claimed();
      return true;
    });
    const fromBlock = (await chain.provider.getBlockNumber()) + 1;
    const nonces = [await nonceOf(1), await nonceOf(2)];
    for (const r of [rA, rB, rC]) await r.start();
    const { api, gossip } = await pays(6);
    await a.st.operations.putAccepted(api);
    await b.st.operations.putAccepted(gossip);
    await c.st.operations.putAccepted(gossip);
    rA.enqueue(api);
    rB.enqueue(gossip);
    rC.enqueue(gossip);
    await claimsHeard;
    await rA.stop();
    const stoppedAt = Date.now();
    const executedAt = shareSettlements([{ st: b.st, r: rB }, { st: c.st, r: rC }], api);

    await waitFor("the lapsed holder's operations relayed", () => executedAt.size === api.length, 30_000);
    const takerIndex = turnOf(institution(0).address, 1, [1, 2]) === 0 ? 1 : 2;
    const [taker, other] = takerIndex === 1 ? [b, c] : [c, b];
    for (const op of api) {
      expect((await taker.st.operations.get(op.id))?.execution?.relayer).to.equal(institution(takerIndex).address);
      expect(executedAt.get(op.id)).to.be.at.least(stoppedAt + failoverTimeoutMs - 200);
      expect((await s.contracts.escrow.paymentOf(op.paymentId)).status).to.equal(Status.Held);
    }
    expect(await nonceOf(other.i), "the other institution sent nothing").to.equal(nonces[other.i - 1]);
    expect(await logsSince(fromBlock, FAILED_TOPIC), "no item was sent twice").to.have.length(0);
  });

  it("leaves its queued operations to an institution that took them over, and relays none of them itself", async function () {
    const failoverTimeoutMs = 300;
    const stA = await storage();
    const stB = await storage();
    const COUNT = 5;
    // A is alive but batches until COUNT + 1 operations wait; its lease messages stop reaching B after its
    // claims did, so B finds its lease lapsed and takes its operations over.
    const rA = relayer(0, stA, { batchSize: COUNT + 1, batchIntervalMs: 600_000, leaseRenewMs: 100, failoverTimeoutMs });
    const rB = relayer(1, stB, { leaseRenewMs: 100, failoverTimeoutMs });
    let claimsDelivered = false;
    f.linkLeases([rA, rB], (from, data) => {
      if (from !== rA) return true;
      if (claimsDelivered) return false;
      claimsDelivered = JSON.parse(JSON.parse(new TextDecoder().decode(data)).body).claims !== "";
      return true;
    });
    const fromBlock = (await chain.provider.getBlockNumber()) + 1;
    const nonceA = await nonceOf(0);
    await rA.start();
    await rB.start();
    const { api, gossip } = await pays(2 * COUNT + 1);
    const taken = api.slice(0, COUNT);
    await stA.operations.putAccepted(taken);
    await stB.operations.putAccepted(gossip.slice(0, COUNT));
    rA.enqueue(taken);
    rB.enqueue(gossip.slice(0, COUNT));
    await waitFor("B to take A's operations over and relay them", () => f.allFinal(stB, gossip.slice(0, COUNT)), 30_000);
    for (const op of gossip.slice(0, COUNT)) expect((await stB.operations.get(op.id))?.execution?.relayer).to.equal(institution(1).address);

    // New operations fill A's batch: had A kept the operations B claimed, they would go in it first.
    const last = api.slice(COUNT);
    await stA.operations.putAccepted(last);
    rA.enqueue(last);
    await waitFor("A's batch mined", async () => (await nonceOf(0)) > nonceA, 30_000);
    expect(await logsSince(fromBlock, FAILED_TOPIC), "no item was sent twice").to.have.length(0);
    await waitFor("A's new operations relayed", () => f.allFinal(stA, last), 30_000);
    expect(await nonceOf(0), "A sent one transaction").to.equal(nonceA + 1);
    expect(await f.statuses(stA, taken), "A still watches what it left to B").to.deep.equal(taken.map(() => "accepted"));
  });

  it("takes nothing over from a holder that a chain outage everyone shared stalled, once the chain is back", async function () {
    const failoverTimeoutMs = 500;
    const proxy = await startTcpProxy(chain.url);
    f.onCleanup(() => proxy.close());
    const provider = () => {
      const p = new JsonRpcProvider(proxy.url, Network.from(BigInt(s.deployment.chainId)), { staticNetwork: true, cacheTimeout: -1 });
      f.onCleanup(async () => p.destroy());
      return p;
    };
    const [pA, pB] = [provider(), provider()];
    const stA = await storage();
    const stB = await storage();
    // B is the first in A's failover order: it would step in at once when A's lease lapses.
    const b = turnOf(institution(0).address, 1, [1, 2]) === 0 ? 1 : 2;
    const rA = relayer(0, stA, { batchIntervalMs: 10, leaseRenewMs: 100, failoverTimeoutMs }, pA);
    // B's index is read through the proxy too: it cannot catch up while the chain is cut off.
    const rB = relayer(b, stB, { leaseRenewMs: 100, failoverTimeoutMs }, pB, () => pB.getBlockNumber());
    f.linkLeases([rA, rB]);
    const fromBlock = (await chain.provider.getBlockNumber()) + 1;
    const nonceB = await nonceOf(b);
    await rA.start();
    await rB.start();
    const { api, gossip } = await pays(20);
    await proxy.pause();
    await stA.operations.putAccepted(api);
    await stB.operations.putAccepted(gossip);
    const before = rB.progress();
    rA.enqueue(api);
    rB.enqueue(gossip);
    // The outage lasts until B has found A's operations due (A's lease lapsed by the clock: A makes no
    // progress) and has left them, three sweeps running; a takeover ends the wait too.
    const deferred = (p: RelayProgress) => p.deferredChainDown + p.deferredHolderAlive;
    await waitFor("B to find A's operations due and leave them while the chain is down", () => {
      const now = rB.progress();
      return deferred(now) - deferred(before) >= 3 * gossip.length || now.takenOver > before.takenOver;
    }, 60_000);
    expect(rB.progress().takenOver - before.takenOver, "taken over during the outage").to.equal(0);
    expect(await f.statuses(stA, api)).to.not.include("executed");
    await proxy.resume();
    const executedAt = shareSettlements([{ st: stA, r: rA }, { st: stB, r: rB }], api);
    await waitFor("the operations relayed after the outage", () => executedAt.size === api.length, 60_000);
    for (const op of api) expect((await stA.operations.get(op.id))?.execution?.relayer).to.equal(institution(0).address);
    expect(await nonceOf(b), "B sent nothing").to.equal(nonceB);
    expect(await logsSince(fromBlock, FAILED_TOPIC), "no item was sent twice").to.have.length(0);
  });

  it("keeps renewing its lease while a batch is in flight, until the batch has been in flight for the lease's validity; then it is taken over", async function () {
    const failoverTimeoutMs = 500;
    const leaseRenewMs = 100;
    const proxy = await startTcpProxy(chain.url);
    f.onCleanup(() => proxy.close());
    const pA = new JsonRpcProvider(proxy.url, Network.from(BigInt(s.deployment.chainId)), { staticNetwork: true, cacheTimeout: -1 });
    f.onCleanup(async () => pA.destroy());
    const stA = await storage();
    const stB = await storage();
    const b = turnOf(institution(0).address, 1, [1, 2]) === 0 ? 1 : 2;
    const rA = relayer(0, stA, { batchIntervalMs: 10, leaseRenewMs, failoverTimeoutMs }, pA);
    const rB = relayer(b, stB, { leaseRenewMs, failoverTimeoutMs });
    // Run before the relayers stop (cleanups run last first): A's hung requests fail at once.
    f.onCleanup(() => proxy.set("refuse"));
    const fromA: { renew: boolean; pending: number; validForMs: number }[] = [];
    f.linkLeases([rA, rB], (from, data) => {
      if (from === rA) fromA.push(JSON.parse(JSON.parse(new TextDecoder().decode(data)).body));
      return true;
    });
    await rA.start();
    await rB.start();
    const { api, gossip } = await pays(3);
    await stA.operations.putAccepted(api);
    await stB.operations.putAccepted(gossip);
    // A's link to the chain swallows everything from now: its batch goes in flight and stays there.
    await proxy.set("blackhole");
    const before = fromA.length;
    rA.enqueue(api);
    rB.enqueue(gossip);
    // The renewal the enqueue sends, then one at every tick while the batch is younger than the
    // validity (500 ms, five ticks): a node that counted a batch in flight as no progress sends none.
    await waitFor("A to renew its lease with its batch in flight", () => fromA.slice(before).filter((m) => m.renew && m.pending > 0).length >= 4, 30_000);
    expect(rB.progress().takenOver, "taken over while A renewed").to.equal(0);
    // Hung for longer than the validity: A stops renewing, its lease lapses, and B relays its work.
    await waitFor("B to take A's operations over", () => rB.progress().takenOver >= api.length, 30_000);
    const executedAt = shareSettlements([{ st: stB, r: rB }], api);
    await waitFor("B to relay them", () => executedAt.size === api.length, 60_000);
    for (const op of api) expect((await stB.operations.get(op.id))?.execution?.relayer).to.equal(institution(b).address);
  });

  it("takes a lapsed holder's key's transactions from before its start for no progress: its lease gives the key's mined count", async function () {
    const failoverTimeoutMs = 500;
    const leaseRenewMs = 100;
    // A's key has mined transactions before A's relayer starts (as after a restart, or the set-up's).
    const a = institution(0).connect(chain.provider);
    await (await a.sendTransaction({ to: a.address, value: 0n })).wait();
    const mined = await nonceOf(0);
    const stA = await storage();
    const stB = await storage();
    const b = turnOf(institution(0).address, 1, [1, 2]) === 0 ? 1 : 2;
    // A batches for a minute: it relays nothing before it stops.
    const rA = relayer(0, stA, { batchIntervalMs: 60_000, leaseRenewMs, failoverTimeoutMs });
    const rB = relayer(b, stB, { leaseRenewMs, failoverTimeoutMs });
    const fromA: { nonce: number; claims: string }[] = [];
    f.linkLeases([rA, rB], (from, data) => {
      if (from === rA) fromA.push(JSON.parse(JSON.parse(new TextDecoder().decode(data)).body));
      return true;
    });
    await rA.start();
    await rB.start();
    await waitFor("A's first lease message", () => fromA.length > 0);
    const { api, gossip } = await pays(3);
    await stA.operations.putAccepted(api);
    await stB.operations.putAccepted(gossip);
    rB.enqueue(gossip);
    rA.enqueue(api);
    const claimed = fromA.find((m) => m.claims !== "");
    expect(claimed?.nonce, "the nonce A's lease gives").to.equal(mined);
    // A dies holding them: B takes them over once A's lease lapses, without counting A's old transactions as progress.
    await rA.stop();
    await waitFor("B to take A's operations over", () => rB.progress().takenOver >= api.length, 30_000);
    expect(rB.progress().renewedOnChain, "A's lease counted renewed by its key's old transactions").to.equal(0);
    expect(await nonceOf(0), "A sent nothing").to.equal(mined);
    const executedAt = shareSettlements([{ st: stB, r: rB }], api);
    await waitFor("B to relay them", () => executedAt.size === api.length, 60_000);
  });

  it("leaves what it took over and could not send to the institution that took it over from it in turn", async function () {
    const failoverTimeoutMs = 500;
    // C is the first in A's failover order, B the second.
    const [c, b] = turnOf(institution(0).address, 1, [1, 2]) === 0 ? [1, 2] : [2, 1];
    const proxy = await startTcpProxy(chain.url);
    f.onCleanup(() => proxy.close());
    const pC = new JsonRpcProvider(proxy.url, Network.from(BigInt(s.deployment.chainId)), { staticNetwork: true, cacheTimeout: -1 });
    f.onCleanup(async () => pC.destroy());
    const [stA, stB, stC] = [await storage(), await storage(), await storage()];
    // A claims its operations in a batch that never fills, then it is gone.
    const rA = relayer(0, stA, { batchSize: 500, batchIntervalMs: 600_000, leaseRenewMs: 100, failoverTimeoutMs });
    const rB = relayer(b, stB, { leaseRenewMs: 100, failoverTimeoutMs });
    const rC = relayer(c, stC, { leaseRenewMs: 100, failoverTimeoutMs }, pC);
    let claimedByA: () => void = () => undefined;
    const aClaimed = new Promise<void>((resolve) => (claimedByA = resolve));
    let resumed = false;
    let idleAfterResume = false;
    f.linkLeases([rA, rB, rC], (from, data) => {
      const body = JSON.parse(JSON.parse(new TextDecoder().decode(data)).body) as { claims: string; pending: number };
      if (from === rA && body.claims !== "") claimedByA();
      // C's chain goes away the moment it claims A's operations: its batch is signed and never answered.
      if (from === rC && body.claims !== "" && proxy.running && !resumed) void proxy.pause();
      if (from === rC && resumed && body.pending === 0) idleAfterResume = true;
      return true;
    });
    const fromBlock = (await chain.provider.getBlockNumber()) + 1;
    for (const r of [rA, rB, rC]) await r.start();
    const { api, gossip } = await pays(4);
    await stA.operations.putAccepted(api);
    await stB.operations.putAccepted(gossip);
    await stC.operations.putAccepted(gossip);
    rA.enqueue(api);
    rB.enqueue(gossip);
    rC.enqueue(gossip);
    await aClaimed;
    await rA.stop();
    // C cannot make progress, so its lease lapses too and B takes the operations over from C.
    await waitFor("B to relay A's operations", () => f.allFinal(stB, gossip), 30_000);
    for (const op of gossip) expect((await stB.operations.get(op.id))?.execution?.relayer).to.equal(institution(b).address);
    await proxy.resume();
    resumed = true;
    // C finds its batch never reached the chain: it must leave the operations to B, not send them again.
    await waitFor("C to have nothing pending after its chain came back", () => idleAfterResume, 30_000);
    expect(await logsSince(fromBlock, FAILED_TOPIC), "no item was sent twice").to.have.length(0);
    expect(await f.statuses(stC, gossip)).to.not.include("executed");
  });

  it("leaves a batch it built to the institution before it in the failover order whose claim arrives before the broadcast", async function () {
    const failoverTimeoutMs = 500;
    // F is the first in A's failover order, L the second.
    const [fi, li] = turnOf(institution(0).address, 1, [1, 2]) === 0 ? [1, 2] : [2, 1];
    const [stA, stF, stL] = [await storage(), await storage(), await storage()];
    // A claims its operations in a batch that never fills, then it is gone.
    const rA = relayer(0, stA, { batchSize: 500, batchIntervalMs: 600_000, leaseRenewMs: 100, failoverTimeoutMs });
    const rF = relayer(fi, stF, { leaseRenewMs: 100, failoverTimeoutMs });
    const rL = relayer(li, stL, { leaseRenewMs: 100, failoverTimeoutMs });
    const bodyOf = (data: Uint8Array) => JSON.parse(JSON.parse(new TextDecoder().decode(data)).body) as { claims: string; pending: number };
    let claimedByA: () => void = () => undefined;
    const aClaimed = new Promise<void>((resolve) => (claimedByA = resolve));
    let idleAfterClaim: () => void = () => undefined;
    const lIdle = new Promise<void>((resolve) => (idleAfterClaim = resolve));
    // F's messages do not reach L (a busy link), so L takes A's operations over a step after F did; F's
    // claim is held back until L has built its batch from them and reads it from storage before sending.
    let heldClaim: Uint8Array | undefined;
    let lClaimed = false;
    let fReachesL = false;
    const all = [rA, rF, rL];
    for (const from of all) {
      from.setLeasePublisher(async (data) => {
        const body = bodyOf(data);
        if (from === rA && body.claims !== "") claimedByA();
        if (from === rL && body.claims !== "") lClaimed = true;
        if (from === rL && fReachesL && body.pending === 0) idleAfterClaim();
        if (from === rF && !fReachesL && body.claims !== "") heldClaim ??= data;
        const to = all.filter((r) => r !== from && !(from === rF && r === rL && !fReachesL));
        for (const r of to) r.onLease(data);
        return to.length;
      });
    }
    const read = stL.operations.get.bind(stL.operations);
    stL.operations.get = async (id: string) => {
      if (lClaimed && heldClaim && !fReachesL) {
        fReachesL = true;
        rL.onLease(heldClaim);
      }
      return read(id);
    };
    const fromBlock = (await chain.provider.getBlockNumber()) + 1;
    const nonceL = await nonceOf(li);
    for (const r of all) await r.start();
    const { api, gossip } = await pays(4);
    await stA.operations.putAccepted(api);
    await stF.operations.putAccepted(gossip);
    await stL.operations.putAccepted(gossip);
    rA.enqueue(api);
    rF.enqueue(gossip);
    rL.enqueue(gossip);
    await aClaimed;
    await rA.stop();
    await waitFor("F to relay A's operations", () => f.allFinal(stF, gossip), 30_000);
    // L has nothing pending once its batch was either mined or left to F.
    await lIdle;
    expect(fReachesL, "L took the operations over and built a batch before F's claim reached it").to.equal(true);
    expect(await nonceOf(li), "L sent nothing").to.equal(nonceL);
    expect(await logsSince(fromBlock, FAILED_TOPIC), "no item was sent twice").to.have.length(0);
    for (const op of gossip) expect((await stF.operations.get(op.id))?.execution?.relayer).to.equal(institution(fi).address);
  });

  it("announces a lease valid four times as long as its own timers lately fired late", async function () {
    const failoverTimeoutMs = 500;
    const leaseRenewMs = 100;
    const st = await storage();
    // Its operation waits in a batch that never fills: it renews its lease at every tick, with work pending.
    const r = relayer(0, st, { batchSize: 500, batchIntervalMs: 600_000, leaseRenewMs, failoverTimeoutMs });
    const renewals: number[] = [];
    r.setLeasePublisher(async (data) => {
      const body = JSON.parse(JSON.parse(new TextDecoder().decode(data)).body) as { renew: boolean; pending: number; validForMs: number };
      if (body.renew && body.pending > 0) renewals.push(body.validForMs);
      return 1;
    });
    await r.start();
    const { api } = await pays(1);
    await st.operations.putAccepted(api);
    r.enqueue(api);
    await waitFor("a renewal with work pending", () => renewals.length > 0, 30_000);
    // The process stalls (as on a machine whose CPU others take) for longer than the failover timeout.
    const STALL_MS = 2_000;
    const stalled = Date.now() + STALL_MS;
    while (Date.now() < stalled) {
      // Busy: no timer of this process fires meanwhile.
    }
    const before = renewals.length;
    await waitFor("the next renewal", () => renewals.length > before, 30_000);
    expect(renewals[before], "valid for 4 times the lateness of the tick after the stall").to.be.at.least(4 * (STALL_MS - leaseRenewMs));
  });

  it("relays an operation nobody claimed after the failover timeout", async function () {
    const failoverTimeoutMs = 300;
    const st = await storage();
    const r = relayer(2, st, { failoverTimeoutMs, leaseRenewMs: 100 });
    await r.start();
    const { gossip } = await pays(1);
    const [op] = gossip;
    if (!op) throw new Error("no operation");
    await st.operations.putAccepted([op]);
    const t0 = Date.now();
    r.enqueue([op]);
    await waitFor("the unclaimed operation relayed", async () => (await st.operations.get(op.id))?.status === "executed");
    expect(Date.now() - t0).to.be.at.least(failoverTimeoutMs);
    expect((await st.operations.get(op.id))?.execution?.relayer).to.equal(institution(2).address);
  });

  it("catches up with the chain before a takeover: relays nothing its index then reports settled, and nothing while the chain cannot be read", async function () {
    const failoverTimeoutMs = 300;
    const st = await storage();
    const { gossip } = await pays(2);
    const [settledElsewhere, unsettled] = gossip;
    if (!settledElsewhere || !unsettled) throw new Error("no operations");
    let calls = 0;
    let readableAt = 0;
    // Stands in for the indexer: the first catch-up finds `settledElsewhere` executed by another node, then the RPC fails; the next ones succeed.
    const r: BatchRelayer = relayer(2, st, { failoverTimeoutMs, leaseRenewMs: 100 }, chain.provider, async () => {
      calls += 1;
      if (calls === 1) {
        r.settled([settledElsewhere.id]);
        throw new Error("RPC down");
      }
      readableAt ||= Date.now();
    });
    await r.start();
    await st.operations.putAccepted([settledElsewhere, unsettled]);
    r.enqueue([settledElsewhere, unsettled]);
    await waitFor("the takeover of the unsettled operation", async () => (await st.operations.get(unsettled.id))?.status === "executed");
    const executedAt = Date.now();
    expect(calls).to.be.at.least(2);
    // Back after a failure: the holders get a failover timeout of readable chain to renew first.
    expect(executedAt - readableAt).to.be.at.least(failoverTimeoutMs);
    expect((await st.operations.get(unsettled.id))?.execution?.relayer).to.equal(institution(2).address);
    expect((await st.operations.get(settledElsewhere.id))?.status).to.equal("accepted");
    expect((await s.contracts.escrow.paymentOf(settledElsewhere.paymentId)).status).to.equal(Status.None);
  });

  it("relays its own API operations ahead of a backlog taken over from others", async function () {
    const st = await storage();
    const r = relayer(2, st, { failoverTimeoutMs: 200, leaseRenewMs: 100, batchSize: 10, maxInFlightBatches: 1, batchIntervalMs: 10 });
    await r.start();
    const { gossip: backlog } = await pays(80);
    await st.operations.putAccepted(backlog);
    r.enqueue(backlog);
    await waitFor("the takeover under way", async () => (await f.statuses(st, backlog)).includes("executed"));
    const { api: own } = await pays(10);
    await st.operations.putAccepted(own);
    r.enqueue(own);
    await waitFor("everything relayed", () => f.allFinal(st, [...backlog, ...own]), 60_000);

    const blockOf = async (op: StoredOperation) => (await st.operations.get(op.id))?.execution?.blockNumber ?? Infinity;
    const ownBlocks = await Promise.all(own.map(blockOf));
    const backlogBlocks = await Promise.all(backlog.map(blockOf));
    const takeoverBatches = new Set(backlogBlocks).size;
    // Eight of every ten places go to own operations while both wait: two batches take all ten.
    expect(new Set(ownBlocks).size).to.be.at.most(2);
    expect(Math.max(...ownBlocks), "own operations were not left behind the backlog").to.be.lessThan(Math.max(...backlogBlocks));
    expect(takeoverBatches).to.be.at.least(8);
  });

  it("renews an idle lease only every ten renewal periods, valid three times as long, and with the short validity as soon as it has work", async function () {
    const leaseRenewMs = 100;
    const failoverTimeoutMs = 300;
    const stA = await storage();
    const stB = await storage();
    // A batches for ten renewal periods, so its work is still queued when the test reads its messages.
    const rA = relayer(0, stA, { leaseRenewMs, failoverTimeoutMs, batchIntervalMs: 10 * leaseRenewMs });
    const rB = relayer(1, stB, { leaseRenewMs, failoverTimeoutMs });
    const fromA: { at: number; body: { renew: boolean; validForMs: number; pending: number; claims: string } }[] = [];
    f.linkLeases([rA, rB], (from, data) => {
      if (from === rA) fromA.push({ at: Date.now(), body: JSON.parse(JSON.parse(new TextDecoder().decode(data)).body) });
      return true;
    });
    await rA.start();
    await rB.start();
    await waitFor("three idle renewals", () => fromA.length >= 3);
    const idle = fromA.slice(0, 3);
    for (const [i, message] of idle.entries()) {
      expect(message.body).to.include({ renew: true, pending: 0, claims: "", validForMs: 3 * 10 * leaseRenewMs });
      if (i > 0) expect(message.at - (idle[i - 1]?.at ?? 0), "no renewal in between").to.be.at.least(10 * leaseRenewMs - 5);
    }

    const { api } = await pays(1);
    await stA.operations.putAccepted(api);
    const sent = fromA.length;
    rA.enqueue(api);
    // Sent by the enqueue itself, not at the next tick: A killed before that tick would otherwise leave
    // its work under the idle validity.
    const working = fromA.slice(sent).find((message) => message.body.pending > 0 || message.body.claims !== "");
    expect(working?.body.renew).to.equal(true);
    // The active validity (the failover timeout, or four times the observed relay latency), not the idle one.
    expect(working?.body.validForMs).to.be.at.least(failoverTimeoutMs).and.lessThan(3 * 10 * leaseRenewMs);
    await waitFor("the payment relayed", () => f.allFinal(stA, api));
  });
});

/**
 * The failover order on its own (LeaseFailover and LeaseBoard, no chain): who steps in when, as each
 * node decides from what it heard, so that two nodes whose views differ do not both step in first.
 */
describe("failover order", function () {
  const FLOOR = 1_000;
  const RENEW = 100;
  /** stepMs of a LeaseFailover with leaseRenewMs RENEW. */
  const STEP = 1_000;
  const [holderKey, firstKey, secondKey] = [Wallet.createRandom(), Wallet.createRandom(), Wallet.createRandom()].map((w) => w.address.toLowerCase()) as [string, string, string];
  const institutions = [holderKey, firstKey, secondKey].map((id) => ({ id }));

  /** A gossip operation as the failover watches it (only its id matters here). */
  function gossipOp(id: string, receivedAtMs: number): StoredOperation {
    return { id, kind: "pay", paymentId: id, op: {} as StoredOperation["op"], signer: null, origin: "gossip", status: "accepted", receivedAtMs, updatedAtMs: receivedAtMs };
  }

  function lease(institution: string, at: number, fields: Partial<LeaseBody> = {}): [LeaseBody, number] {
    return [{ v: 1, chainId: "31337", institution, seq: at + 1, renew: true, validForMs: FLOOR, progressBlock: 0, nonce: 0, pending: 0, oldestPendingAgeMs: 0, claims: "", ...fields }, at];
  }

  /** The two others in `subject`'s order among them, first and second. */
  function ordered(subject: string | bigint, among: string[]): [string, string] {
    const sorted = [...among].sort((a, b) => failoverPosition(subject, a, among) - failoverPosition(subject, b, among));
    return sorted as [string, string];
  }

  function failoverOf(self: string, board: LeaseBoard): LeaseFailover {
    return new LeaseFailover({ institutionId: self, failoverTimeoutMs: FLOOR, leaseRenewMs: RENEW }, { activeInstitutions: () => institutions, leases: board });
  }

  it("keeps the turn of an institution it never heard from: the second in a lapsed holder's order waits its step", function () {
    const [, second] = ordered(BigInt(holderKey), [firstKey, secondKey]);
    const board = new LeaseBoard();
    board.record(...lease(holderKey, 0));
    const failover = failoverOf(second, board);
    const op = gossipOp(hexlify(randomBytes(32)), 0);
    failover.watch(op, 0);
    failover.claim(holderKey, [op.id], 0);
    // The holder lapsed at FLOOR; the first in its order never sent a lease this node heard.
    expect(failover.due(FLOOR), "not the second's turn yet").to.deep.equal([]);
    expect(failover.due(FLOOR + STEP - 1)).to.deep.equal([]);
    expect(failover.due(FLOOR + STEP).map((group) => group.ops.map((o) => o.id))).to.deep.equal([[op.id]]);
  });

  it("skips an institution whose lease it saw lapse", function () {
    const [first, second] = ordered(BigInt(holderKey), [firstKey, secondKey]);
    const board = new LeaseBoard();
    board.record(...lease(holderKey, 0));
    board.record(...lease(first, 0));
    const failover = failoverOf(second, board);
    const op = gossipOp(hexlify(randomBytes(32)), 0);
    failover.watch(op, 0);
    failover.claim(holderKey, [op.id], 0);
    expect(failover.due(FLOOR).map((group) => group.holder)).to.deep.equal([holderKey]);
  });

  it("counts the turns of an unclaimed operation from when no live holder may still have it queued", function () {
    const id = hexlify(randomBytes(32));
    const [, second] = ordered(id, [firstKey, secondKey]);
    const board = new LeaseBoard();
    // A holder with work older than the operation, live until 5 s: it may have the operation queued.
    board.record(...lease(holderKey, 0, { validForMs: 5_000, pending: 3 }));
    const failover = failoverOf(second, board);
    failover.watch(gossipOp(id, 0), 0);
    expect(failover.due(FLOOR + STEP), "blocked by the live holder").to.deep.equal([]);
    // The holder lapses: eligible from now, so the second still waits a step behind the first.
    expect(failover.due(5_000)).to.deep.equal([]);
    expect(failover.due(5_000 + STEP - 1)).to.deep.equal([]);
    expect(failover.due(5_000 + STEP).flatMap((group) => group.ops.map((o) => o.id))).to.deep.equal([id]);
  });

  it("counts its own announced backlog, when it is not first in an unclaimed operation's order, as the first counts it: it waits for the backlog to clear, then its step", function () {
    const id = hexlify(randomBytes(32));
    const [first, second] = ordered(id, [firstKey, secondKey]);
    // The institution the operation came from lapses at FLOOR, and nobody claimed the operation.
    const board = new LeaseBoard();
    board.record(...lease(holderKey, 0));
    let backlog: Backlog | undefined = { pending: 3, oldestPendingAt: 0 };
    const failoverWithBacklog = (self: string) =>
      new LeaseFailover({ institutionId: self, failoverTimeoutMs: FLOOR, leaseRenewMs: RENEW }, { activeInstitutions: () => institutions, leases: board, announcedBacklog: () => backlog });
    const [atFirst, atSecond] = [failoverWithBacklog(first), failoverWithBacklog(second)];
    atFirst.watch(gossipOp(id, 0), 0);
    atSecond.watch(gossipOp(id, 0), 0);
    // The first's own backlog does not hold it back: nobody comes before it.
    expect(atFirst.due(FLOOR).flatMap((group) => group.ops.map((o) => o.id))).to.deep.equal([id]);
    // The first would see the second's backlog in its lease and wait: so does the second, past its step.
    expect(atSecond.due(FLOOR), "blocked by its own backlog").to.deep.equal([]);
    expect(atSecond.due(FLOOR + STEP), "blocked by its own backlog").to.deep.equal([]);
    backlog = { pending: 0, oldestPendingAt: 5_000 };
    expect(atSecond.due(5_000)).to.deep.equal([]);
    expect(atSecond.due(5_000 + STEP - 1)).to.deep.equal([]);
    expect(atSecond.due(5_000 + STEP).flatMap((group) => group.ops.map((o) => o.id))).to.deep.equal([id]);
  });

  it("says the same about who comes first to both of two institutions that took over one operation, and the holder never comes first", function () {
    const id = hexlify(randomBytes(32));
    const board = new LeaseBoard();
    const [a, b] = [failoverOf(firstKey, board), failoverOf(secondKey, board)];
    for (const holder of [holderKey, undefined]) {
      expect(a.precedes(secondKey, holder, id), `holder ${holder}`).to.equal(!b.precedes(firstKey, holder, id));
    }
    expect(a.precedes(holderKey, holderKey, id)).to.equal(false);
  });
});
