/**
 * Where a cycle's events come from. Cycle boundaries are chain time: cycle N holds the blocks whose
 * timestamp is in [N × length, (N + 1) × length), so every node derives the same block range from the
 * same chain whatever its own clock says. Two views of the range are built:
 * - the chain view: escrow and token logs of exactly that block range, read afresh;
 * - the store view: the node's indexed payment records (what its audit API serves).
 * A node signs only when both give the same records.
 */
import { Interface, type AbstractProvider, type Log } from "ethers";

import { SettlenetError } from "../../core/errors.js";
import { loadArtifact } from "../../core/protocol/artifacts.js";
import type { Deployment } from "../../core/protocol/deployment.js";
import type { Storage } from "../services.js";
import type { PaymentRecord } from "../../core/records.js";
import type { EventPosition, SettlementEvent } from "./records.js";

/** A cycle's place in chain time and blocks (fromBlock > toBlock when no block fell in it). */
export interface CycleWindow {
  cycleId: bigint;
  /** Inclusive start and exclusive end, unix seconds. */
  start: number;
  end: number;
  fromBlock: number;
  toBlock: number;
}

/** Payment ids per getLogs call when looking up the PaymentPaid of released payments. */
const IDS_PER_QUERY = 200;
const PAYMENT_EVENTS = ["PaymentReleased", "PaymentRefunded", "PaymentResolved", "PaymentReclaimed"] as const;
const TOKEN_EVENTS = ["Minted", "Burned"] as const;

/** Block timestamps and the first block at or after a time, with a cache (blocks never change). */
export class ChainClock {
  private readonly times = new Map<number, number>();

  constructor(private readonly provider: AbstractProvider) {}

  async timestampOf(blockNumber: number): Promise<number> {
    const known = this.times.get(blockNumber);
    if (known !== undefined) return known;
    const block = await this.provider.getBlock(blockNumber);
    if (!block) throw new SettlenetError("RPC_INCONSISTENT", `the RPC does not know block ${blockNumber}`, { blockNumber });
    this.times.set(blockNumber, block.timestamp);
    return block.timestamp;
  }

  /** The first block in [lo, hi] whose timestamp is at least `time`, or hi + 1 if none (timestamps never decrease). */
  async firstBlockAtOrAfter(time: number, lo: number, hi: number): Promise<number> {
    let low = lo;
    let high = hi + 1;
    while (low < high) {
      const mid = Math.floor((low + high) / 2);
      if ((await this.timestampOf(mid)) >= time) high = mid;
      else low = mid + 1;
    }
    return low;
  }
}

/** Reads a cycle's settlement events straight from the chain. */
export class ChainEventSource {
  private readonly escrow: Interface;
  private readonly token: Interface;

  constructor(
    private readonly deployment: Deployment,
    private readonly provider: AbstractProvider,
  ) {
    this.escrow = new Interface(loadArtifact("PaymentEscrow").abi);
    this.token = new Interface(loadArtifact("SettlementToken").abi);
  }

  async events(window: CycleWindow): Promise<SettlementEvent[]> {
    if (window.fromBlock > window.toBlock) return [];
    const range = { fromBlock: window.fromBlock, toBlock: window.toBlock };
    const escrowAddress = this.deployment.contracts.escrow;
    const topics = PAYMENT_EVENTS.map((name) => this.topic(this.escrow, name));
    const tokenAddresses = Object.values(this.deployment.tokens).map((t) => t.address);
    const tokenTopics = TOKEN_EVENTS.map((name) => this.topic(this.token, name));
    const [escrowLogs, tokenLogs] = await Promise.all([
      this.provider.getLogs({ ...range, address: escrowAddress, topics: [topics] }),
      tokenAddresses.length === 0 ? Promise.resolve([] as Log[]) : this.provider.getLogs({ ...range, address: tokenAddresses, topics: [tokenTopics] }),
    ]);
    const logs = [...escrowLogs, ...tokenLogs].filter((log) => !log.removed).sort((a, b) => a.blockNumber - b.blockNumber || a.index - b.index);

    // Released payments' parties come from their PaymentPaid, which may lie in an earlier cycle.
    const paymentIds = [...new Set(escrowLogs.map((log) => String(log.topics[1]).toLowerCase()))];
    const parties = await this.partiesOf(paymentIds, window.toBlock);

    const events: SettlementEvent[] = [];
    for (const log of logs) {
      const at: EventPosition = { blockNumber: log.blockNumber, logIndex: log.index, txHash: log.transactionHash };
      if (log.address.toLowerCase() === escrowAddress.toLowerCase()) {
        const event = this.escrow.parseLog(log);
        if (!event) continue;
        const paymentId = String(event.args.getValue("paymentId")).toLowerCase();
        const p = parties.get(paymentId);
        if (!p) throw new SettlenetError("RPC_INCONSISTENT", `no PaymentPaid for payment ${paymentId}`, { paymentId });
        const base = { paymentId, payer: p.payer, merchant: p.merchant, token: p.token, at };
        const big = (name: string) => BigInt(event.args.getValue(name) as bigint);
        if (event.name === "PaymentReleased") events.push({ type: "released", ...base, direct: p.direct, merchantAmount: big("merchantAmount"), fee: big("fee") });
        else if (event.name === "PaymentRefunded") events.push({ type: "refunded", ...base, amount: big("amount") });
        else if (event.name === "PaymentResolved") events.push({ type: "resolved", ...base, payerAmount: big("payerAmount"), merchantAmount: big("merchantAmount"), fee: big("fee") });
        else if (event.name === "PaymentReclaimed") events.push({ type: "reclaimed", ...base, amount: big("amount") });
      } else {
        const event = this.token.parseLog(log);
        if (!event) continue;
        const base = {
          token: log.address,
          custodian: String(event.args.getValue("custodian")),
          amount: BigInt(event.args.getValue("amount") as bigint),
          bankRef: String(event.args.getValue("bankRef")),
          at,
        };
        if (event.name === "Minted") events.push({ type: "minted", ...base, account: String(event.args.getValue("to")) });
        else if (event.name === "Burned") events.push({ type: "burned", ...base, account: String(event.args.getValue("from")) });
      }
    }
    return events;
  }

