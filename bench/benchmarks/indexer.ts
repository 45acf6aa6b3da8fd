/**
 * indexer: CPU of the node's chain indexer per indexed pay, as a peer node meets it. The chain runs
 * as its own process (EDR JSON-RPC), so the CPU measured here (this process, `process.cpuUsage`) is
 * the indexer's: JSON-RPC answers parsed, logs decoded, payment records built, stored operations
 * settled and one synced LevelDB batch per step. Pays are signed, stored as pending operations (as a
 * peer stores gossiped ones), relayed in `executeBatch` batches, and then indexed in one `syncOnce` a
 * block per step, as a node keeping up with the chain indexes them; a quarter as many are indexed the
 * same way first, unmeasured, so that the measured ones meet compiled code, as in a running node.
 * Every stored pay must end executed; any other outcome is counted as a failure.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";

import { Network } from "ethers";
import { pino } from "pino";

import { escrowOperationSchema, toContractOperation } from "../../core/operations/index.js";
import type { StoredOperation } from "../../core/records.js";
import { HttpJsonRpcProvider } from "../../core/chain/json-rpc.js";
import { Indexer } from "../../node/indexer/indexer.js";
import { openStorage } from "../../node/storage/db.js";
import { startChainProcess } from "../../scripts/lib/launch/chain.js";
import { deployScenario } from "../../scripts/lib/launch/consortium.js";
import { signedPay } from "../lib/ops.js";
import { Progress } from "../lib/progress.js";
import { monotonicUs } from "../lib/cpu.js";
import { atMost, fmt, type BenchmarkResult } from "../lib/results.js";

/** A node's share of the ~2 ms per payment budget summed over every process (four nodes index every payment). */
const TARGET_US = 100;

export interface IndexerBenchOptions {
  /** Pays relayed and indexed. */
  payments: number;
  /** Pays per executeBatch transaction. */
  batch: number;
  /** Folder for the node's LevelDB and the chain's log (the benchmarks' data folder). */
  dataRoot: string;
}

export async function runIndexer(options: IndexerBenchOptions): Promise<BenchmarkResult> {
  const progress = new Progress("indexer");
  const started = performance.now();
  const dir = await mkdtemp(join(options.dataRoot, "settlenet-bench-indexer-"));
  const chain = await startChainProcess({ logFile: join(dir, "chain.log"), stopTimeoutMs: 10_000 });
  const storage = await openStorage(join(dir, "db"));
  try {
    const s = await deployScenario(chain, { payers: 8 });
    const ctx = { chainId: BigInt(s.deployment.chainId), escrow: s.deployment.contracts.escrow };
    const token = await s.token.getAddress();
    const merchant = s.merchants[0];
    const relayer = s.institutions[0];
    if (!merchant || !relayer) throw new Error("scenario incomplete");
    const latest = await chain.provider.getBlock("latest");
    const payDeadline = BigInt((latest?.timestamp ?? 0) + 86_400);

    const sign = (n: number) =>
      Array.from({ length: n }, (_, i) => {
        const payer = s.payers[i % s.payers.length];
        if (!payer) throw new Error("no payer");
        return signedPay({ payer, merchant: merchant.address, token, feeBps: 100 }, ctx, payDeadline);
      });
    const warmup = sign(Math.ceil(options.payments / 4));
    const pays = sign(options.payments);
    const store = async (list: typeof pays) => {
      const now = Date.now();
      const stored: StoredOperation[] = list.map(({ id, op }) => ({
        id,
        kind: "pay",
        paymentId: id,
        op,
        signer: op.terms.payer,
        origin: "gossip",
        status: "accepted",
        receivedAtMs: now,
        updatedAtMs: now,
      }));
      await storage.operations.putAccepted(stored);
    };
    const escrow = s.contracts.escrow.connect(relayer);
    const relay = async (list: typeof pays, label: string) => {
      let relayed = 0;
      for (let i = 0; i < list.length; i += options.batch) {
        const tuples = list.slice(i, i + options.batch).map(({ op }) => toContractOperation(escrowOperationSchema.parse(op)));
        await (await escrow.getFunction("executeBatch")(tuples, { gasLimit: 16_000_000 })).wait();
        relayed += tuples.length;
        progress.update(`${fmt(relayed)} / ${fmt(list.length)} ${label} pays relayed`);
      }
    };

    const owners = new Map(s.payers.map((p) => [p.address.toLowerCase(), relayer.address]));
    owners.set(merchant.address.toLowerCase(), relayer.address);
    // The provider a node gives its indexer (node/node.ts); a step per block, as a node keeping up with the chain takes them.
    const provider = new HttpJsonRpcProvider(chain.url, Network.from(ctx.chainId), { staticNetwork: true, cacheTimeout: -1 });
    const indexer = new Indexer(
      { deployment: s.deployment, pollIntervalMs: 1_000, maxBlocksPerStep: 1 },
      { provider, storage, institutionOf: (account) => owners.get(account.toLowerCase()), logger: pino({ level: "silent" }) },
    );
    // Warm-up (compiled code, caches): a quarter as many pays indexed before the measured ones.
    await store(warmup);
    await relay(warmup, "warm-up");
    await indexer.syncOnce();
    await store(pays);
    await relay(pays, "measured");
    progress.update("indexing");
    const cpuBefore = process.cpuUsage();
    const t = performance.now();
    const startUs = monotonicUs();
    await indexer.syncOnce();
    const endUs = monotonicUs();
    const elapsedMs = performance.now() - t;
    const cpu = process.cpuUsage(cpuBefore);
    await indexer.stop();
    provider.destroy();

    const settled = await storage.operations.getMany(pays.map((p) => p.id));
    const executed = settled.filter((op) => op?.status === "executed").length;
    const failed = options.payments - executed;
    const cpuMs = (cpu.user + cpu.system) / 1000;
    const perPayUs = (cpuMs * 1000) / options.payments;
    const met = atMost(perPayUs, TARGET_US) && failed === 0;
    progress.log(`${fmt(options.payments)} pays indexed: ${fmt(perPayUs)} µs CPU each, ${failed} not settled executed`);
    return {
      name: "indexer",
      rows: [
        {
          benchmark: "indexer",
          metric: "node indexer CPU per indexed pay (logs → payment record + stored operation settled, one synced batch per step)",
          value: perPayUs,
          unit: "µs",
          target: `≤ ${TARGET_US} µs`,
          met,
          notes: `${fmt(options.payments)} pays in executeBatch transactions of ${options.batch}, indexed a block per step (${fmt(elapsedMs)} ms wall, chain in its own process) after ${fmt(warmup.length)} indexed the same way to warm up; ${failed} not settled executed`,
        },
      ],
      details: {
        payments: options.payments,
        batch: options.batch,
        cpuMs,
        elapsedMs,
        executed,
        failed,
        // For bench/profile.ts --benchmark=indexer: the indexer runs in this process.
        cpu: [{ process: "indexer (this harness process)", role: "indexer", pid: process.pid, cpuSeconds: cpuMs / 1000 }],
        profileWindows: { load: { startUs, endUs, units: options.payments } },
      },
      durationSeconds: (performance.now() - started) / 1000,
    };
  } finally {
    await storage.close();
    await chain.close();
    await rm(dir, { recursive: true, force: true });
  }
}
