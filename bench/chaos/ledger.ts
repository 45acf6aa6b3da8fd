/**
 * Exactly-once from the chain's own account, in a form that can fail: every relay transaction to the
 * escrow and the settlement tokens in a block range is decoded to operation ids (from its calldata),
 * and each relay is marked executed or not (an escrow batch item failed if its transaction emitted
 * OperationFailed for its index; a token *WithSig call failed if its transaction reverted). Events
 * such as PaymentPaid cannot repeat whatever the nodes do, so they would prove nothing about the relay.
 */
import { Interface, toQuantity, type JsonRpcProvider, type Result } from "ethers";

import { contractOperationOf, fromContractOperation, fromTokenCall, operationIdFor, operationIdOf, tokenNamesOf, type OperationContext } from "../../core/operations/index.js";
import { loadArtifact } from "../../core/protocol/artifacts.js";
import type { Deployment } from "../../core/protocol/deployment.js";

/** Per operation id (lower case): how often it was relayed, and how often a relay executed. */
export interface RelayLedger {
  relayed: Map<string, number>;
  executed: Map<string, number>;
  transactions: number;
}

interface RpcTransaction {
  hash: string;
  to: string | null;
  input: string;
}

const escrowIface = new Interface(loadArtifact("PaymentEscrow").abi);
const tokenIface = new Interface(loadArtifact("SettlementToken").abi);
const failedTopic = escrowIface.getEvent("OperationFailed")?.topicHash;

/** Reads blocks `from`..`to` and accounts for every escrow and token relay in them. */
export async function relayLedger(provider: JsonRpcProvider, deployment: Deployment, from: number, to: number): Promise<RelayLedger> {
  const escrow = deployment.contracts.escrow.toLowerCase();
  const tokens = new Set(Object.values(deployment.tokens).map((t) => t.address.toLowerCase()));
  const ctx: OperationContext = { chainId: BigInt(deployment.chainId), escrow: deployment.contracts.escrow, tokenNames: tokenNamesOf(deployment) };
  const ledger: RelayLedger = { relayed: new Map(), executed: new Map(), transactions: 0 };
  const bump = (map: Map<string, number>, id: string) => map.set(id.toLowerCase(), (map.get(id.toLowerCase()) ?? 0) + 1);
  for (let n = Math.max(1, from); n <= to; n++) {
    const block = (await provider.send("eth_getBlockByNumber", [toQuantity(n), true])) as { transactions: RpcTransaction[] } | null;
    for (const tx of block?.transactions ?? []) {
      const target = tx.to?.toLowerCase();
      if (target === undefined || (target !== escrow && !tokens.has(target))) continue;
      let call;
      try {
        call = (target === escrow ? escrowIface : tokenIface).parseTransaction({ data: tx.input });
      } catch {
        continue;
      }
      if (!call) continue;
      let ids: string[];
      if (target === escrow) {
        if (call.name !== "execute" && call.name !== "executeBatch") continue;
        const items = call.name === "execute" ? [call.args[0] as Result] : [...(call.args[0] as Result[])];
        ids = items.map((item) => {
          const op = fromContractOperation(contractOperationOf(item));
          if (!op) throw new Error(`${tx.hash}: a batch item of unknown kind`);
          return operationIdOf(op, ctx);
        });
      } else {
        const op = fromTokenCall(tx.to ?? "", call.name, [...call.args]);
        if (!op) continue;
        ids = [operationIdFor(op, ctx)];
      }
      ledger.transactions += 1;
      const receipt = (await provider.send("eth_getTransactionReceipt", [tx.hash])) as { status: string; logs: { topics: string[]; data: string }[] } | null;
      if (!receipt) throw new Error(`no receipt for mined ${tx.hash}`);
      const failed = new Set<number>();
      for (const log of receipt.logs) {
        if (log.topics[0] !== failedTopic) continue;
        failed.add(Number(escrowIface.parseLog(log)?.args.getValue("index")));
      }
      ids.forEach((id, item) => {
        bump(ledger.relayed, id);
        if (Number(receipt.status) === 1 && !failed.has(item)) bump(ledger.executed, id);
      });
    }
  }
  return ledger;
}

/** Relays beyond the first of each operation (each one the chain refused, or an execution twice). */
export function duplicateRelays(ledger: RelayLedger): number {
  let extra = 0;
  for (const n of ledger.relayed.values()) extra += n - 1;
  return extra;
}
