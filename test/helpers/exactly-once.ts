/**
 * Exactly-once as the chain and the nodes tell it, in a form that can fail. Events such as PaymentPaid
 * or Minted cannot repeat whatever the nodes do (the contracts refuse a second execution), so counting
 * them proves nothing about the relay. Instead this reads every relay transaction to the escrow and the
 * settlement tokens in a block range, decodes the operations in their calldata to operation ids, and
 * records per operation each time it was relayed and whether that relay executed (an escrow batch item
 * failed if its transaction emitted OperationFailed for its index; a token *WithSig call failed if its
 * transaction reverted). A relay after the operation's first success is a duplicate relay.
 */
import { expect } from "chai";
import { Interface, getAddress, toQuantity, type Result } from "ethers";

import {
  contractOperationOf,
  fromContractOperation,
  fromTokenCall,
  operationIdFor,
  operationIdOf,
  tokenNamesOf,
  type OperationContext,
} from "../../core/operations/index.js";
import { loadArtifact } from "../../core/protocol/artifacts.js";
import type { StoredOperation } from "../../core/records.js";
import type { Scenario } from "./chain.js";
import { getJson, metricTotal, type NodeHandle } from "./network.js";

/** One relay of one operation: a batch item or a single call. */
export interface Relay {
  txHash: string;
  from: string;
  blockNumber: number;
  /** Position of the transaction in its block, then of the item in its batch: chain order. */
  txIndex: number;
  item: number;
  executed: boolean;
}

export interface RelayAccount {
  /** Relays per operation id (lower case), in chain order. */
  relays: Map<string, Relay[]>;
  /** Relay transactions scanned. */
  transactions: number;
}

interface RpcTransaction {
  hash: string;
  from: string;
  to: string | null;
  input: string;
  transactionIndex: string;
}

const escrowIface = new Interface(loadArtifact("PaymentEscrow").abi);
const tokenIface = new Interface(loadArtifact("SettlementToken").abi);

/** The block to scan from for what happens next (the current head + 1). */
export async function nextBlock(s: Scenario): Promise<number> {
  return (await s.chain.provider.getBlockNumber()) + 1;
}

/** Every relay of an escrow or token operation in blocks `fromBlock`..head. */
export async function relayAccount(s: Scenario, fromBlock: number): Promise<RelayAccount> {
  const provider = s.chain.provider;
  const escrow = s.deployment.contracts.escrow.toLowerCase();
  const tokens = new Set(Object.values(s.deployment.tokens).map((t) => t.address.toLowerCase()));
  const ctx: OperationContext = { chainId: BigInt(s.deployment.chainId), escrow: s.deployment.contracts.escrow, tokenNames: tokenNamesOf(s.deployment) };
  const failedTopic = escrowIface.getEvent("OperationFailed")?.topicHash;
  const relays = new Map<string, Relay[]>();
  const add = (id: string, relay: Relay) => relays.set(id.toLowerCase(), [...(relays.get(id.toLowerCase()) ?? []), relay]);
  let transactions = 0;
  const head = await provider.getBlockNumber();
  for (let n = Math.max(1, fromBlock); n <= head; n++) {
    const block = (await provider.send("eth_getBlockByNumber", [toQuantity(n), true])) as { transactions: RpcTransaction[] } | null;
    for (const tx of block?.transactions ?? []) {
      const to = tx.to?.toLowerCase();
      if (to === undefined || (to !== escrow && !tokens.has(to))) continue;
      const iface = to === escrow ? escrowIface : tokenIface;
      const call = iface.parseTransaction({ data: tx.input });
      if (!call) continue;
      let ids: string[];
      if (to === escrow) {
        if (call.name !== "execute" && call.name !== "executeBatch") continue;
        const items = call.name === "execute" ? [call.args[0] as Result] : [...(call.args[0] as Result[])];
        ids = items.map((item) => {
          const op = fromContractOperation(contractOperationOf(item));
          if (!op) throw new Error(`${tx.hash}: an item of unknown kind`);
          return operationIdOf(op, ctx);
        });
      } else {
        const op = fromTokenCall(tx.to ?? "", call.name, [...call.args]);
        if (!op) continue;
        ids = [operationIdFor(op, ctx)];
      }
      transactions += 1;
      const receipt = await provider.getTransactionReceipt(tx.hash);
      if (!receipt) throw new Error(`no receipt for mined ${tx.hash}`);
      const failed = new Map<number, string>();
      for (const log of receipt.logs) {
        if (log.topics[0] !== failedTopic) continue;
        const event = escrowIface.parseLog(log);
        failed.set(Number(event?.args.getValue("index")), String(event?.args.getValue("operationId")).toLowerCase());
      }
      ids.forEach((id, item) => {
        // The contract's own id of a failed item must be the one decoded from the calldata.
        const failedId = failed.get(item);
        if (failedId !== undefined && failedId !== id.toLowerCase()) throw new Error(`${tx.hash} item ${item}: OperationFailed names ${failedId}, calldata ${id}`);
        const executed = receipt.status === 1 && failedId === undefined;
        add(id, { txHash: tx.hash, from: tx.from, blockNumber: n, txIndex: Number(tx.transactionIndex), item, executed });
      });
    }
  }
  for (const list of relays.values()) list.sort((a, b) => a.blockNumber - b.blockNumber || a.txIndex - b.txIndex || a.item - b.item);
  return { relays, transactions };
}

