/**
 * Token operations under the node issue's fault and permissioning scenarios, with real node processes
 * (3 institutions and a regulator), a real chain and real LevelDB: the chain RPC cut off in the middle
 * of a stream of mints and pays, until every node has seen the others' leases lapse (nothing lost, each executed exactly once after it returns,
 * every node reporting it executed), and a registered peer gossiping forged token operations (refused
 * everywhere, penalised and banned like forged escrow operations) while honest mints go on.
 * Exactly-once is judged from the relay transactions (test/helpers/exactly-once.ts) as well as from
 * the Minted/PaymentPaid events, which the contracts cannot repeat whatever the nodes do.
 */
import { expect } from "chai";
import { Wallet, type Contract } from "ethers";

import { encodeGossipMessage } from "../../node/p2p/message.js";
import type { EscrowOperationInput, TokenOperationInput } from "../../core/operations/index.js";
import type { StoredOperation } from "../../core/records.js";
import type { Scenario } from "../helpers/chain.js";
import { duplicatesCounted, expectExactlyOnce, nextBlock, relayAccount, takeoversDeferred } from "../helpers/exactly-once.js";
import { getJson, launchNetwork, nodeFetch, peersOf, postJson, waitFor, type NodeHandle, type TestNetwork } from "../helpers/network.js";
import { paidCounts, signedPay, termsFor } from "../helpers/operations.js";
import { freshPeerKey, startTestPeer, type TestPeer } from "../helpers/peer.js";
import { randomRef, signedTokenOp, tokenOperationIdOf } from "../helpers/tokens.js";

/** The nodes' default `maxRejects`: offences after which a peer is hung up and banned. */
const MAX_REJECTS = 5;

interface Mint {
  op: TokenOperationInput;
  id: string;
  bankRef: string;
  to: string;
  amount: bigint;
}

/** A mint by the scenario's custodian (institution 0) of `amount` to merchant `merchantIndex`. */
async function signedMint(s: Scenario, merchantIndex: number, amount: bigint): Promise<Mint> {
  const to = s.merchants[merchantIndex % s.merchants.length]!.address;
  const bankRef = randomRef();
  const op = await signedTokenOp(s, s.institutions[0]!, { kind: "mint", to, amount: amount.toString(), bankRef });
  return { op, id: tokenOperationIdOf(s, op), bankRef, to, amount };
}

/** Minted events per bank reference (lower case). */
async function mintedCounts(s: Scenario): Promise<Map<string, number>> {
  const logs = await (s.token as unknown as Contract).queryFilter(s.token.filters.Minted(), s.deployment.deploymentBlock);
  const counts = new Map<string, number>();
  for (const log of logs) {
    const ref = String((log as unknown as { args: { bankRef: string } }).args.bankRef).toLowerCase();
    counts.set(ref, (counts.get(ref) ?? 0) + 1);
  }
  return counts;
}

/** Statuses `node` reports for `ids` (undefined: not stored), a few requests at a time. */
async function reported(node: NodeHandle, ids: string[]): Promise<(string | undefined)[]> {
  const out: (string | undefined)[] = [];
  for (let i = 0; i < ids.length; i += 25) {
    out.push(
      ...(await Promise.all(
        ids.slice(i, i + 25).map(async (id) => {
          const { status, body } = await getJson<StoredOperation>(`${node.apiUrl}/v1/operations/${id}`);
          return status === 200 ? body.status : undefined;
        }),
      )),
    );
  }
  return out;
}

