/**
 * What the relay fault tests (test/e2e/faults.test.ts, test/e2e/relay-backlog.test.ts) and the network
 * tests share: batch submissions that must all be accepted, PaymentPaid events per payment, and waits
 * for a network's nodes to connect and to report operations executed.
 */
import { expect } from "chai";

import type { EscrowOperationInput } from "../../core/operations/index.js";
import type { StoredOperation } from "../../core/records.js";
import type { Scenario } from "./chain.js";
import { reportedBy } from "./exactly-once.js";
import { getJson, nodeApi, postJson, waitFor, type NodeHandle, type TestNetwork } from "./network.js";

/** PaymentEscrow's status of a held payment. */
export const HELD = 1n;

export interface BatchAck {
  accepted: number;
  refused: number;
  results: { id?: string; status: "accepted" | "refused"; code?: string }[];
}

/** Posts a batch submission and checks that every operation in it was accepted (202). */
export async function submitAll(node: NodeHandle, pays: { op: EscrowOperationInput; paymentId: string }[]): Promise<void> {
  const ack = await postJson<BatchAck>(`${node.apiUrl}/v1/operations`, { operations: pays.map((p) => p.op) });
  expect(ack.status, `${node.name} answered ${JSON.stringify(ack.body).slice(0, 300)}`).to.equal(202);
  expect(ack.body.accepted).to.equal(pays.length);
  expect(ack.body.results.map((r) => r.id)).to.deep.equal(pays.map((p) => p.paymentId));
}

/** Adds the PaymentPaid events of blocks `fromBlock`..`toBlock` to `byId` (per payment id, lower case). */
async function addPaidEvents(s: Scenario, byId: Map<string, { txHash: string }[]>, fromBlock: number, toBlock: number | "latest"): Promise<void> {
  const escrow = s.contracts.escrow;
  const logs = await escrow.queryFilter(escrow.filters.PaymentPaid(), fromBlock, toBlock);
  for (const log of logs) {
    const id = String(log.args[0]).toLowerCase();
    byId.set(id, [...(byId.get(id) ?? []), { txHash: log.transactionHash }]);
  }
}

/** PaymentPaid events per payment id (lower case) with the sender of each event's transaction. */
export async function paidEvents(s: Scenario): Promise<Map<string, { txHash: string }[]>> {
  const byId = new Map<string, { txHash: string }[]>();
  await addPaidEvents(s, byId, s.deployment.deploymentBlock, "latest");
  return byId;
}

/**
 * Waits until every id has a PaymentPaid event; returns every event since the deployment, as
 * paidEvents does. Each poll reads only the blocks since the last one (a whole history per poll cost
 * the test process seconds of decoding over a few hundred payments).
 */
export async function waitAllPaid(s: Scenario, ids: string[], timeoutMs: number): Promise<Map<string, { txHash: string }[]>> {
  const paid = new Map<string, { txHash: string }[]>();
  let nextBlock = s.deployment.deploymentBlock;
  return waitFor(
    `${ids.length} payments to be paid on-chain`,
    async () => {
      const head = await s.chain.provider.getBlockNumber();
      if (head >= nextBlock) {
        await addPaidEvents(s, paid, nextBlock, head);
        nextBlock = head + 1;
      }
      return ids.every((id) => paid.has(id.toLowerCase())) ? paid : undefined;
    },
    timeoutMs,
    250,
  );
}

/** Checks the escrow holding each payment. */
export async function expectHeld(s: Scenario, ids: string[]): Promise<void> {
  const states = await Promise.all(ids.map((id) => s.contracts.escrow.paymentOf(id)));
  expect(states.filter((state) => state.status !== HELD)).to.have.length(0);
}

/**
 * Waits until `node` reports every id executed; returns the reports, read once more in full when all
 * were seen executed. Each poll asks only for the ids not yet seen executed (a status the node never
 * takes back), so a wait over hundreds of operations costs the node and this process one request per
 * id and poll while it lasts, not per id ever.
 */
export async function waitReportedExecuted(node: NodeHandle, ids: string[], timeoutMs = 30_000): Promise<StoredOperation[]> {
  let waiting = ids;
  return waitFor(
    `${node.name} to report ${ids.length} operations executed`,
    async () => {
      if (waiting.length > 0) {
        const ops = await reportedBy(node, waiting);
        waiting = waiting.filter((_, i) => ops[i]?.status !== "executed");
        if (waiting.length > 0) return undefined;
      }
      const ops = await reportedBy(node, ids);
      return ops.every((op) => op?.status === "executed") ? (ops as StoredOperation[]) : undefined;
    },
    timeoutMs,
    500,
  );
}

/**
 * Submits `op` to `entry` alone and waits for every node in `nodes` to report it executed; each must
 * have it from where it should: the API on `entry`, gossip on the others. Returns each node's record.
 */
export async function submitAndWaitEverywhere(nodes: NodeHandle[], entry: NodeHandle, submitted: { op: EscrowOperationInput; paymentId: string }, timeoutMs = 30_000): Promise<StoredOperation[]> {
  expect(await nodeApi(entry).submit(submitted.op)).to.deep.equal({ accepted: true, id: submitted.paymentId });
  const stored: StoredOperation[] = [];
  for (const node of nodes) {
    const [operation] = await waitReportedExecuted(node, [submitted.paymentId], timeoutMs);
    expect(operation?.origin, `where ${node.name} has it from`).to.equal(node === entry ? "api" : "gossip");
    if (operation) stored.push(operation);
  }
  return stored;
}

export function nodeNamed(net: TestNetwork, name: string): NodeHandle {
  const node = net.nodes.find((n) => n.name === name);
  if (!node) throw new Error(`no node ${name}`);
  return node;
}

export async function waitConnected(net: TestNetwork): Promise<void> {
  for (const node of net.nodes) {
    await waitFor(`${node.name} to see every other node`, async () => {
      const { body } = await getJson<{ peers: unknown[] }>(`${node.apiUrl}/v1/peers`);
      return body.peers.length === net.nodes.length - 1;
    });
  }
}