export interface ExactlyOnceReport {
  /** Operations whose relays did not execute exactly once, with the number of executions. */
  notOnce: { id: string; executions: number }[];
  /** Relays of an operation after its first execution (each failed on-chain, or it executed twice). */
  duplicates: number;
  /** Those relays, by sender address: who relayed again. */
  duplicatesBy: Record<string, number>;
  /** Failed relays of an operation that had not executed yet: a failure other than a duplicate. */
  failures: { id: string; txHash: string }[];
  /** The transaction that executed each operation (lower-case id → hash). */
  executedIn: Map<string, string>;
}

/** What `account` says about `ids`; relays of other operations in the range count too. */
export function exactlyOnce(account: RelayAccount, ids: string[]): ExactlyOnceReport {
  const notOnce: { id: string; executions: number }[] = [];
  const failures: { id: string; txHash: string }[] = [];
  const executedIn = new Map<string, string>();
  let duplicates = 0;
  const duplicatesBy: Record<string, number> = {};
  for (const id of ids) {
    const executions = (account.relays.get(id.toLowerCase()) ?? []).filter((r) => r.executed).length;
    if (executions !== 1) notOnce.push({ id, executions });
  }
  for (const [id, relays] of account.relays) {
    const first = relays.findIndex((r) => r.executed);
    const before = first === -1 ? relays : relays.slice(0, first);
    failures.push(...before.map((r) => ({ id, txHash: r.txHash })));
    if (first !== -1) {
      duplicates += relays.length - first - 1;
      for (const r of relays.slice(first + 1)) duplicatesBy[getAddress(r.from)] = (duplicatesBy[getAddress(r.from)] ?? 0) + 1;
      executedIn.set(id, relays[first]!.txHash);
    }
  }
  return { notOnce, duplicates, duplicatesBy, failures, executedIn };
}

/** The operations as `node` reports them, via GET /v1/operations/:id, a few requests at a time. */
export async function reportedBy(node: NodeHandle, ids: string[]): Promise<(StoredOperation | undefined)[]> {
  const out: (StoredOperation | undefined)[] = [];
  for (let i = 0; i < ids.length; i += 25) {
    const page = await Promise.all(
      ids.slice(i, i + 25).map(async (id) => {
        const { status, body } = await getJson<StoredOperation>(`${node.apiUrl}/v1/operations/${id}`);
        return status === 200 ? body : undefined;
      }),
    );
    out.push(...page);
  }
  return out;
}

/**
 * Asserts, over blocks `fromBlock`..head: every id executed exactly once; at most `maxDuplicates`
 * relays of an already-executed operation; no failed relay other than those duplicates; and every node
 * in `nodes` reporting each id executed in the transaction that executed it. Returns the report.
 */
export async function expectExactlyOnce(
  s: Scenario,
  nodes: NodeHandle[],
  ids: string[],
  options: { fromBlock: number; maxDuplicates: number },
): Promise<ExactlyOnceReport> {
  const report = exactlyOnce(await relayAccount(s, options.fromBlock), ids);
  expect(report.notOnce, "operations not executed exactly once").to.deep.equal([]);
  expect(report.failures, "failed relays other than duplicates").to.deep.equal([]);
  expect(report.duplicates, `relays of an operation already executed, by sender: ${JSON.stringify(report.duplicatesBy)}`).to.be.at.most(options.maxDuplicates);
  for (const node of nodes) {
    const ops = await reportedBy(node, ids);
    const wrong = ids.filter((id, i) => ops[i]?.status !== "executed" || ops[i]?.execution?.txHash.toLowerCase() !== report.executedIn.get(id.toLowerCase())?.toLowerCase());
    expect(wrong, `${node.name} reports operations not executed, or executed in another transaction`).to.deep.equal([]);
  }
  return report;
}

/** Items `node` relayed that the chain refused as executed already, by its own counter (GET /metrics). */
export async function duplicatesCounted(node: NodeHandle): Promise<number> {
  return metricTotal(node, "settlenet_relay_duplicate_items_total");
}

/** Operations `node` found due for takeover and left for later (the chain could not be read, or their holder is alive), by its own counter. */
export async function takeoversDeferred(node: NodeHandle): Promise<number> {
  return metricTotal(node, "settlenet_relay_takeovers_deferred_total");
}
