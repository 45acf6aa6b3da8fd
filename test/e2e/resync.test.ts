/**
 * A restored or emptied node re-syncs from the chain and its peers before it acknowledges anything
 * (compliance issue, backup and restore). Real node processes, a real chain, real LevelDB: institution
 * C is stopped; while it is down the other nodes accept operations that cannot reach the chain (their
 * RPC goes through a proxy the test cuts; C reaches the chain directly and never relays them itself);
 * C's data directory is wiped, or replaced by a restored backup, and C is started again. While it
 * starts, the test keeps asking it for one of those operations and re-submitting another: C answers
 * 503 NOT_READY (never 404 for an operation the network holds, never 202 for one it already accepted)
 * until it has caught up, and from its first answer on it holds every pending operation. Once the chain
 * is back every operation executes exactly once and C reports it executed.
 */
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";

import { expect } from "chai";

import { restoreBackup } from "../../node/backup/backup.js";
import type { EscrowOperationInput } from "../../core/operations/index.js";
import type { StoredOperation } from "../../core/records.js";
import { startChain } from "../helpers/chain.js";
import { getJson, launchNetwork, nodeFetch, postJson, waitFor, type NodeHandle, type TestNetwork } from "../helpers/network.js";
import { paidCounts, signedPays } from "../helpers/operations.js";

type Pay = { op: EscrowOperationInput; paymentId: string };

/** One probe of the starting node, in the order the probes were made (one at a time). */
interface Probe {
  kind: "get" | "post";
  status: number | "refused";
  code?: string;
  /** On the first probe answered with anything but 503: how many of the expected operations it held, by status. */
  held?: Record<string, number>;
}

async function opStatus(node: NodeHandle, id: string): Promise<string | undefined> {
  const { status, body } = await getJson<StoredOperation>(`${node.apiUrl}/v1/operations/${id}`);
  return status === 200 ? body.status : undefined;
}

