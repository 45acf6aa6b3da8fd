/**
 * Shared parts of the compliance tests: payments made on a real chain (signed by the scenario's
 * payers, relayed in one executeBatch so their order is the log order), chain-time control, and a
 * fresh LevelDB with an indexer that has caught up.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { hexlify, randomBytes } from "ethers";
import { pino } from "pino";

import { Indexer } from "../../../node/indexer/indexer.js";
import { escrowOperationSchema, paymentIdOf, signEscrowOperation, termsToJson, toContractOperation, type PaymentTerms } from "../../../core/operations/index.js";
import { openStorage, type NodeStorage } from "../../../node/storage/db.js";
import type { Scenario } from "../../helpers/chain.js";

export const silent = pino({ level: "silent" });
export const DAY = 86_400;

let nonce = BigInt(Date.now()) * 1_000n;

/** Latest block time of the scenario's chain. */
export async function chainNow(s: Scenario): Promise<number> {
  return (await s.chain.provider.getBlock("latest"))!.timestamp;
}

/** The next block is mined at exactly `timestamp`. */
export async function setNextBlockTime(s: Scenario, timestamp: number): Promise<void> {
  await s.chain.provider.send("evm_setNextBlockTimestamp", [timestamp]);
}

/** A chain time at the start of a future UTC day plus `offset` seconds (at least a day ahead of now). */
export async function nextDayAt(s: Scenario, offset = 3_600): Promise<number> {
  const now = await chainNow(s);
  return (Math.floor(now / DAY) + 1) * DAY + offset;
}

/**
 * Pays `amounts` from payer `payerIndex` to merchant `merchantIndex`, all in one executeBatch (one
 * block, log order = array order), optionally mined at `at`. Returns the payment ids in order.
 */
export async function pay(s: Scenario, payerIndex: number, amounts: bigint[], options: { merchantIndex?: number; at?: number } = {}): Promise<string[]> {
  const payer = s.payers[payerIndex]!;
  const merchant = s.merchants[options.merchantIndex ?? 0]!;
  const ctx = { chainId: BigInt(s.deployment.chainId), escrow: s.deployment.contracts.escrow };
  const now = BigInt(options.at ?? (await chainNow(s)));
  const ops = [];
  const ids: string[] = [];
  for (const amount of amounts) {
    nonce += 1n;
    const terms: PaymentTerms = {
      payer: payer.address,
      merchant: merchant.address,
      token: await s.token.getAddress(),
      amount,
      orderId: hexlify(randomBytes(32)),
      feeBps: 100,
      direct: false,
      payDeadline: now + BigInt(30 * DAY),
      fulfilmentPeriod: 3 * DAY,
      autoReleasePeriod: DAY,
      refundPeriod: 7 * DAY,
      nonce,
    };
    ops.push(toContractOperation(escrowOperationSchema.parse(await signEscrowOperation(payer, { kind: "pay", terms: termsToJson(terms) }, ctx))));
    ids.push(paymentIdOf(terms, ctx).toLowerCase());
  }
  if (options.at !== undefined) await setNextBlockTime(s, options.at);
  const receipt = await (await s.contracts.escrow.connect(s.institutions[0]!).executeBatch(ops)).wait();
  const paid = s.contracts.escrow.interface.getEvent("PaymentPaid").topicHash;
  if (receipt?.logs.filter((log) => log.topics[0] === paid).length !== amounts.length) throw new Error("batch did not pay every item");
  return ids;
}

/** A fresh LevelDB in a temp dir with an indexer over the scenario's chain; `cleanup` closes and removes it. */
export async function indexedStorage(s: Scenario, options: { maxBlocksPerStep?: number } = {}): Promise<{ dir: string; storage: NodeStorage; indexer: Indexer; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "settlenet-compliance-"));
  const storage = await openStorage(dir);
  const owners = new Map<string, string>();
  s.payers.forEach((p, i) => owners.set(p.address.toLowerCase(), s.institutions[i % s.institutions.length]!.address));
  s.merchants.forEach((m) => owners.set(m.address.toLowerCase(), s.institutions[0]!.address));
  const indexer = new Indexer({ deployment: s.deployment, pollIntervalMs: 100, ...options }, { provider: s.chain.provider, storage, institutionOf: (a) => owners.get(a.toLowerCase()), logger: silent });
  return {
    dir,
    storage,
    indexer,
    async cleanup() {
      await indexer.stop();
      await storage.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
