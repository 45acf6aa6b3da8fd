/**
 * What the chain holds for a range of blocks, read once after a measured window: transactions and gas
 * per block, and every escrow operation relayed in `execute`/`executeBatch` calldata, counted by its
 * ABI encoding. The same signed operation relayed twice has the same encoding, so items seen more than
 * once are duplicate relays (each costs gas and chain time although only the first can execute). This
 * is the chain's own account, whichever node relayed and whatever the nodes' metrics say.
 */
import { AbiCoder, Interface, keccak256, toQuantity, type JsonRpcProvider, type ParamType } from "ethers";

import { loadArtifact } from "../../core/protocol/artifacts.js";

export interface BlockStats {
  number: number;
  timestamp: number;
  transactions: number;
  gasUsed: number;
}

export interface RelayedItems {
  /** Escrow operations in execute/executeBatch calldata. */
  items: number;
  /** Distinct operations among them. */
  unique: number;
  /** items − unique: relays of an operation already relayed. */
  duplicates: number;
  /** execute/executeBatch transactions. */
  transactions: number;
}

export interface ChainScan {
  blocks: BlockStats[];
  relayed: RelayedItems;
}

interface RpcBlock {
  number: string;
  timestamp: string;
  gasUsed: string;
  transactions: { to: string | null; input: string }[];
}

/** Counts relayed items by encoding; a pure function of the calldata, for tests and for the scan. */
export class RelayedItemCounter {
  private readonly iface = new Interface(loadArtifact("PaymentEscrow").abi);
  private readonly itemType: ParamType | undefined;
  private readonly seen = new Map<string, number>();
  private transactions = 0;

  constructor() {
    this.itemType = this.iface.getFunction("execute")?.inputs[0] ?? this.iface.getFunction("executeBatch")?.inputs[0]?.arrayChildren ?? undefined;
  }

  /** Adds one escrow transaction's calldata (other calls are ignored). */
  add(input: string): void {
    if (!this.itemType || input.length < 10) return;
    let call;
    try {
      call = this.iface.parseTransaction({ data: input });
    } catch {
      return;
    }
    if (!call || (call.name !== "execute" && call.name !== "executeBatch")) return;
    const items = call.name === "execute" ? [call.args[0]] : [...(call.args[0] as unknown[])];
    this.transactions += 1;
    for (const item of items) {
      const key = keccak256(AbiCoder.defaultAbiCoder().encode([this.itemType], [item]));
      this.seen.set(key, (this.seen.get(key) ?? 0) + 1);
    }
  }

  result(): RelayedItems {
    let items = 0;
    for (const n of this.seen.values()) items += n;
    return { items, unique: this.seen.size, duplicates: items - this.seen.size, transactions: this.transactions };
  }
}

/** Reads blocks `from`..`to` (inclusive) and counts what the escrow at `escrow` was sent. */
export async function scanChain(provider: JsonRpcProvider, escrow: string, from: number, to: number): Promise<ChainScan> {
  const counter = new RelayedItemCounter();
  const blocks: BlockStats[] = [];
  const target = escrow.toLowerCase();
  for (let n = Math.max(1, from); n <= to; n++) {
    const block = (await provider.send("eth_getBlockByNumber", [toQuantity(n), true])) as RpcBlock | null;
    if (!block) continue;
    blocks.push({ number: n, timestamp: Number(block.timestamp), transactions: block.transactions.length, gasUsed: Number(block.gasUsed) });
    for (const tx of block.transactions) if (tx.to?.toLowerCase() === target) counter.add(tx.input);
  }
  return { blocks, relayed: counter.result() };
}
