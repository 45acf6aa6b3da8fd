/**
 * Watches the chain for held payments from the outside: polls the block number every few tens of
 * milliseconds and, when it moved, reads the new blocks' PaymentPaid events. Per payment id it keeps
 * the wall-clock time its hold was first seen and how many times it was paid (more than once would be
 * a payment executed twice), and it counts the batch items that failed (OperationFailed): duplicates
 * (refused as already executed, so a relayer sent an operation twice) apart from real failures. Block
 * contents are read once, after the measured window (chain-scan.ts), so the watcher's own load on the
 * chain stays one eth_blockNumber per poll and one eth_getLogs per new block range. It reads through
 * the processes' own provider (node:http, native JSON) and takes the raw answers: ethers decodes
 * response bodies with a UTF-8 decoder written in JavaScript, which on the log pages of a busy chain
 * was a fifth of the load generator's CPU, and formats every log it returns.
 */
import { Interface, type JsonRpcProvider } from "ethers";

import { HttpJsonRpcProvider } from "../../core/chain/json-rpc.js";
import { outcomeOf } from "../../core/chain/outcome.js";
import { ESCROW_OPERATION_KINDS } from "../../core/operations/index.js";
import { loadArtifact } from "../../core/protocol/artifacts.js";

/** Records holds until stopped. */
export class HoldWatcher {
  /** payment id (lower case) → Date.now() when its hold was first seen. */
  readonly holds = new Map<string, number>();
  /** payment id → PaymentPaid events seen (1 for every payment executed once). */
  readonly paidCount = new Map<string, number>();
  /** block number → Date.now() when it was first seen. */
  readonly blockSeenAt = new Map<number, number>();
  /** First block after start() (the first the watcher covers). */
  firstBlock = 0;
  /** Batch items refused as already executed (sent again by some relayer), and other failed items. */
  readonly items = { duplicate: 0, failed: 0 };
  private timer: NodeJS.Timeout | undefined;
  private last = -1;
  private busy = false;
  private readonly topic: string;
  private readonly iface = new Interface(loadArtifact("PaymentEscrow").abi);
  private readonly failedTopic: string;
  private raw: HttpJsonRpcProvider | undefined;

  constructor(
    private readonly provider: JsonRpcProvider,
    private readonly escrow: string,
    private readonly everyMs = 25,
  ) {
    const event = this.iface.getEvent("PaymentPaid");
    if (!event) throw new Error("PaymentEscrow has no PaymentPaid event");
    this.topic = event.topicHash;
    this.failedTopic = this.iface.getEvent("OperationFailed")?.topicHash ?? "";
  }

  /** Starts after the current block. */
  async start(): Promise<void> {
    const network = await this.provider.getNetwork();
    this.raw = new HttpJsonRpcProvider(this.provider._getConnection().url, network, { staticNetwork: network, batchMaxCount: 1 });
    this.last = await this.provider.getBlockNumber();
    this.firstBlock = this.last + 1;
    this.timer = setInterval(() => void this.poll(), this.everyMs);
  }

  /** The last block the watcher has read. */
  get lastBlock(): number {
    return this.last;
  }

  /** Payments paid more than once, and how many extra times. */
  executedTwice(): number {
    let extra = 0;
    for (const n of this.paidCount.values()) if (n > 1) extra += n - 1;
    return extra;
  }

  /** Stops polling after one last read, so every block mined so far is covered. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    while (this.busy) await new Promise((r) => setTimeout(r, this.everyMs));
    await this.poll();
    this.raw?.destroy();
    this.raw = undefined;
  }

  private async poll(): Promise<void> {
    const raw = this.raw;
    if (this.busy || !raw) return;
    this.busy = true;
    try {
      // Raw answers: ethers' formatting of every block number and log is the load generator's own cost.
      const latest = Number(await raw.send("eth_blockNumber", []));
      if (latest <= this.last) return;
      const seenAtMs = Date.now();
      const from = this.last + 1;
      const filter = { address: this.escrow, topics: [[this.topic, this.failedTopic]], fromBlock: `0x${from.toString(16)}`, toBlock: `0x${latest.toString(16)}` };
      const logs = (await raw.send("eth_getLogs", [filter])) as { topics: string[]; data: string }[];
      for (const log of logs) {
        if (log.topics[0] === this.failedTopic) {
          this.countFailed(log);
          continue;
        }
        const id = (log.topics[1] ?? "").toLowerCase();
        if (!this.holds.has(id)) this.holds.set(id, seenAtMs);
        this.paidCount.set(id, (this.paidCount.get(id) ?? 0) + 1);
      }
      for (let n = from; n <= latest; n++) this.blockSeenAt.set(n, seenAtMs);
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