describe("token operations under faults: chain RPC outage and forged token gossip (real processes)", function () {
  this.timeout(180_000);
  let net: TestNetwork;
  const peers: TestPeer[] = [];

  before(async function () {
    // Admission control is set above the outage: the point here is that nothing accepted during it is lost.
    net = await launchNetwork({
      institutions: 3,
      regulator: true,
      payers: 4,
      merchants: 2,
      payerFunds: 100_000_000n,
      rpcProxy: true,
      config: { relay: { batchIntervalMs: 100, failoverTimeoutMs: 3_000, maxLagMs: 60_000 } },
    });
    for (const node of net.nodes) {
      await waitFor(`${node.name} to see every other node`, async () => (await peersOf(node)).length === net.nodes.length - 1);
    }
  });
  after(async function () {
    await Promise.all(peers.map((peer) => peer.stop()));
    await net?.stop();
  });

  it("takes mints and pays while the chain RPC is down past the failover timeout, loses none and executes each exactly once after it returns", async function () {
    const s = net.scenario;
    const proxy = net.rpcProxy!;
    const institutions = net.nodes.filter((n) => n.role === "institution");
    const balancesBefore = await Promise.all(s.merchants.map((m) => s.token.balanceOf(m.address)));
    const fromBlock = await nextBlock(s);

    /** One post: two pays and a mint, in one batch. */
    let k = 0;
    const batch = async (): Promise<{ ops: (EscrowOperationInput | TokenOperationInput)[]; pays: string[]; mints: Mint[] }> => {
      const pays = [await signedPay(s, await termsFor(s, k % 4, k % 2)), await signedPay(s, await termsFor(s, (k + 1) % 4, (k + 1) % 2))];
      const mint = await signedMint(s, k, BigInt(1_000 + k));
      k += 2;
      return { ops: [pays[0]!.op, mint.op, pays[1]!.op], pays: pays.map((p) => p.paymentId), mints: [mint] };
    };
    const payIds: string[] = [];
    const mints: Mint[] = [];
    let post = 0;
    /** Operations each node took in the last stream. */
    const taken = new Map<NodeHandle, number>();
    const stream = async (posts: number, everyMs: number) => {
      taken.clear();
      for (let i = 0; i < posts; i++) {
        const { ops, pays, mints: minted } = await batch();
        const node = institutions[post++ % institutions.length]!;
        const ack = await postJson<{ accepted: number; results: { id?: string }[] }>(`${node.apiUrl}/v1/operations`, { operations: ops });
        expect([ack.status, ack.body.accepted], `${node.name}: ${JSON.stringify(ack.body).slice(0, 300)}`).to.deep.equal([202, 3]);
        expect(ack.body.results.map((r) => r.id)).to.deep.equal([pays[0], minted[0]!.id, pays[1]]);
        taken.set(node, (taken.get(node) ?? 0) + ops.length);
        payIds.push(...pays);
        mints.push(...minted);
        await new Promise((r) => setTimeout(r, everyMs));
      }
    };

    await stream(4, 100);
    const deferredBefore = await Promise.all(institutions.map(takeoversDeferred));
    await proxy.pause();
    const pausedAt = Date.now();
    const firstDuring = mints.length;
    await stream(10, 400);
    const during = mints.slice(firstDuring);
    // Gossip does not need the chain: every node holds the mints taken during the outage, none executed.
    for (const node of net.nodes) {
      const held = await waitFor(`${node.name} to store the mints taken during the outage`, async () => {
        const statuses = await reported(node, during.map((m) => m.id));
        return statuses.every((st) => st !== undefined) ? statuses : undefined;
      }, 10_000);
      expect(held.filter((st) => st === "executed")).to.deep.equal([]);
    }
    // The outage lasts until every node has found the operations the others took due (their leases
    // lapsed by the clock: none of them makes progress) and left them, as many times at least.
    const takenDuring = during.length * 3;
    await waitFor("every node to find the others' operations due and leave them while the chain is down", async () => {
      const deferred = await Promise.all(institutions.map(takeoversDeferred));
      return institutions.every((node, i) => (deferred[i] ?? 0) - (deferredBefore[i] ?? 0) >= takenDuring - (taken.get(node) ?? 0));
    }, 60_000);
    const mintedDuring = await mintedCounts(s);
    expect(during.filter((m) => mintedDuring.has(m.bankRef.toLowerCase()))).to.deep.equal([]);
    await proxy.resume();
    const resumedAt = Date.now();
    await stream(4, 100);

    const ids = [...payIds, ...mints.map((m) => m.id)];
    await waitFor("every mint and pay on-chain", async () => {
      const [minted, paid] = await Promise.all([mintedCounts(s), paidCounts(s)]);
      return mints.every((m) => minted.has(m.bankRef.toLowerCase())) && payIds.every((id) => paid.has(id.toLowerCase()));
    }, 60_000, 250);
    const catchUpMs = Date.now() - resumedAt;
    for (const node of net.nodes) {
      await waitFor(`${node.name} to report every operation executed`, async () => (await reported(node, ids)).every((st) => st === "executed"), 30_000, 500);
    }
    // Exactly once, also after every late failover relay had its chance.
    const [minted, paid] = await Promise.all([mintedCounts(s), paidCounts(s)]);
    expect(mints.filter((m) => minted.get(m.bankRef.toLowerCase()) !== 1).map((m) => m.id)).to.deep.equal([]);
    expect(payIds.filter((id) => paid.get(id.toLowerCase()) !== 1)).to.deep.equal([]);
    const balancesAfter = await Promise.all(s.merchants.map((m) => s.token.balanceOf(m.address)));
    const expected = s.merchants.map((m, i) => balancesBefore[i]! + mints.filter((x) => x.to === m.address).reduce((sum, x) => sum + x.amount, 0n));
    expect(balancesAfter).to.deep.equal(expected);
    // No node failed: the outage lapses nobody's lease, so nothing is relayed twice, no relay fails, and
    // every node reports the one transaction hash; the nodes' own duplicate counters agree.
    await expectExactlyOnce(s, net.nodes, ids, { fromBlock, maxDuplicates: 0 });
    const duplicates = await Promise.all(institutions.map(duplicatesCounted));
    expect(duplicates, "duplicate items counted by each institution").to.deep.equal(institutions.map(() => 0));
    console.log(`      ${ids.length} operations (${during.length * 3} during a ${resumedAt - pausedAt} ms outage): all executed ${catchUpMs} ms after the RPC returned`);
  });

  it("refuses forged token operations gossiped by a registered peer everywhere, bans the peer, and honest mints go on", async function () {
    const s = net.scenario;
    const { privateKey, peerId } = await freshPeerKey();
    await (await s.contracts.registry.registerInstitution(Wallet.createRandom().address, peerId, "Forger Bank")).wait();
    const forger = await startTestPeer(net.nodes, { privateKey });
    peers.push(forger);
    await waitFor("every node to admit the registered forger", async () => {
      const lists = await Promise.all(net.nodes.map(peersOf));
      return lists.every((list) => list.includes(peerId)) && net.nodes.every((n) => forger.net.topicPeers().includes(n.peerId));
    });

    const fromBlock = await nextBlock(s);
    const honest: Mint[] = [];
    const forged: { id: string; bankRef: string }[] = [];
    for (let i = 0; i < MAX_REJECTS; i++) {
      // Half: a custodian's mint with its amount raised after signing; half: a mint signed by a stranger.
      const original = await signedMint(s, i, 50n);
      const op: TokenOperationInput =
        i % 2 === 0 ? { ...(original.op as Extract<TokenOperationInput, { kind: "mint" }>), amount: "5000000" } : await signedTokenOp(s, Wallet.createRandom(), { kind: "mint", to: original.to, amount: "50", bankRef: original.bankRef });
      forged.push({ id: tokenOperationIdOf(s, op), bankRef: original.bankRef });
      await forger.net.publish(encodeGossipMessage([op]));
      const mint = await signedMint(s, i, BigInt(200 + i));
      const node = net.nodes[i % 3]!;
      expect((await postJson(`${node.apiUrl}/v1/operations`, mint.op)).status).to.equal(202);
      honest.push(mint);
    }
    const lastForgery = Date.now();
    await waitFor("every node to drop the forger", async () => {
      const lists = await Promise.all(net.nodes.map(peersOf));
      return lists.every((list) => !list.includes(peerId)) && forger.net.connectedPeers().length === 0;
    }, 10_000, 100);
    console.log(`      forger dropped ${Date.now() - lastForgery} ms after its last forged token operation`);

    for (const node of net.nodes) {
      await waitFor(`${node.name} to report the honest mints executed`, async () => (await reported(node, honest.map((m) => m.id))).every((st) => st === "executed"), 60_000, 500);
      expect(await reported(node, forged.map((f) => f.id)), `${node.name} stores a forged mint`).to.deep.equal(forged.map(() => undefined));
    }
    const minted = await mintedCounts(s);
    expect(honest.filter((m) => minted.get(m.bankRef.toLowerCase()) !== 1).map((m) => m.id)).to.deep.equal([]);
    expect(forged.filter((f) => minted.has(f.bankRef.toLowerCase()))).to.deep.equal([]);
    await expectExactlyOnce(s, net.nodes, honest.map((m) => m.id), { fromBlock, maxDuplicates: 0 });
    const account = await relayAccount(s, fromBlock);
    expect(forged.filter((f) => account.relays.has(f.id.toLowerCase())), "a forged mint was relayed").to.deep.equal([]);
    // Counted as rejected gossip, with the reason.
    const metrics = await (await nodeFetch(`${net.nodes[3]!.apiUrl}/metrics`)).text();
    expect(metrics).to.match(/settlenet_operations_validated_total\{path="gossip",result="reject",code="BAD_SIGNATURE"\} [1-9]/);
  });
});