/** Counts of `ids` by the status `node` reports (`missing` for a 404, `<status>` for other answers). */
async function statuses(node: NodeHandle, ids: string[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (let i = 0; i < ids.length; i += 50) {
    const answers = await Promise.all(
      ids.slice(i, i + 50).map(async (id) => {
        const { status, body } = await getJson<StoredOperation & { code?: string }>(`${node.apiUrl}/v1/operations/${id}`);
        return status === 200 ? body.status : status === 404 ? "missing" : `http-${status}-${body.code ?? ""}`;
      }),
    );
    for (const answer of answers) out[answer] = (out[answer] ?? 0) + 1;
  }
  return out;
}

/**
 * Starts `node` and probes it every few milliseconds until it is ready: GET of operation `probeId`,
 * then a re-submission of `resubmit` (which the network already accepted), one request at a time so
 * that the probes' order is the order the node saw them. The first time a probe is answered with
 * anything but 503, also counts which of `expected` the node holds.
 */
async function startWatching(node: NodeHandle, probeId: string, resubmit: EscrowOperationInput, expected: string[]): Promise<Probe[]> {
  const probes: Probe[] = [];
  let started = false;
  let failed: unknown;
  const starting = node.start().then(
    () => (started = true),
    (error: unknown) => (failed = error),
  );
  const probe = async (kind: Probe["kind"], call: () => Promise<{ status: number; body: { code?: string } }>): Promise<void> => {
    let answer: Probe;
    try {
      const { status, body } = await call();
      answer = { kind, status, ...(body.code ? { code: body.code } : {}) };
    } catch {
      answer = { kind, status: "refused" };
    }
    if (answer.status !== "refused" && answer.status !== 503 && !probes.some((p) => p.held)) answer.held = await statuses(node, expected);
    probes.push(answer);
  };
  // Probe until the node is up, and a little longer: what it answers right after must hold too.
  for (let after = 0; after < 5 && failed === undefined; after += started ? 1 : 0) {
    await probe("get", () => getJson<{ code?: string }>(`${node.apiUrl}/v1/operations/${probeId}`));
    await probe("post", () => postJson<{ code?: string }>(`${node.apiUrl}/v1/operations`, resubmit));
    // Paces the probes (not a synchronisation: the loop ends on the node's own start).
    await new Promise((r) => setTimeout(r, 20));
  }
  await starting;
  if (failed) throw failed;
  return probes;
}

/**
 * The gate held: every probe before the first served one was refused or answered 503 NOT_READY, and
 * every probe from it on got the caught-up answer. Readiness only ever turns on, so one NOT_READY
 * after a served probe is a gate that let a request through before the node was ready.
 */
function expectGated(probes: Probe[], expected: { get: number; post: number; postCode: string }, held: Record<string, number>): void {
  const shown = JSON.stringify(probes.slice(-12));
  const firstServed = probes.findIndex((p) => p.status !== "refused" && p.status !== 503);
  expect(firstServed, `never served: ${shown}`).to.be.greaterThan(0);
  const before = probes.slice(0, firstServed);
  const after = probes.slice(firstServed);
  // Not-ready answers were seen (the gate exists), each coded, and nothing else before the node was ready.
  expect(before.filter((p) => p.status === 503 && p.code === "NOT_READY"), `no NOT_READY seen: ${shown}`).to.not.have.length(0);
  expect(before.filter((p) => !(p.status === "refused" || (p.status === 503 && p.code === "NOT_READY"))), shown).to.deep.equal([]);
  // From the first answer on: the operation is known, the re-submission a duplicate, never NOT_READY again.
  expect(after.filter((p) => p.status !== (p.kind === "get" ? expected.get : expected.post)), shown).to.deep.equal([]);
  expect(after.filter((p) => p.kind === "post" && p.code !== expected.postCode), shown).to.deep.equal([]);
  expect(after[0]?.held, shown).to.deep.equal(held);
  const notReady = before.filter((p) => p.status === 503).length;
  console.log(`      ${before.length - notReady} probes refused, ${notReady} answered NOT_READY, then served`);
}

describe("resync: a restored or emptied node catches up with the chain and its peers before it acknowledges anything", function () {
  this.timeout(180_000);
  let net: TestNetwork;
  let c: NodeHandle;
  let backupFile: string;

  before(async function () {
    const chain = await startChain();
    net = await launchNetwork({
      chain,
      institutions: 3,
      regulator: true,
      payers: 4,
      payerFunds: 100_000_000n,
      rpcProxy: true,
      // C sees the chain while the others are cut off, and would fail over only after ten minutes:
      // what it holds of the pending operations came from its peers, and it relays none of them.
      nodeConfig: { "institution-2": { rpcUrl: chain.url, relay: { batchIntervalMs: 100, failoverTimeoutMs: 600_000 } } },
    });
    c = net.nodes.find((n) => n.name === "institution-2")!;
    for (const node of net.nodes) {
      await waitFor(`${node.name} to see every other node`, async () => {
        const { body } = await getJson<{ peers: unknown[] }>(`${node.apiUrl}/v1/peers`);
        return body.peers.length === net.nodes.length - 1;
      });
    }
    backupFile = join(net.dir, "institution-2.backup");
  });
  after(async function () {
    await net?.stop();
  });

  /** Stops C and cuts the other nodes off the chain; `count` pays accepted by A meanwhile reach B and D. */
  async function pendingWhileCIsDown(count: number, offset: number): Promise<Pay[]> {
    const s = net.scenario;
    const [a, b, , d] = net.nodes as [NodeHandle, NodeHandle, NodeHandle, NodeHandle];
    await c.stop();
    await net.rpcProxy!.pause();
    const pays = await signedPays(s, count, offset);
    for (let i = 0; i < count; i += 300) {
      const slice = pays.slice(i, i + 300);
      const ack = await postJson<{ accepted: number }>(`${a.apiUrl}/v1/operations`, { operations: slice.map((p) => p.op) });
      expect([ack.status, ack.body.accepted]).to.deep.equal([202, slice.length]);
    }
    for (const node of [b, d]) {
      await waitFor(`${node.name} to hold the pending operations`, async () => (await statuses(node, pays.map((p) => p.paymentId)))["accepted"] === count, 60_000, 500);
    }
    expect([...(await paidCounts(s)).keys()].filter((id) => pays.some((p) => p.paymentId.toLowerCase() === id))).to.deep.equal([]);
    return pays;
  }

  /** Lets the chain back in; every pay executes exactly once and C reports it executed. */
  async function executeOnceAfterResume(pays: Pay[]): Promise<void> {
    const s = net.scenario;
    await net.rpcProxy!.resume();
    const ids = pays.map((p) => p.paymentId);
    const counts = await waitFor("every pending pay to be paid on-chain", async () => {
      const paid = await paidCounts(s);
      return ids.every((id) => paid.has(id.toLowerCase())) ? paid : undefined;
    }, 60_000, 500);
    expect(ids.filter((id) => counts.get(id.toLowerCase()) !== 1)).to.deep.equal([]);
    await waitFor("C to report every pay executed", async () => (await statuses(c, ids))["executed"] === ids.length, 30_000, 500);
    // C relayed none of them (it received them from peers), and late relays changed nothing.
    const relayers: (string | undefined)[] = [];
    for (let i = 0; i < ids.length; i += 50) {
      relayers.push(...(await Promise.all(ids.slice(i, i + 50).map(async (id) => (await getJson<StoredOperation>(`${c.apiUrl}/v1/operations/${id}`)).body.execution?.relayer?.toLowerCase()))));
    }
    expect(relayers.filter((r) => r === net.scenario.institutions[2]!.address.toLowerCase())).to.deep.equal([]);
    const again = await paidCounts(s);
    expect(ids.filter((id) => again.get(id.toLowerCase()) !== 1)).to.deep.equal([]);
  }

  /**
   * With the other nodes cut off the chain, `count` pays accepted by A reach C (up, and not relaying);
   * C is backed up holding them accepted, then they execute. Returns their payment ids.
   */
  async function backupHoldingPending(count: number, offset: number): Promise<string[]> {
    const a = net.nodes[0]!;
    await net.rpcProxy!.pause();
    const pays = await signedPays(net.scenario, count, offset);
    const ack = await postJson<{ accepted: number }>(`${a.apiUrl}/v1/operations`, { operations: pays.map((p) => p.op) });
    expect([ack.status, ack.body.accepted]).to.deep.equal([202, count]);
    const ids = pays.map((p) => p.paymentId);
    await waitFor("C to hold the pending operations", async () => (await statuses(c, ids))["accepted"] === count, 60_000, 500);
    const response = await nodeFetch(`${c.apiUrl}/v1/admin/backup`);
    expect(response.status).to.equal(200);
    await writeFile(backupFile, Buffer.from(await response.arrayBuffer()));
    await executeOnceAfterResume(pays);
    return ids;
  }

  it("an emptied node answers NOT_READY until it holds the operations its peers accepted meanwhile, then reports them executed", async function () {
    // More than one sync answer message holds (500 operations): each peer answers in two parts.
    const pays = await pendingWhileCIsDown(510, 0);
    const ids = pays.map((p) => p.paymentId);
    await rm(c.dataDir, { recursive: true, force: true });

    const probes = await startWatching(c, ids[0]!, pays[1]!.op, ids);
    expectGated(probes, { get: 200, post: 409, postCode: "DUPLICATE" }, { accepted: ids.length });
    const origins = await Promise.all(ids.slice(0, 50).map(async (id) => (await getJson<StoredOperation>(`${c.apiUrl}/v1/operations/${id}`)).body.origin));
    expect(new Set(origins)).to.deep.equal(new Set(["gossip"]));
    expect(await opStatus(c, ids[0]!)).to.equal("accepted");

    await executeOnceAfterResume(pays);
  });

  it("a restored node reports what executed since its backup and holds what its peers accepted meanwhile before it answers", async function () {
    // A backup holding pays as accepted, which executed since.
    const earlier = await backupHoldingPending(100, 510);
    const pays = await pendingWhileCIsDown(10, 610);
    const ids = pays.map((p) => p.paymentId);
    await rm(c.dataDir, { recursive: true, force: true });
    await restoreBackup(backupFile, c.dataDir);
    await mkdir(c.dataDir, { recursive: true });

    // Before its first answer it has replayed the chain since the backup and taken the peers' pending operations.
    const probes = await startWatching(c, ids[0]!, pays[1]!.op, [...earlier, ...ids]);
    expectGated(probes, { get: 200, post: 409, postCode: "DUPLICATE" }, { executed: earlier.length, accepted: ids.length });

    await executeOnceAfterResume(pays);
  });
});
