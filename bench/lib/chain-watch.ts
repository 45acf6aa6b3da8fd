/**
 * Watches the chain for held payments from the outside: polls the latest block every few tens of
 * milliseconds and records, per payment id, the wall-clock time its PaymentPaid event was first seen
 * in a mined block (the on-chain hold), plus each new block's transaction count and gas, and the batch
 * items that failed (OperationFailed): duplicates (the chain refused them as already executed, so a
 * relayer sent an operation twice) apart from real failures.
 */
import { Interface, type JsonRpcProvider } from "ethers";

import { outcomeOf } from "../../core/chain/outcome.js";
import { ESCROW_OPERATION_KINDS } from "../../core/operations/index.js";
import { loadArtifact } from "../../core/protocol/artifacts.js";

export interface BlockSeen {
  number: number;
  seenAtMs: number;
  transactions: number;
  gasUsed: number;
}

/** Records holds until stopped. */
export class HoldWatcher {
  /** payment id (lower case) → Date.now() when its hold was first seen. */
  readonly holds = new Map<string, number>();
  readonly blocks: BlockSeen[] = [];
  /** Batch items refused as already executed (sent again by some relayer), and other failed items. */
  readonly items = { duplicate: 0, failed: 0 };
  private timer: NodeJS.Timeout | undefined;
  private last = -1;
  private busy = false;
  private readonly topic: string;
  private readonly iface = new Interface(loadArtifact("PaymentEscrow").abi);
  private readonly failedTopic: string;

  constructor(
    private readonly provider: JsonRpcProvider,
    private readonly escrow: string,
    private readonly everyMs = 25,
  ) {
    const event = new Interface(loadArtifact("PaymentEscrow").abi).getEvent("PaymentPaid");
    if (!event) throw new Error("PaymentEscrow has no PaymentPaid event");
    this.topic = event.topicHash;
    this.failedTopic = this.iface.getEvent("OperationFailed")?.topicHash ?? "";
  }

  /** Starts after the current block. */
  async start(): Promise<void> {
    this.last = await this.provider.getBlockNumber();
    this.timer = setInterval(() => void this.poll(), this.everyMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  private async poll(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const latest = await this.provider.getBlockNumber();
      if (latest <= this.last) return;
      const seenAtMs = Date.now();
      const from = this.last + 1;
      const logs = await this.provider.getLogs({ address: this.escrow, topics: [[this.topic, this.failedTopic]], fromBlock: from, toBlock: latest });
      for (const log of logs) {
        if (log.topics[0] === this.failedTopic) {
          this.countFailed(log);
          continue;
        }
        const id = (log.topics[1] ?? "").toLowerCase();
        if (!this.holds.has(id)) this.holds.set(id, seenAtMs);
      }
      for (let n = from; n <= latest; n++) {
        const block = await this.provider.getBlock(n);
        if (block) this.blocks.push({ number: n, seenAtMs, transactions: block.transactions.length, gasUsed: Number(block.gasUsed) });
      }
      this.last = latest;
    } catch {
      // A failed poll is retried on the next tick; the time of first sight is then a little later.
    } finally {
      this.busy = false;
    }
  }

  private countFailed(log: { topics: readonly string[]; data: string }): void {
    const parsed = this.iface.parseLog(log);
    const kind = ESCROW_OPERATION_KINDS[Number(parsed?.args.getValue("kind"))];
    const reason = String(parsed?.args.getValue("reason"));
    if (kind !== undefined && outcomeOf(kind, reason).kind === "alreadyExecuted") this.items.duplicate++;
    else this.items.failed++;
  }
}
