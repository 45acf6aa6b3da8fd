/**
 * Failover of gossip operations, observed through relayers on a real chain (RelayFixture): the
 * watching institution whose turn comes first relays, the others see it settled; a later turn relays
 * when nobody else did; each turn catches the index up with the chain first.
 */
import { expect } from "chai";
import { AbiCoder, keccak256 } from "ethers";

import type { StoredOperation } from "../../../core/records.js";
import type { BatchRelayer } from "../../../node/relay/relayer.js";
import type { LocalChain, Scenario } from "../../helpers/chain.js";
import { FAILED_TOPIC, RelayFixture, Status, sleep, waitFor } from "../../helpers/relay.js";

describe("failover of gossip operations", function () {
  this.timeout(60_000);

  let f: RelayFixture;
  let chain: LocalChain;
  let s: Scenario;

  before(async function () {
    f = await RelayFixture.start({ institutions: 3, payers: 4 });
    ({ chain, s } = f);
  });

  afterEach(async function () {
    await f.cleanup();
  });

  after(async function () {
    await f?.close();
  });

  const storage = () => f.storage();
  const relayer = (...args: Parameters<RelayFixture["relayer"]>) => f.relayer(...args);
  const terms = (...args: Parameters<RelayFixture["terms"]>) => f.terms(...args);
  const pay = (...args: Parameters<RelayFixture["pay"]>) => f.pay(...args);
  const stored = (...args: Parameters<RelayFixture["stored"]>) => f.stored(...args);
  const payer = (i: number) => f.payer(i);
  const institution = (i: number) => f.institution(i);
  const logsSince = (...args: Parameters<RelayFixture["logsSince"]>) => f.logsSince(...args);
  const paidCount = (...args: Parameters<RelayFixture["paidCount"]>) => f.paidCount(...args);

  /**
   * Failover turn of institution `institutionIndex` for `operationId`, computed here from the rule
   * independently of the relayer's code: positions by ascending keccak256(abi.encode(operationId,
   * institution)), and the API node that accepted the operation holds turn 0, so position p waits p + 1 turns.
   */
  function expectedTurn(operationId: string, institutionIndex: number): number {
    const coder = AbiCoder.defaultAbiCoder();
    const sorted = s.institutions
      .map((inst) => ({ address: inst.address, key: BigInt(keccak256(coder.encode(["bytes32", "address"], [operationId, inst.address]))) }))
      .sort((a, b) => (a.key < b.key ? -1 : 1));
    return sorted.findIndex((entry) => entry.address === institution(institutionIndex).address) + 1;
  }

  it("relays a gossip operation from the best-ranked watching institution after its timeout; the other sees it settled", async function () {
    const failoverTimeoutMs = 700;
    const stA = await storage();
    const stB = await storage();
    const rA = relayer(0, stA, { failoverTimeoutMs });
    const rB = relayer(1, stB, { failoverTimeoutMs });
    const fromBlock = (await chain.provider.getBlockNumber()) + 1;
    await rA.start();
    await rB.start();

    const t0 = Date.now();
    const ops: StoredOperation[] = [];
    for (let i = 0; i < 4; i++) ops.push(stored(await pay(payer(i), await terms(payer(i), 3_000n)), "gossip", t0));
    await stA.operations.putAccepted(ops);
    await stB.operations.putAccepted(ops);
    rA.enqueue(ops);
    rB.enqueue(ops);

    // Stand-in for the indexer: whatever one node sees executed, the other is told is settled.
    const executedAt = new Map<string, number>();
    const settle = setInterval(() => {
      void (async () => {
        for (const op of ops) {
          if (executedAt.has(op.id)) continue;
          const [a, b] = await Promise.all([stA.operations.get(op.id), stB.operations.get(op.id)]);
          if (a?.status === "executed") rB.settled([op.id]);
          if (b?.status === "executed") rA.settled([op.id]);
          if (a?.status === "executed" || b?.status === "executed") executedAt.set(op.id, Date.now() - t0);
        }
      })();
    }, 20);
    f.onCleanup(async () => clearInterval(settle));

    await waitFor("every gossip operation relayed", () => executedAt.size === ops.length);
    // Past the latest moment the slower of the two would have relayed.
    await sleep(Math.max(0, t0 + 3 * failoverTimeoutMs + 600 - Date.now()));

    for (const op of ops) {
      const rankA = expectedTurn(op.id, 0);
      const rankB = expectedTurn(op.id, 1);
      const [winner, loser, rank] = rankA < rankB ? [stA, stB, rankA] : [stB, stA, rankB];
      const winnerAddress = institution(rankA < rankB ? 0 : 1).address;
      const won = await winner.operations.get(op.id);
      expect(won?.status).to.equal("executed");
      expect(won?.execution?.relayer).to.equal(winnerAddress);
      expect(executedAt.get(op.id)).to.be.at.least(rank * failoverTimeoutMs - 20);
      expect((await loser.operations.get(op.id))?.status, "the other never sent it").to.equal("accepted");
      expect(await paidCount(fromBlock, op.paymentId)).to.equal(1);
    }
    expect(await logsSince(fromBlock, FAILED_TOPIC)).to.have.length(0);
  });

  it("fails over to a lower-ranked institution when nobody else relays a gossip operation", async function () {
    const failoverTimeoutMs = 300;
    const st = await storage();
    const r = relayer(2, st, { failoverTimeoutMs });
    await r.start();
    const t0 = Date.now();
    const op = stored(await pay(payer(1), await terms(payer(1), 1_500n)), "gossip", t0);
    await st.operations.putAccepted([op]);
    r.enqueue([op]);
    await waitFor("failover relay", async () => (await st.operations.get(op.id))?.status === "executed");
    expect(Date.now() - t0).to.be.at.least(expectedTurn(op.id, 2) * failoverTimeoutMs);
    expect((await st.operations.get(op.id))?.execution?.relayer).to.equal(institution(2).address);
  });

  it("catches up with the chain before a failover: relays nothing its index then reports settled, and still relays when the catch-up fails", async function () {
    const failoverTimeoutMs = 300;
    const st = await storage();
    const t0 = Date.now();
    const settledElsewhere = stored(await pay(payer(1), await terms(payer(1), 1_700n)), "gossip", t0);
    const unsettled = stored(await pay(payer(2), await terms(payer(2), 1_800n)), "gossip", t0);
    let calls = 0;
    // Stands in for the indexer: each catch-up finds `settledElsewhere` executed by another node, then the RPC fails.
    const r: BatchRelayer = relayer(2, st, { failoverTimeoutMs }, chain.provider, async () => {
      calls += 1;
      r.settled([settledElsewhere.id]);
      throw new Error("RPC down");
    });
    await r.start();
    await st.operations.putAccepted([settledElsewhere, unsettled]);
    r.enqueue([settledElsewhere, unsettled]);
    await waitFor("the failover of the unsettled operation", async () => (await st.operations.get(unsettled.id))?.status === "executed");
    await sleep(Math.max(0, t0 + 4 * failoverTimeoutMs + 500 - Date.now()));
    expect(calls).to.be.at.least(1);
    expect((await st.operations.get(unsettled.id))?.execution?.relayer).to.equal(institution(2).address);
    expect((await st.operations.get(settledElsewhere.id))?.status).to.equal("accepted");
    expect((await s.contracts.escrow.paymentOf(settledElsewhere.paymentId)).status).to.equal(Status.None);
  });
});