  private topic(iface: Interface, name: string): string {
    const event = iface.getEvent(name);
    if (!event) throw new SettlenetError("ABI_MISMATCH", `ABI lacks event ${name}`, { event: name });
    return event.topicHash;
  }

  private async partiesOf(paymentIds: string[], toBlock: number): Promise<Map<string, { payer: string; merchant: string; token: string; direct: boolean }>> {
    const parties = new Map<string, { payer: string; merchant: string; token: string; direct: boolean }>();
    const paid = this.topic(this.escrow, "PaymentPaid");
    for (let i = 0; i < paymentIds.length; i += IDS_PER_QUERY) {
      const ids = paymentIds.slice(i, i + IDS_PER_QUERY);
      const logs = await this.provider.getLogs({
        address: this.deployment.contracts.escrow,
        fromBlock: this.deployment.deploymentBlock,
        toBlock,
        topics: [paid, ids],
      });
      for (const log of logs) {
        const event = this.escrow.parseLog(log);
        if (!event || log.removed) continue;
        parties.set(String(event.args.getValue("paymentId")).toLowerCase(), {
          payer: String(event.args.getValue("payer")),
          merchant: String(event.args.getValue("merchant")),
          token: String(event.args.getValue("token")),
          direct: Boolean(event.args.getValue("direct")),
        });
      }
    }
    return parties;
  }
}

/**
 * The store view of a cycle's payment events: the indexed records of the payments the chain view
 * names plus every payment paid within the window (so a record only the store knows shows up too).
 */
export async function storeEvents(storage: Storage, window: CycleWindow, paymentIds: Iterable<string>): Promise<SettlementEvent[]> {
  const ids = new Set([...paymentIds].map((id) => id.toLowerCase()));
  let cursor: string | undefined;
  do {
    const page = await storage.payments.listByTime({ limit: 500, from: window.start, to: window.end - 1, ...(cursor ? { cursor } : {}) });
    for (const payment of page.items) ids.add(payment.paymentId.toLowerCase());
    cursor = page.next;
  } while (cursor);

  const events: SettlementEvent[] = [];
  for (const id of ids) {
    const payment = await storage.payments.get(id);
    if (payment) events.push(...paymentEvents(payment, window));
  }
  return events.sort((a, b) => a.at.blockNumber - b.at.blockNumber || a.at.logIndex - b.at.logIndex);
}

function paymentEvents(payment: PaymentRecord, window: CycleWindow): SettlementEvent[] {
  const base = { paymentId: payment.paymentId.toLowerCase(), payer: payment.payer, merchant: payment.merchant, token: payment.token };
  const events: SettlementEvent[] = [];
  for (const e of payment.events) {
    if (e.blockNumber < window.fromBlock || e.blockNumber > window.toBlock) continue;
    const at: EventPosition = { blockNumber: e.blockNumber, logIndex: e.logIndex, txHash: e.txHash };
    const big = (name: string) => BigInt(String(e.args[name] ?? "0"));
    if (e.event === "PaymentReleased") events.push({ type: "released", ...base, at, direct: payment.direct, merchantAmount: big("merchantAmount"), fee: big("fee") });
    else if (e.event === "PaymentRefunded") events.push({ type: "refunded", ...base, at, amount: big("amount") });
    else if (e.event === "PaymentResolved") events.push({ type: "resolved", ...base, at, payerAmount: big("payerAmount"), merchantAmount: big("merchantAmount"), fee: big("fee") });
    else if (e.event === "PaymentReclaimed") events.push({ type: "reclaimed", ...base, at, amount: big("amount") });
  }
  return events;
}
